package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// Plugin states, as the plugin host names them.
const (
	pluginRunning    = "running"
	pluginRestarting = "restarting"
	pluginFailed     = "failed"
)

// pluginObservation is one check of a channel's plugin.
type pluginObservation struct {
	channel string
	status  ChannelStatus
	// crashed counts the restarts since the previous check.
	crashed int
	at      time.Time
}

func channelFingerprint(name string) string { return "channel=" + name }

// watchPlugins checks every channel's plugin each EvaluateEvery: a running
// one is probed, which notices a process that died (and restarts it), and
// every restart since the previous check is reported to the engine.
func (e *Engine) watchPlugins() {
	h := e.opts.Health
	restarts := map[string]int{}
	for _, name := range h.ChannelNames() {
		if st, ok := h.ChannelStatus(name); ok {
			restarts[name] = st.Restarts
		}
	}
	resets := newResetter(e.opts.PluginResetAfter)
	t := time.NewTicker(e.opts.EvaluateEvery)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		for _, name := range h.ChannelNames() {
			st, ok := h.ChannelStatus(name)
			if !ok {
				continue
			}
			if resets.due(name, st, time.Now()) {
				st = e.resetPlugin(name, st)
			}
			if st.State == pluginRunning {
				ctx, cancel := context.WithTimeout(e.ctx, probeTimeout)
				if err := h.Probe(ctx, name); err != nil && e.ctx.Err() == nil {
					e.log.Warn("a channel's plugin did not answer its probe", "channel", name, "error", err)
				}
				cancel()
				if st, ok = h.ChannelStatus(name); !ok {
					continue
				}
			}
			obs := pluginObservation{channel: name, status: st, crashed: max(st.Restarts-restarts[name], 0), at: time.Now()}
			restarts[name] = st.Restarts
			select {
			case e.plugins <- obs:
			case <-e.ctx.Done():
				return
			}
		}
	}
}

// onPluginObservation records a check of a channel's plugin and settles
// its plugin_failing alerts.
func (e *Engine) onPluginObservation(ctx context.Context, obs pluginObservation) {
	if obs.crashed > 0 {
		e.log.Warn("a channel's plugin crashed and was restarted", "channel", obs.channel, "plugin", obs.status.Plugin,
			"restarts", obs.crashed, "error", obs.status.LastError)
	}
	if obs.crashed > 0 {
		e.crashedAt[obs.channel] = obs.at
	} else if prev, ok := e.pluginState[obs.channel]; ok && prev.crashed > 0 {
		// Keep the count of the last crash for the alert's text.
		obs.crashed = prev.crashed
	}
	e.pluginState[obs.channel] = obs
	e.evaluateChannel(ctx, obs.channel, obs.at, e.crashedAt[obs.channel].Equal(obs.at))
}

// onDelivery records a delivery's outcome: a failure marks its channel
// failing until a delivery through it succeeds.
func (e *Engine) onDelivery(ctx context.Context, d Delivery) {
	if d.Err != nil {
		e.failing[d.Channel] = fmt.Sprintf("Delivering %q through channel %s failed %s.", d.Title, d.Channel, scrub(d.Err.Error()))
		e.evaluateChannel(ctx, d.Channel, time.Now(), true)
		return
	}
	if _, was := e.failing[d.Channel]; was {
		delete(e.failing, d.Channel)
		e.evaluateChannel(ctx, d.Channel, time.Now(), false)
	}
}

