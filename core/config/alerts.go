package config

import (
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/alert/rule"
)

// Bounds of the alerting block.
const (
	maxRetries       = 10
	minEvaluateEvery = time.Second
	maxEvaluateEvery = time.Hour
)

// Alert is an `alert "NAME"` block: an alert rule declared in the file.
// The server creates it at start-up and keeps it as the file says; the API
// shows it as managed by the configuration and refuses to change it.
// docs/alerts.md describes the attributes; core/alert/rule checks them.
type Alert struct {
	Name           string   `hcl:"name,label"`
	On             string   `hcl:"on"`
	Channels       []string `hcl:"channels"`
	MinSeverity    string   `hcl:"min_severity,optional"`
	RepeatInterval string   `hcl:"repeat_interval,optional"`
	Enabled        *bool    `hcl:"enabled,optional"`
	Kinds          []string `hcl:"kinds,optional"`
	Hosts          []string `hcl:"hosts,optional"`
	Tags           []string `hcl:"tags,optional"`
	Repositories   []string `hcl:"repositories,optional"`
	MaxAge         string   `hcl:"max_age,optional"`
	After          string   `hcl:"after,optional"`
	Intervals      *int     `hcl:"intervals,optional"`

	DefRange  hcl.Range `hcl:",def_range"`
	NameRange hcl.Range `hcl:"name,label_range"`

	// Spec is the parsed rule; validation sets it.
	Spec rule.Spec
}

// Alerting is the optional alerting block: how the alert engine runs.
// Attributes left out keep the engine's defaults.
type Alerting struct {
	// EvaluateEvery is how often conditions that hold over time
	// (backup_stale, host_offline, repo_locked) and the channels' plugins are checked.
	EvaluateEvery string `hcl:"evaluate_every,optional"`
	// DeliveryRetries is how often a failed notification is tried again.
	DeliveryRetries *int `hcl:"delivery_retries,optional"`
	// PluginResetAfter is how long a channel's plugin given up on after
	// too many crashes stays down before it is reset (doubling for each
	// give-up in a row).
	PluginResetAfter string `hcl:"plugin_reset_after,optional"`
}

// Interval is evaluate_every, or 0 when it is not set.
func (a Alerting) Interval() time.Duration {
	d, err := rule.ParseDuration(a.EvaluateEvery)
	if err != nil {
		return 0
	}
	return d
}

// ResetAfter is plugin_reset_after, or 0 when it is not set.
func (a Alerting) ResetAfter() time.Duration {
	d, err := rule.ParseDuration(a.PluginResetAfter)
	if err != nil {
		return 0
	}
	return d
}

// Retries is delivery_retries, or -1 when it is not set.
func (a Alerting) Retries() int {
	if a.DeliveryRetries == nil {
		return -1
	}
	return *a.DeliveryRetries
}

func (a *Alert) input() rule.Input {
	return rule.Input{
		Name: a.Name, On: a.On, Channels: a.Channels, MinSeverity: a.MinSeverity, RepeatInterval: a.RepeatInterval,
		Enabled: a.Enabled, Kinds: a.Kinds, Hosts: a.Hosts, Tags: a.Tags, Repositories: a.Repositories,
		MaxAge: a.MaxAge, After: a.After, Intervals: intervals(a.Intervals),
	}
}

func intervals(n *int) int {
	if n == nil {
		return 0
	}
	if *n == 0 {
		return -1 // written as 0: out of range, not "not given"
	}
	return *n
}

// validateAlerts checks the alert blocks with the rules' own checks,
// pointing each problem at its attribute, and that every channel an alert
// names is declared by a channel block.
func (c *Config) validateAlerts(at node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	declared := make([]string, 0, len(c.Channels))
	for _, ch := range c.Channels {
		declared = append(declared, ch.Name)
	}
	seen := map[string]hcl.Range{}
	for i := range c.Alerts {
		a := &c.Alerts[i]
		blk := at.block("alert", i)
		if first, dup := seen[a.Name]; dup {
			diags = append(diags, invalid(a.NameRange, "Duplicate alert block",
				"An alert named %q is already declared at %s; each alert is declared once.", a.Name, position(first)))
		}
		seen[a.Name] = a.NameRange
		spec, err := rule.Parse(a.input())
		for _, p := range rule.Problems(err) {
			if (p.Field == rule.FieldOn || p.Field == rule.FieldChannels) && !blk.has(p.Field) {
				continue // required by the schema: decoding reported it
			}
			subject := blk.attr(p.Field)
			if p.Field == rule.FieldName {
				subject = a.NameRange
			}
			diags = append(diags, invalid(subject, "Invalid alert rule", "In alert %q, %s: %s.", a.Name, p.Field, strings.TrimSuffix(p.Message, ".")))
		}
		for _, ch := range a.Channels {
			if rule.ValidName(ch) && !slices.Contains(declared, ch) {
				known := "no channel block is declared"
				if len(declared) > 0 {
					known = "the declared channels are " + quoteList(declared)
				}
				diags = append(diags, invalid(blk.attr(rule.FieldChannels), "Unknown channel",
					"Alert %q sends to channel %q, but no channel block declares it; %s.", a.Name, ch, known))
			}
		}
		if err == nil {
			a.Spec = spec
		}
	}
	return append(diags, c.Alerting.validate(at.block("alerting", 0))...)
}

func (a *Alerting) validate(at node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if a.EvaluateEvery != "" {
		d, err := rule.ParseDuration(a.EvaluateEvery)
		switch {
		case err != nil:
			diags = append(diags, invalid(at.attr("evaluate_every"), "Invalid evaluation interval", "evaluate_every: %s.", err))
		case d < minEvaluateEvery || d > maxEvaluateEvery:
			diags = append(diags, invalid(at.attr("evaluate_every"), "Invalid evaluation interval",
				"evaluate_every must be from 1s to 1h; got %q.", a.EvaluateEvery))
		}
	}
	if a.PluginResetAfter != "" {
		d, err := rule.ParseDuration(a.PluginResetAfter)
		switch {
		case err != nil:
			diags = append(diags, invalid(at.attr("plugin_reset_after"), "Invalid plugin reset time", "plugin_reset_after: %s.", err))
		case d < time.Second || d > 24*time.Hour:
			diags = append(diags, invalid(at.attr("plugin_reset_after"), "Invalid plugin reset time",
				"plugin_reset_after must be from 1s to 24h; got %q.", a.PluginResetAfter))
		}
	}
	if n := a.Retries(); a.DeliveryRetries != nil && (n < 0 || n > maxRetries) {
		diags = append(diags, invalid(at.attr("delivery_retries"), "Invalid delivery retries",
			"delivery_retries must be a number from 0 to %d; got %d.", maxRetries, n))
	}
	return diags
}

// AlertSpecs returns the parsed rules of the alert blocks, in file order.
func (c *Config) AlertSpecs() []rule.Spec {
	out := make([]rule.Spec, 0, len(c.Alerts))
	for _, a := range c.Alerts {
		out = append(out, a.Spec)
	}
	return out
}

// has reports whether the block writes the attribute name.
func (n node) has(name string) bool {
	if n.body == nil {
		return false
	}
	_, ok := n.body.Attributes[name]
	return ok
}
