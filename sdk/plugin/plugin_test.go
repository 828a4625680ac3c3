package plugin_test

import (
	"context"
	"errors"
	"testing"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// A host that does not know a plugin's kind yet dispenses the Base plugin,
// asks for Info, and then dispenses the kind Info names.
func TestDispenseBaseThenKind(t *testing.T) {
	t.Parallel()
	mock := &notify.Mock{ConfigureFunc: func(context.Context, []byte) error {
		return errors.New("server is required")
	}}
	served := goplugin.PluginSet{
		plugin.BasePluginName: &plugin.BasePlugin{Impl: mock, Kind: plugin.KindNotify, APIVersion: notify.APIVersion},
		notify.PluginName:     &notify.GRPCPlugin{Impl: mock},
	}
	client, _ := goplugin.TestPluginGRPCConn(t, false, served)
	t.Cleanup(func() { _ = client.Close() })

	raw, err := client.Dispense(plugin.BasePluginName)
	if err != nil {
		t.Fatal(err)
	}
	base, ok := raw.(plugin.Base)
	if !ok {
		t.Fatalf("dispensed %T, want a plugin.Base", raw)
	}
	ctx := context.Background()
	info, err := base.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != plugin.KindNotify {
		t.Fatalf("Info().Kind = %q", info.Kind)
	}
	if err := plugin.CheckAPIVersion(notify.APIVersion, info.APIVersion); err != nil {
		t.Fatal(err)
	}
	err = base.Configure(ctx, []byte(`{}`))
	if !errors.Is(err, plugin.ErrInvalidConfig) || err.Error() != "invalid plugin configuration: server is required" {
		t.Errorf("Configure = %v, want the plugin's reason as an invalid configuration", err)
	}

	raw, err = client.Dispense(string(info.Kind))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.(notify.Notifier); !ok {
		t.Fatalf("dispensed %T, want a notify.Notifier", raw)
	}
}
