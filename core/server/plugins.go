package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// pluginLoadTimeout bounds starting every channel's plugin at start-up.
const pluginLoadTimeout = 2 * time.Minute

// pluginIdleTimeout is how long a plugin runs without a call before it is
// stopped; the next call starts it again.
const pluginIdleTimeout = 15 * time.Minute

// Option adjusts Run.
type Option func(*runOptions)

type runOptions struct {
	builtins []pluginhost.Builtin
}

// WithBuiltinPlugins gives the server the plugins compiled into its binary
// (served by "restic-manager plugin serve NAME").
func WithBuiltinPlugins(b []pluginhost.Builtin) Option {
	return func(o *runOptions) { o.builtins = b }
}

// Plugins is the server's plugin host and the notification channels of the
// configuration, configured and ready. It is the API's PluginService.
type Plugins struct {
	Host     *pluginhost.Host
	Registry *channel.Registry
	// Stored manages the channels created through the API; nil until
	// loadStoredChannels has run (the API then refuses to change channels).
	Stored *channel.Stored
}

// LoadPlugins builds the plugin host from cfg (plugin_dir, the plugin
// blocks and builtins) and configures every channel block, which starts each
// channel's plugin once. Every problem is a diagnostic with the position of
// the block it is about. On errors the result is nil (and nothing runs).
func LoadPlugins(ctx context.Context, cfg *config.Config, builtins []pluginhost.Builtin, logger hclog.Logger) (*Plugins, hcl.Diagnostics) {
	exts := make([]pluginhost.External, 0, len(cfg.Plugins))
	for _, p := range cfg.Plugins {
		exts = append(exts, pluginhost.External{Name: p.Name, Command: p.Command, Args: p.Args, SHA256: p.SHA256})
	}
	host, err := pluginhost.New(pluginhost.Options{
		Builtins:    builtins,
		PluginDir:   cfg.Server.PluginDir,
		Externals:   exts,
		Logger:      logger,
		IdleTimeout: pluginIdleTimeout,
	})
	if err != nil {
		return nil, hostDiagnostics(cfg, err)
	}
	ctx, cancel := context.WithTimeout(ctx, pluginLoadTimeout)
	defer cancel()
	reg, diags := channel.Load(ctx, host, cfg.Channels)
	if diags.HasErrors() {
		host.Close()
		return nil, diags
	}
	return &Plugins{Host: host, Registry: reg}, diags
}

// CheckPlugins is LoadPlugins for "config validate": it reports the same
// problems and stops every plugin again.
func CheckPlugins(ctx context.Context, cfg *config.Config, builtins []pluginhost.Builtin) hcl.Diagnostics {
	p, diags := LoadPlugins(ctx, cfg, builtins, hclog.NewNullLogger())
	if p != nil {
		p.Close()
	}
	return diags
}

// hostDiagnostics turns the plugins pluginhost.New refused into
// diagnostics at their plugin blocks.
func hostDiagnostics(cfg *config.Config, err error) hcl.Diagnostics {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // splitting a join, not matching an error
		errs = joined.Unwrap()
	}
	var diags hcl.Diagnostics
	for _, e := range errs {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid plugin", Detail: e.Error() + "."}
		var pe *pluginhost.PluginError
		if errors.As(e, &pe) {
			d.Detail = fmt.Sprintf("Plugin %q cannot be used: %s.", pe.Name, strings.TrimSuffix(pe.Err.Error(), "."))
			for i := range cfg.Plugins {
				p := &cfg.Plugins[i]
				if p.Name != pe.Name {
					continue
				}
				switch pe.Field {
				case "name":
					d.Subject = p.NameRange.Ptr()
				case "command":
					d.Subject = p.CommandRange.Ptr()
				case "sha256":
					d.Subject = p.SHA256Range.Ptr()
				default:
					d.Subject = p.DefRange.Ptr()
				}
			}
		}
		diags = append(diags, d)
	}
	return diags
}

