package backend

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// PluginName is the name of the backend service in a go-plugin plugin set.
const PluginName = string(plugin.KindBackend)

// GRPCPlugin is the go-plugin glue of a Backend. A host dispenses PluginName
// from a client configured with an empty GRPCPlugin and gets a Backend (the
// Base methods included) that calls the plugin.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the backend; only the serving side sets it.
	Impl Backend
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Backend service for p.Impl.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	registerServer(s, p.Impl)
	return nil
}

// GRPCClient returns a Backend that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(conn), nil
}

// Serve serves impl as a backend plugin; a backend's main calls it and
// nothing else. It returns when the host ends the plugin.
func Serve(impl Backend) {
	plugin.Serve(plugin.ServeConfig{
		Kind:       plugin.KindBackend,
		APIVersion: APIVersion,
		Impl:       impl,
		Plugin:     &GRPCPlugin{Impl: impl},
	})
}
