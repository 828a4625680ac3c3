package auth

import (
	"context"
	"net/url"

	"google.golang.org/grpc"

	pb "github.com/restic-manager/restic-manager/sdk/auth/proto"
	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
)

// registerServer registers impl as the Authenticator service of s.
func registerServer(s grpc.ServiceRegistrar, impl Authenticator) {
	pb.RegisterAuthenticatorServer(s, &server{impl: impl})
}

// server is the plugin side of an auth plugin.
type server struct {
	pb.UnimplementedAuthenticatorServer
	impl Authenticator
}

func (s *server) BeginLogin(ctx context.Context, req *pb.BeginLoginRequest) (*pb.BeginLoginResponse, error) {
	resp, err := s.impl.BeginLogin(ctx, BeginRequest{RedirectURL: req.GetRedirectUrl()})
	if err != nil {
		return nil, rpcerr.ToGRPC(err)
	}
	return &pb.BeginLoginResponse{AuthUrl: resp.AuthURL, State: resp.State, Session: resp.Session}, nil
}

func (s *server) CompleteLogin(ctx context.Context, req *pb.CompleteLoginRequest) (*pb.CompleteLoginResponse, error) {
	id, err := s.impl.CompleteLogin(ctx, CompleteRequest{
		RedirectURL: req.GetRedirectUrl(),
		Query:       queryFromProto(req.GetQuery()),
		State:       req.GetState(),
		Session:     req.GetSession(),
	})
	if err != nil {
		return nil, rpcerr.ToGRPC(err)
	}
	return &pb.CompleteLoginResponse{Identity: &pb.Identity{
		Subject:       id.Subject,
		Email:         id.Email,
		EmailVerified: id.EmailVerified,
		Name:          id.Name,
		Username:      id.Username,
		Groups:        id.Groups,
	}}, nil
}

func queryFromProto(q map[string]*pb.Values) url.Values {
	out := make(url.Values, len(q))
	for k, vs := range q {
		out[k] = vs.GetValues()
	}
	return out
}
