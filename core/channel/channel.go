// Package channel keeps the server's notification channels: each channel
// block of the configuration bound to its own instance of the notify plugin
// that delivers it, configured with the block's config, ready to send.
package channel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// ManagedByConfig marks channels declared in the configuration file: they
// are read-only through the API.
const ManagedByConfig = "config"

// ErrUnknown is the error of Test and Send for a channel that does not
// exist.
var ErrUnknown = errors.New("unknown channel")

// Info describes a channel, without its configuration (which may hold
// secrets).
type Info struct {
	Name      string `json:"name"`
	Plugin    string `json:"plugin"`
	ManagedBy string `json:"managed_by"`
}

// Registry holds the channels. It is safe for concurrent use; its set of
// channels is fixed once loaded.
type Registry struct {
	byName map[string]*entry
	names  []string // sorted
}

type entry struct {
	info     Info
	notifier notify.Notifier
}

// instanceKey is the plugin instance of a channel: one process per channel,
// so each keeps its own configuration.
func instanceKey(name string) string { return "channel:" + name }

// Load binds every channel block to an instance of its plugin, decodes the
// block's config against the schema the plugin reports and hands it to the
// plugin's Configure. This starts each channel's plugin once. Every
// problem is a diagnostic pointing into the block: an unknown plugin or
// one of another kind, a plugin that cannot start, a config block that does
// not fit the schema (a typo, with a suggestion), a configuration the
// plugin rejects (with the plugin's message). On errors the registry is
// nil.
func Load(ctx context.Context, host *pluginhost.Host, channels []config.Channel) (*Registry, hcl.Diagnostics) {
	r := &Registry{byName: map[string]*entry{}}
	var diags hcl.Diagnostics
	for i := range channels {
		ch := &channels[i]
		e, chDiags := load(ctx, host, ch)
		diags = append(diags, chDiags...)
		if e != nil {
			r.byName[ch.Name] = e
			r.names = append(r.names, ch.Name)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	slices.Sort(r.names)
	return r, diags
}

func load(ctx context.Context, host *pluginhost.Host, ch *config.Channel) (*entry, hcl.Diagnostics) {
	n, err := host.Notifier(ctx, ch.Plugin, pluginhost.Instance(instanceKey(ch.Name)))
	switch {
	case errors.Is(err, pluginhost.ErrUnknownPlugin):
		known := "there are none"
		if names := host.Names(); len(names) > 0 {
			known = "the known ones are " + strings.Join(names, ", ")
		}
		return nil, diag(ch.PluginRange, "Unknown plugin",
			"No built-in plugin or plugin block is named %q; %s.", ch.Plugin, known)
	case errors.Is(err, pluginhost.ErrWrongKind):
		return nil, diag(ch.PluginRange, "Not a notify plugin",
			"A channel needs a notify plugin: %s.", err)
	case err != nil:
		return nil, diag(ch.PluginRange, "Plugin cannot start",
			"The plugin of channel %q could not be started: %s.", ch.Name, err)
	}
	schema, err := n.ConfigSchema(ctx)
	if err != nil {
		return nil, diag(ch.PluginRange, "Plugin cannot start",
			"The plugin of channel %q did not report its config schema: %s.", ch.Name, err)
	}
	js, diags := ch.DecodeConfig(schema)
	if diags.HasErrors() {
		return nil, diags
	}
	if err := n.Configure(ctx, js); err != nil {
		return nil, append(diags, diag(ch.ConfigRange(), "Plugin rejected the configuration",
			"Plugin %q rejected the configuration of channel %q: %s.", ch.Plugin, ch.Name, strings.TrimSuffix(err.Error(), "."))...)
	}
	return &entry{info: Info{Name: ch.Name, Plugin: ch.Plugin, ManagedBy: ManagedByConfig}, notifier: n}, diags
}

func diag(subject hcl.Range, summary, detail string, args ...any) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject.Ptr(),
	}}
}

// List describes the channels, sorted by name.
func (r *Registry) List() []Info {
	out := make([]Info, 0, len(r.names))
	for _, name := range r.names {
		out = append(out, r.byName[name].info)
	}
	return out
}

// Send delivers n through the channel name. The error is the plugin's own,
// or says why the plugin could not be reached.
func (r *Registry) Send(ctx context.Context, name string, n notify.Notification) error {
	e, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknown, name)
	}
	return e.notifier.Notify(ctx, n)
}

// Test sends a test notification (event "test") through the channel name,
// as `restic-manager channel test NAME` does.
func (r *Registry) Test(ctx context.Context, name string) error {
	e, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknown, name)
	}
	return e.notifier.Notify(ctx, notify.Notification{
		Event:    notify.EventTest,
		Severity: notify.SeverityInfo,
		Title:    "Test notification from restic-manager",
		Body: fmt.Sprintf("This is a test of the notification channel %q (plugin %s). If you can read it, the channel works.",
			e.info.Name, e.info.Plugin),
		Time: time.Now().UTC(),
	})
}
