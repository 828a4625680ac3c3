package notify

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// PluginName is the name of the notify service in a go-plugin plugin set.
const PluginName = string(plugin.KindNotify)

// GRPCPlugin is the go-plugin glue of a Notifier. A host dispenses
// PluginName from a client configured with an empty GRPCPlugin and gets a
// Notifier (the Base methods included) that calls the plugin.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the notifier; only the serving side sets it.
	Impl Notifier
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Notifier service for p.Impl.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	registerServer(s, p.Impl)
	return nil
}

// GRPCClient returns a Notifier that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(conn), nil
}

// Serve serves impl as a notify plugin; a notifier's main calls it and
// nothing else. It returns when the host ends the plugin.
func Serve(impl Notifier) {
	plugin.Serve(plugin.ServeConfig{
		Kind:       plugin.KindNotify,
		APIVersion: APIVersion,
		Impl:       impl,
		Plugin:     &GRPCPlugin{Impl: impl},
	})
}
