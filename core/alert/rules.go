package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// params is how a rule's filters and thresholds are kept in the store's
// params column.
type params struct {
	Kinds        []string `json:"kinds,omitempty"`
	Hosts        []string `json:"hosts,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	Repositories []string `json:"repositories,omitempty"`
	MaxAge       string   `json:"max_age,omitempty"`
	After        string   `json:"after,omitempty"`
	Intervals    int      `json:"intervals,omitempty"`
}

// ToStore makes the store row of a rule. id and now are used as given.
func ToStore(s rule.Spec, id string, now time.Time) store.AlertRule {
	p := params{Kinds: s.Kinds, Hosts: s.Hosts, Tags: s.Tags, Repositories: s.Repositories}
	if s.On == rule.BackupStale {
		p.MaxAge = rule.FormatDuration(s.MaxAge)
		p.Intervals = s.Intervals
	}
	if s.On == rule.HostOffline || s.On == rule.RepoLocked {
		p.After = rule.FormatDuration(s.After)
	}
	raw, _ := json.Marshal(p) // strings and lists always marshal
	return store.AlertRule{
		ID: id, Name: s.Name, Event: string(s.On), Params: raw, MinSeverity: string(s.MinSeverity),
		Channels: slices.Clone(s.Channels), Repeat: s.RepeatInterval, Enabled: s.Enabled, ManagedBy: "user", CreatedAt: now, UpdatedAt: now,
	}
}

// FromStore reads a stored rule back. A row that no longer parses (written
// by a newer version, or damaged) is an error naming the problem.
func FromStore(r store.AlertRule) (rule.Spec, error) {
	var p params
	if len(r.Params) > 0 {
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return rule.Spec{}, fmt.Errorf("alert rule %q: params: %w", r.Name, err)
		}
	}
	enabled := r.Enabled
	s, err := rule.Parse(rule.Input{
		Name: r.Name, On: r.Event, Channels: r.Channels, MinSeverity: r.MinSeverity,
		RepeatInterval: rule.FormatDuration(r.Repeat), Enabled: &enabled,
		Kinds: p.Kinds, Hosts: p.Hosts, Tags: p.Tags, Repositories: p.Repositories, MaxAge: p.MaxAge, After: p.After,
		Intervals: p.Intervals,
	})
	if err != nil {
		return rule.Spec{}, fmt.Errorf("alert rule %q: %w", r.Name, err)
	}
	return s, nil
}

// activeRule is an enabled rule as the engine evaluates it.
type activeRule struct {
	id        string
	spec      rule.Spec
	createdAt time.Time
}

// rules reads the enabled rules; one that does not parse is skipped and
// logged.
func (e *Engine) rules(ctx context.Context) []activeRule {
	rows, err := e.store.EnabledAlertRules(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading the alert rules failed", "error", err)
		}
		return nil
	}
	out := make([]activeRule, 0, len(rows))
	for _, r := range rows {
		s, err := FromStore(r)
		if err != nil {
			e.log.Warn("skipping an alert rule that does not parse", "rule", r.Name, "error", err)
			continue
		}
		out = append(out, activeRule{id: r.ID, spec: s, createdAt: r.CreatedAt})
	}
	return out
}

func rulesOn(rules []activeRule, c rule.Condition) []activeRule {
	var out []activeRule
	for _, r := range rules {
		if r.spec.On == c {
			out = append(out, r)
		}
	}
	return out
}

// notifiable reports whether an alert of severity sev reaches the rule's
// channels.
func (r activeRule) notifiable(sev notify.Severity) bool {
	return sev.Rank() >= r.spec.MinSeverity.Rank()
}

// matchHost reports whether the rule's host filters take h: its name or id
// among Hosts, and one of its tags among Tags, for the filters that are
// set.
func (r activeRule) matchHost(h store.Host) bool {
	if len(r.spec.Hosts) > 0 && !slices.Contains(r.spec.Hosts, h.ID) && !slices.Contains(r.spec.Hosts, h.Name) {
		return false
	}
	if len(r.spec.Tags) > 0 && !slices.ContainsFunc(h.Tags, func(t string) bool { return slices.Contains(r.spec.Tags, t) }) {
		return false
	}
	return true
}

// matchRepo reports whether the rule's repository filter takes the
// repository with this id and name.
func (r activeRule) matchRepo(id, name string) bool {
	if len(r.spec.Repositories) == 0 {
		return true
	}
	return (id != "" && slices.Contains(r.spec.Repositories, id)) || (name != "" && slices.Contains(r.spec.Repositories, name))
}

// ConfigStore is what SyncConfig needs of the store.
type ConfigStore interface {
	SyncConfigAlertRules(ctx context.Context, rules []store.AlertRule, now time.Time) (store.RuleSync, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) error
}

// SyncConfig makes the config-managed rules in the store exactly specs
// (the configuration file's alert blocks): created, updated, and those no
// longer declared deleted, in one transaction, with one audit entry.
func SyncConfig(ctx context.Context, st ConfigStore, specs []rule.Spec, now time.Time) (store.RuleSync, error) {
	rows := make([]store.AlertRule, 0, len(specs))
	for _, s := range specs {
		rows = append(rows, ToStore(s, auth.NewID(), now))
	}
	res, err := st.SyncConfigAlertRules(ctx, rows, now)
	if err != nil {
		return res, fmt.Errorf("sync the configuration's alert rules: %w", err)
	}
	if len(res.Created)+len(res.Updated)+len(res.Deleted)+len(res.TakenOver) == 0 {
		return res, nil
	}
	detail := map[string]any{}
	for k, v := range map[string][]string{"created": res.Created, "updated": res.Updated, "deleted": res.Deleted, "taken_over": res.TakenOver} {
		if len(v) > 0 {
			detail[k] = v
		}
	}
	err = st.AppendAudit(ctx, store.AuditEntry{
		Time: now, ActorKind: "system", ActorName: "config", Action: "alert_rule.config_sync",
		TargetKind: "alert_rule", Outcome: "success", Detail: detail,
	})
	return res, err
}
