package auth

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// PluginName is the name of the auth service in a go-plugin plugin set.
const PluginName = string(plugin.KindAuth)

// GRPCPlugin is the go-plugin glue of an Authenticator. A host dispenses
// PluginName from a client configured with an empty GRPCPlugin and gets an
// Authenticator (the Base methods included) that calls the plugin.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the authenticator; only the serving side sets it.
	Impl Authenticator
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Authenticator service for p.Impl.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	registerServer(s, p.Impl)
	return nil
}

// GRPCClient returns an Authenticator that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(conn), nil
}

// Serve serves impl as an auth plugin; an authenticator's main calls it and
// nothing else. It returns when the host ends the plugin.
func Serve(impl Authenticator) {
	plugin.Serve(plugin.ServeConfig{
		Kind:       plugin.KindAuth,
		APIVersion: APIVersion,
		Impl:       impl,
		Plugin:     &GRPCPlugin{Impl: impl},
	})
}