// channelProblem says whether a channel is failing now, how badly and why.
func (e *Engine) channelProblem(name string) (bool, notify.Severity, string) {
	obs, seen := e.pluginState[name]
	plugin := obs.status.Plugin
	if plugin == "" {
		plugin = "its plugin"
	}
	switch {
	case seen && obs.status.State == pluginFailed:
		return true, notify.SeverityCritical, fmt.Sprintf("The plugin %s of channel %s crashed too often and is not restarted again until the server restarts: %s",
			plugin, name, scrub(obs.status.LastError))
	case seen && time.Since(e.crashedAt[name]) < e.opts.EvaluateEvery:
		// A crash counts for one full check interval, so that the report
		// and its all-clear do not arrive together.
		return true, notify.SeverityWarning, fmt.Sprintf("The plugin %s of channel %s crashed and was restarted (%d times since the check before): %s",
			plugin, name, obs.crashed, scrub(obs.status.LastError))
	case e.failing[name] != "":
		return true, notify.SeverityWarning, e.failing[name]
	case seen && obs.status.State == pluginRestarting:
		return true, notify.SeverityWarning, fmt.Sprintf("The plugin %s of channel %s crashed and restarts on its next use: %s",
			plugin, name, scrub(obs.status.LastError))
	}
	return false, "", ""
}

// evaluateChannel fires or resolves every plugin_failing rule's alert for
// the channel; event marks a new failure (a crash, a failed delivery)
// rather than one that persists. The alert goes to the rule's other
// channels.
func (e *Engine) evaluateChannel(ctx context.Context, name string, at time.Time, event bool) {
	rules := rulesOn(e.rules(ctx), rule.PluginFailing)
	if len(rules) == 0 {
		return
	}
	bad, sev, why := e.channelProblem(name)
	fp := channelFingerprint(name)
	for _, r := range rules {
		if !bad {
			e.resolveFingerprint(ctx, r, fp, fmt.Sprintf("Channel %s delivers again and its plugin runs.", name))
			continue
		}
		e.fire(ctx, r, firing{
			fingerprint: fp, severity: sev, title: fmt.Sprintf("channel %s is failing", name), body: why,
			event: event, at: at, when: at, exclude: name,
		}, nil)
	}
}

// resetter decides when a channel's plugin that was given up on is reset:
// PluginResetAfter after the give-up was first seen, doubling for every
// give-up that follows a reset without a healthy check in between.
type resetter struct {
	base, limit time.Duration
	failedAt    map[string]time.Time     // channel → when it was seen failed
	wait        map[string]time.Duration // channel → its current back-off
}

func newResetter(base time.Duration) *resetter {
	return &resetter{base: base, limit: max(base, MaxPluginResetAfter), failedAt: map[string]time.Time{}, wait: map[string]time.Duration{}}
}

// due records a check of the channel's plugin and reports whether it is
// time to reset it.
func (r *resetter) due(name string, st ChannelStatus, now time.Time) bool {
	if st.State != pluginFailed {
		delete(r.failedAt, name)
		if st.State == pluginRunning {
			delete(r.wait, name) // healthy again: the next give-up waits the base time
		}
		return false
	}
	since, seen := r.failedAt[name]
	if !seen {
		r.failedAt[name] = now
		return false
	}
	wait := r.wait[name]
	if wait == 0 {
		wait = r.base
	}
	if now.Sub(since) < wait {
		return false
	}
	delete(r.failedAt, name)
	r.wait[name] = min(2*wait, r.limit)
	return true
}

// resetPlugin resets a channel's plugin the plugin host gave up on and
// starts it with a probe; it returns the plugin's status afterwards.
func (e *Engine) resetPlugin(name string, st ChannelStatus) ChannelStatus {
	h := e.opts.Health
	e.log.Warn("resetting a channel's plugin that was given up on after too many crashes", "channel", name, "plugin", st.Plugin,
		"error", scrub(st.LastError))
	if err := h.Reset(name); err != nil {
		e.log.Error("resetting a channel's plugin failed", "channel", name, "error", err)
		return st
	}
	ctx, cancel := context.WithTimeout(e.ctx, probeTimeout)
	err := h.Probe(ctx, name)
	cancel()
	if err != nil && e.ctx.Err() == nil {
		e.log.Warn("a channel's plugin did not start after its reset", "channel", name, "error", err)
	}
	if now, ok := h.ChannelStatus(name); ok {
		return now
	}
	return st
}
