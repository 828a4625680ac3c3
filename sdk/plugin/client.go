package plugin

import (
	"context"

	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
	pb "github.com/restic-manager/restic-manager/sdk/plugin/proto"
)

// NewBaseClient returns a Base that calls the Base service of the plugin at
// the other end of conn. The kind packages embed it in their clients.
func NewBaseClient(conn grpc.ClientConnInterface) Base {
	return &baseClient{rpc: pb.NewBaseClient(conn)}
}

// baseClient is the host side of the Base service.
type baseClient struct {
	rpc pb.BaseClient
}

var _ Base = (*baseClient)(nil)

func (c *baseClient) Info(ctx context.Context) (Info, error) {
	resp, err := c.rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, rpcerr.FromGRPC(err)
	}
	return Info{
		Name:          resp.GetName(),
		Kind:          Kind(resp.GetKind()),
		APIVersion:    resp.GetApiVersion(),
		PluginVersion: resp.GetPluginVersion(),
	}, nil
}

func (c *baseClient) ConfigSchema(ctx context.Context) (Schema, error) {
	resp, err := c.rpc.ConfigSchema(ctx, &pb.ConfigSchemaRequest{})
	if err != nil {
		return Schema{}, rpcerr.FromGRPC(err)
	}
	var s Schema
	for _, a := range resp.GetAttributes() {
		s.Attributes = append(s.Attributes, Attribute{
			Name:        a.GetName(),
			Type:        Type(a.GetType()),
			Required:    a.GetRequired(),
			Sensitive:   a.GetSensitive(),
			Description: a.GetDescription(),
		})
	}
	return s, nil
}

func (c *baseClient) Configure(ctx context.Context, config []byte) error {
	_, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Config: config})
	return rpcerr.FromGRPC(err)
}
