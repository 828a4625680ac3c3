package notify

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
	pb "github.com/restic-manager/restic-manager/sdk/notify/proto"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// client is the host side of a notify plugin.
type client struct {
	plugin.Base
	rpc pb.NotifierClient
}

var _ Notifier = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{Base: plugin.NewBaseClient(conn), rpc: pb.NewNotifierClient(conn)}
}

func (c *client) Notify(ctx context.Context, n Notification) error {
	if err := n.Validate(); err != nil {
		return err
	}
	_, err := c.rpc.Notify(ctx, &pb.NotifyRequest{Notification: notificationToProto(n)})
	return rpcerr.FromGRPC(err)
}

func notificationToProto(n Notification) *pb.Notification {
	out := &pb.Notification{
		Event:    n.Event,
		Severity: string(n.Severity),
		Title:    n.Title,
		Body:     n.Body,
		Host:     n.Host,
		Job:      n.Job,
	}
	if !n.Time.IsZero() {
		out.TimeUnixNano = n.Time.UnixNano()
	}
	for _, l := range n.Links {
		out.Links = append(out.Links, &pb.Link{Title: l.Title, Url: l.URL})
	}
	return out
}

// notificationFromProto is the inverse of notificationToProto; it lives here
// with it so that the two stay in step.
func notificationFromProto(n *pb.Notification) Notification {
	out := Notification{
		Event:    n.GetEvent(),
		Severity: Severity(n.GetSeverity()),
		Title:    n.GetTitle(),
		Body:     n.GetBody(),
		Host:     n.GetHost(),
		Job:      n.GetJob(),
	}
	if ns := n.GetTimeUnixNano(); ns != 0 {
		out.Time = time.Unix(0, ns).UTC()
	}
	for _, l := range n.GetLinks() {
		out.Links = append(out.Links, Link{Title: l.GetTitle(), URL: l.GetUrl()})
	}
	return out
}
