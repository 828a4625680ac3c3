// Command badnotifier is a notify plugin that breaks one rule of the
// conformance suite, chosen by its first argument, so that sdktest's own
// tests can check the suite notices. With "good" it breaks none.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

type notifier struct {
	mode string
	out  *os.File // os.Stdout as it was before Serve

	mu         sync.Mutex
	configured *string
}

func (n *notifier) Info(context.Context) (plugin.Info, error) {
	if n.mode == "bad-version" {
		return plugin.Info{Name: "badnotifier", PluginVersion: "dev"}, nil
	}
	return plugin.Info{Name: "badnotifier", PluginVersion: "1.0.0"}, nil
}

func (n *notifier) ConfigSchema(context.Context) (plugin.Schema, error) {
	s := plugin.Schema{Attributes: []plugin.Attribute{
		{Name: "ok", Type: plugin.TypeBool, Required: true, Description: "Whether the config is valid."},
	}}
	if n.mode == "bad-schema" {
		s.Attributes[0].Description = ""
		s.Attributes[0].Type = plugin.TypeString
	}
	return s, nil
}

func (n *notifier) Configure(_ context.Context, config []byte) error {
	if n.mode != "accept-all" && string(config) != `{"ok":true}` {
		return fmt.Errorf("not ok: %s", config)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s := string(config)
	n.configured = &s
	return nil
}

func (n *notifier) Notify(ctx context.Context, _ notify.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.mode {
	case "println":
		fmt.Println("notified")
	case "raw-stdout":
		fmt.Fprintln(n.out, "notified")
	case "panic-unconfigured":
		_ = len(*n.configured) // nil before Configure
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if n.configured == nil {
		return plugin.ErrNotConfigured
	}
	return nil
}

func main() {
	mode := "good"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if mode == "banner" {
		fmt.Println("badnotifier starting")
	}
	notify.Serve(&notifier{mode: mode, out: os.Stdout})
}
