package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// BasePlugin is the go-plugin glue of the Base service: a goplugin.GRPCPlugin
// that every plugin serves under BasePluginName, whatever its kind. Hosts use
// an empty BasePlugin (VersionedPlugins adds it) and dispense BasePluginName
// to call Info before they know a plugin's kind.
type BasePlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the plugin; only the serving side sets it.
	Impl Base
	// Kind and APIVersion, when set, override what Impl's Info reports:
	// the package a plugin is served through knows them best.
	Kind       Kind
	APIVersion string
}

var _ goplugin.GRPCPlugin = (*BasePlugin)(nil)

// GRPCServer registers the Base service for p.Impl.
func (p *BasePlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	registerBaseServer(s, &baseServer{impl: p.Impl, kind: p.Kind, apiVersion: p.APIVersion})
	return nil
}

// GRPCClient returns a Base that calls the plugin over conn.
func (p *BasePlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewBaseClient(conn), nil
}
