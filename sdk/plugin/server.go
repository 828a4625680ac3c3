package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
	pb "github.com/restic-manager/restic-manager/sdk/plugin/proto"
)

// registerBaseServer registers srv as the Base service of s.
func registerBaseServer(s grpc.ServiceRegistrar, srv *baseServer) {
	pb.RegisterBaseServer(s, srv)
}

// baseServer is the plugin side of the Base service.
type baseServer struct {
	pb.UnimplementedBaseServer

	impl       Base
	kind       Kind
	apiVersion string
}

func (s *baseServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, rpcerr.ToGRPC(err)
	}
	if s.kind != "" {
		info.Kind = s.kind
	}
	if s.apiVersion != "" {
		info.APIVersion = s.apiVersion
	}
	return &pb.InfoResponse{
		Name:          info.Name,
		Kind:          string(info.Kind),
		ApiVersion:    info.APIVersion,
		PluginVersion: info.PluginVersion,
	}, nil
}

func (s *baseServer) ConfigSchema(ctx context.Context, _ *pb.ConfigSchemaRequest) (*pb.ConfigSchemaResponse, error) {
	schema, err := s.impl.ConfigSchema(ctx)
	if err != nil {
		return nil, rpcerr.ToGRPC(err)
	}
	resp := &pb.ConfigSchemaResponse{Attributes: make([]*pb.Attribute, 0, len(schema.Attributes))}
	for _, a := range schema.Attributes {
		resp.Attributes = append(resp.Attributes, &pb.Attribute{
			Name:        a.Name,
			Type:        string(a.Type),
			Required:    a.Required,
			Sensitive:   a.Sensitive,
			Description: a.Description,
		})
	}
	return resp, nil
}

func (s *baseServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	config := bytes.TrimSpace(req.GetConfig())
	if len(config) == 0 {
		config = []byte("{}")
	}
	if !json.Valid(config) || config[0] != '{' {
		return nil, rpcerr.ToGRPC(fmt.Errorf("%w: not a JSON object", ErrInvalidConfig))
	}
	if err := s.impl.Configure(ctx, config); err != nil {
		return nil, rpcerr.ToGRPC(configureError(err))
	}
	return &pb.ConfigureResponse{}, nil
}

// configureError makes an error of Configure wrap ErrInvalidConfig, unless
// it is about the call rather than the configuration.
func configureError(err error) error {
	switch {
	case errors.Is(err, ErrInvalidConfig),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
}
