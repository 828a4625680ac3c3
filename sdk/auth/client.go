package auth

import (
	"context"
	"net/url"

	"google.golang.org/grpc"

	pb "github.com/restic-manager/restic-manager/sdk/auth/proto"
	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// client is the host side of an auth plugin.
type client struct {
	plugin.Base
	rpc pb.AuthenticatorClient
}

var _ Authenticator = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{Base: plugin.NewBaseClient(conn), rpc: pb.NewAuthenticatorClient(conn)}
}

func (c *client) BeginLogin(ctx context.Context, req BeginRequest) (BeginResponse, error) {
	resp, err := c.rpc.BeginLogin(ctx, &pb.BeginLoginRequest{RedirectUrl: req.RedirectURL})
	if err != nil {
		return BeginResponse{}, rpcerr.FromGRPC(err)
	}
	return BeginResponse{AuthURL: resp.GetAuthUrl(), State: resp.GetState(), Session: resp.GetSession()}, nil
}

func (c *client) CompleteLogin(ctx context.Context, req CompleteRequest) (Identity, error) {
	resp, err := c.rpc.CompleteLogin(ctx, &pb.CompleteLoginRequest{
		RedirectUrl: req.RedirectURL,
		Query:       queryToProto(req.Query),
		State:       req.State,
		Session:     req.Session,
	})
	if err != nil {
		return Identity{}, rpcerr.FromGRPC(err)
	}
	id := resp.GetIdentity()
	return Identity{
		Subject:       id.GetSubject(),
		Email:         id.GetEmail(),
		EmailVerified: id.GetEmailVerified(),
		Name:          id.GetName(),
		Username:      id.GetUsername(),
		Groups:        id.GetGroups(),
	}, nil
}

func queryToProto(q url.Values) map[string]*pb.Values {
	if q == nil {
		return nil
	}
	out := make(map[string]*pb.Values, len(q))
	for k, vs := range q {
		out[k] = &pb.Values{Values: vs}
	}
	return out
}
