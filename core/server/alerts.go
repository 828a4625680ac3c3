package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/alert"
	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// startAlerts makes the store's config-managed alert rules those of the
// configuration file and starts the alert engine over the channels.
func startAlerts(ctx context.Context, cfg *config.Config, db *store.DB, plugins *Plugins, logger hclog.Logger) (*alert.Engine, error) {
	res, err := alert.SyncConfig(ctx, db, cfg.AlertSpecs(), time.Now())
	if err != nil {
		return nil, err
	}
	if len(res.TakenOver) > 0 {
		logger.Warn("alert rules made through the API are now managed by the configuration file, which declares rules of the same names",
			"rules", res.TakenOver)
	}
	logger.Info("alert rules of the configuration file", "rules", len(cfg.Alerts), "created", len(res.Created),
		"updated", len(res.Updated), "deleted", len(res.Deleted))
	warnUnknownChannels(ctx, db, plugins.Registry, logger)

	retries := cfg.Alerting.Retries()
	switch {
	case retries < 0:
		retries = 0 // not set: the engine's default
	case retries == 0:
		retries = -1 // none
	}
	e := alert.New(alert.Options{
		Store:            db,
		Channels:         channelSender{plugins.Registry},
		Health:           channelHealth{plugins},
		Logger:           logger,
		PublicURL:        cfg.Server.PublicURL,
		EvaluateEvery:    cfg.Alerting.Interval(),
		Retries:          retries,
		PluginResetAfter: cfg.Alerting.ResetAfter(),
	})
	e.Start(ctx)
	return e, nil
}

// warnUnknownChannels logs the enabled rules that name a channel the
// configuration no longer declares: their alerts to it fail (and are
// reported as plugin_failing) until the rule is changed.
func warnUnknownChannels(ctx context.Context, db *store.DB, reg *channel.Registry, logger hclog.Logger) {
	rules, err := db.EnabledAlertRules(ctx)
	if err != nil {
		logger.Warn("reading the alert rules failed", "error", err)
		return
	}
	var known []string
	for _, c := range reg.List() {
		known = append(known, c.Name)
	}
	for _, r := range rules {
		for _, c := range r.Channels {
			if !slices.Contains(known, c) {
				logger.Warn("an alert rule sends to a channel the configuration does not declare", "rule", r.Name, "channel", c)
			}
		}
	}
}

// channelSender is the channel registry as the engine's Sender.
type channelSender struct{ reg *channel.Registry }

// Send implements alert.Sender.
func (s channelSender) Send(ctx context.Context, name string, n notify.Notification) error {
	err := s.reg.Send(ctx, name, n)
	if errors.Is(err, channel.ErrUnknown) {
		return fmt.Errorf("%w: %w", alert.ErrUnknownChannel, err)
	}
	return err
}

// channelHealth is the plugin host's view of each channel's plugin.
type channelHealth struct{ p *Plugins }

// ChannelNames implements alert.ChannelHealth.
func (h channelHealth) ChannelNames() []string {
	var out []string
	for _, c := range h.p.Registry.List() {
		out = append(out, c.Name)
	}
	return out
}

// ChannelStatus implements alert.ChannelHealth.
func (h channelHealth) ChannelStatus(name string) (alert.ChannelStatus, bool) {
	plugin := ""
	for _, c := range h.p.Registry.List() {
		if c.Name == name {
			plugin = c.Plugin
		}
	}
	key := channel.PluginInstance(name)
	for _, st := range h.p.Host.List() {
		if st.Name != plugin {
			continue
		}
		for _, in := range st.Instances {
			if in.Instance == key {
				return alert.ChannelStatus{Plugin: plugin, State: string(in.State), Restarts: in.Restarts, LastError: in.LastError}, true
			}
		}
	}
	return alert.ChannelStatus{}, false
}

// Probe implements alert.ChannelHealth.
func (h channelHealth) Probe(ctx context.Context, name string) error {
	return h.p.Registry.Probe(ctx, name)
}

// Reset implements alert.ChannelHealth: it clears the failed state of
// the channel's plugin (the plugin host resets every instance of that
// plugin; those that were not failed only lose their crash history).
func (h channelHealth) Reset(name string) error {
	for _, c := range h.p.Registry.List() {
		if c.Name == name {
			return h.p.Host.Reset(c.Plugin)
		}
	}
	return fmt.Errorf("%w %q", channel.ErrUnknown, name)
}

// alertingStore is the hub's store, telling the alert engine of every job
// end and host status change as it is recorded. The engine only queues
// them, so the hub never waits for it.
type alertingStore struct {
	hub.Store
	engine *alert.Engine
}

// FinishJob implements hub.Store.
func (s alertingStore) FinishJob(ctx context.Context, id string, end store.JobEnd) error {
	err := s.Store.FinishJob(ctx, id, end)
	if err == nil {
		s.engine.JobEnded(id)
	}
	return err
}

// UpdateHostHello implements hub.Store.
func (s alertingStore) UpdateHostHello(ctx context.Context, id string, hello store.HostHello, now time.Time) error {
	err := s.Store.UpdateHostHello(ctx, id, hello, now)
	if err == nil {
		s.engine.HostChanged()
	}
	return err
}

// SetHostStatus implements hub.Store.
func (s alertingStore) SetHostStatus(ctx context.Context, id, status string, now time.Time) error {
	err := s.Store.SetHostStatus(ctx, id, status, now)
	if err == nil {
		s.engine.HostChanged()
	}
	return err
}

// MarkStaleHostsOffline implements hub.Store.
func (s alertingStore) MarkStaleHostsOffline(ctx context.Context, seenBefore, now time.Time) (int64, error) {
	n, err := s.Store.MarkStaleHostsOffline(ctx, seenBefore, now)
	if n > 0 {
		s.engine.HostChanged()
	}
	return n, err
}
