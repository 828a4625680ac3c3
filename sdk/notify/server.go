package notify

import (
	"context"

	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
	pb "github.com/restic-manager/restic-manager/sdk/notify/proto"
)

// registerServer registers impl as the Notifier service of s.
func registerServer(s grpc.ServiceRegistrar, impl Notifier) {
	pb.RegisterNotifierServer(s, &server{impl: impl})
}

// server is the plugin side of a notify plugin.
type server struct {
	pb.UnimplementedNotifierServer
	impl Notifier
}

func (s *server) Notify(ctx context.Context, req *pb.NotifyRequest) (*pb.NotifyResponse, error) {
	if err := s.impl.Notify(ctx, notificationFromProto(req.GetNotification())); err != nil {
		return nil, rpcerr.ToGRPC(err)
	}
	return &pb.NotifyResponse{}, nil
}
