// Package channel keeps the server's notification channels: each channel
// block of the configuration, and each channel created through the API
// (stored.go), bound to its own instance of the notify plugin that delivers
// it, configured with its config, ready to send.
package channel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// Who manages a channel: channels declared in the configuration file are
// read-only through the API; those created through it are stored.
const (
	ManagedByConfig = "config"
	ManagedByAPI    = "api"
)

var (
	// ErrUnknown is the error of Test and Send for a channel that does not
	// exist.
	ErrUnknown = errors.New("unknown channel")
	// ErrDisabled is the error of Test and Send for a channel that is
	// disabled.
	ErrDisabled = errors.New("channel is disabled")
)

// Info describes a channel. Its configuration's secret attributes are
// never part of it: Secrets says only which of them are set.
type Info struct {
	Name      string `json:"name"`
	Plugin    string `json:"plugin"`
	ManagedBy string `json:"managed_by"`
	Enabled   bool   `json:"enabled"`
	// Config is a stored channel's configuration without its secret
	// attributes; nil for channels of the configuration file.
	Config map[string]any `json:"config,omitempty"`
	// Secrets maps each secret attribute of the plugin's schema to whether
	// a stored channel's configuration sets it.
	Secrets map[string]bool `json:"secrets,omitempty"`
	// Error is why a stored channel could not be configured at start-up
	// (its plugin is gone, or refuses the configuration); "" when it works.
	Error     string     `json:"error,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Registry holds the channels. It is safe for concurrent use: the
// channels of the configuration are fixed once loaded, and those of the
// API come and go (stored.go).
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*entry
}

type entry struct {
	info     Info
	notifier notify.Notifier // nil when the channel could not be configured
	err      error           // why notifier is nil
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
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
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
	return &entry{info: Info{Name: ch.Name, Plugin: ch.Plugin, ManagedBy: ManagedByConfig, Enabled: true}, notifier: n}, diags
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
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Info, 0, len(r.byName))
	for _, name := range slices.Sorted(maps.Keys(r.byName)) {
		out = append(out, r.byName[name].info)
	}
	return out
}

// Get describes the channel name.
func (r *Registry) Get(name string) (Info, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byName[name]
	if !ok {
		return Info{}, false
	}
	return e.info, true
}

// usable returns the notifier of the channel name, or why it cannot send.
func (r *Registry) usable(name string) (*entry, error) {
	r.mu.RLock()
	e, ok := r.byName[name]
	r.mu.RUnlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("%w %q", ErrUnknown, name)
	case !e.info.Enabled:
		return nil, fmt.Errorf("%w: %q", ErrDisabled, name)
	case e.notifier == nil:
		return nil, fmt.Errorf("channel %q is not configured: %w", name, e.err)
	}
	return e, nil
}

// put adds or replaces a channel.
func (r *Registry) put(e *entry) {
	r.mu.Lock()
	r.byName[e.info.Name] = e
	r.mu.Unlock()
}

// remove drops a channel.
func (r *Registry) remove(name string) {
	r.mu.Lock()
	delete(r.byName, name)
	r.mu.Unlock()
}

// Send delivers n through the channel name. The error is the plugin's own,
// or says why the plugin could not be reached.
func (r *Registry) Send(ctx context.Context, name string, n notify.Notification) error {
	e, err := r.usable(name)
	if err != nil {
		return err
	}
	return e.notifier.Notify(ctx, n)
}

// Test sends a test notification (event "test") through the channel name,
// as `restic-manager channel test NAME` does.
func (r *Registry) Test(ctx context.Context, name string) error {
	e, err := r.usable(name)
	if err != nil {
		return err
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