// Plugins implements api.PluginService.
func (p *Plugins) Plugins() []pluginhost.Status { return p.Host.List() }

// Channels implements api.PluginService.
func (p *Plugins) Channels() []channel.Info { return p.Registry.List() }

// TestChannel implements api.PluginService.
func (p *Plugins) TestChannel(ctx context.Context, name string) error {
	return p.Registry.Test(ctx, name)
}

// errNoStoredChannels is the error of changing channels before the stored
// ones are loaded (as in "config validate", which has no store).
var errNoStoredChannels = errors.New("channels cannot be created or changed here: the server has no store for them")

// CreateChannel implements api.ChannelService.
func (p *Plugins) CreateChannel(ctx context.Context, spec channel.Spec) (channel.Info, error) {
	if p.Stored == nil {
		return channel.Info{}, errNoStoredChannels
	}
	return p.Stored.Create(ctx, spec)
}

// UpdateChannel implements api.ChannelService.
func (p *Plugins) UpdateChannel(ctx context.Context, name string, patch channel.Patch) (channel.Info, error) {
	if p.Stored == nil {
		return channel.Info{}, errNoStoredChannels
	}
	return p.Stored.Update(ctx, name, patch)
}

// DeleteChannel implements api.ChannelService.
func (p *Plugins) DeleteChannel(ctx context.Context, name string) error {
	if p.Stored == nil {
		return errNoStoredChannels
	}
	return p.Stored.Delete(ctx, name)
}

// ChannelSchema implements api.ChannelService.
func (p *Plugins) ChannelSchema(ctx context.Context, pluginName string) (plugin.Schema, error) {
	if p.Stored == nil {
		return plugin.Schema{}, errNoStoredChannels
	}
	return p.Stored.Schema(ctx, pluginName)
}

// ChannelPlugins implements api.ChannelService.
func (p *Plugins) ChannelPlugins() []string {
	if p.Stored == nil {
		return nil
	}
	return p.Stored.NotifyPlugins()
}

// loadStoredChannels configures the channels created through the API
// (kept sealed in db) next to those of the configuration file, and stops
// their plugins again: they start on first use.
func (p *Plugins) loadStoredChannels(ctx context.Context, db channel.Store, sealer channel.Sealer, logger hclog.Logger) error {
	p.Stored = channel.NewStored(p.Registry, p.Host, db, sealer, logger)
	ctx, cancel := context.WithTimeout(ctx, pluginLoadTimeout)
	defer cancel()
	if err := p.Stored.Load(ctx); err != nil {
		return err
	}
	p.Host.StopIdle()
	logger.Info("channels ready", "channels", len(p.Registry.List()))
	return nil
}

// Close stops every plugin.
func (p *Plugins) Close() { p.Host.Close() }

// diagnosticsError makes diagnostics one error whose text names each
// problem's FILE:LINE:COL.
func diagnosticsError(diags hcl.Diagnostics) error {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + strings.TrimSuffix(d.Detail, ".")
		}
		if d.Subject != nil {
			msg = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, msg)
		}
		parts = append(parts, msg)
	}
	return fmt.Errorf("plugins: %s", strings.Join(parts, "; "))
}

// startPlugins loads the plugins and channels for Run and then stops the
// plugin processes again: they start on first use.
func startPlugins(ctx context.Context, cfg *config.Config, builtins []pluginhost.Builtin, logger hclog.Logger) (*Plugins, error) {
	p, diags := LoadPlugins(ctx, cfg, builtins, logger)
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			logger.Warn("plugin configuration", "warning", d.Summary, "detail", d.Detail)
		}
	}
	if diags.HasErrors() {
		return nil, diagnosticsError(diags)
	}
	p.Host.StopIdle()
	logger.Info("plugins ready", "plugins", len(p.Host.Names()), "channels", len(p.Registry.List()))
	return p, nil
}
