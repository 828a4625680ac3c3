package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/api/apijson"
)

// alertItem is the API's alert object, as far as tables need it.
type alertItem struct {
	apijson.Alert
}

// alertRuleItem is the API's alert rule object.
type alertRuleItem struct {
	apijson.AlertRule
}

// filters sums up a rule's filters and thresholds in one cell.
func (r alertRuleItem) filters() string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, name+"="+strings.Join(v, ","))
		}
	}
	add("kinds", r.Kinds)
	add("hosts", r.Hosts)
	add("tags", r.Tags)
	add("repos", r.Repositories)
	if r.MaxAge != "" {
		parts = append(parts, "max_age="+r.MaxAge)
	}
	if r.After != "" {
		parts = append(parts, "after="+r.After)
	}
	if r.Intervals > 0 {
		parts = append(parts, fmt.Sprintf("intervals=%d", r.Intervals))
	}
	return strings.Join(parts, " ")
}

const alertStatusHelp = "open, acknowledged, resolved or active (open or acknowledged)"

func alertListCommand() Command {
	return Command{
		Name:     "alert list",
		Synopsis: "List alerts",
		Usage: `Usage: restic-manager alert list [--status S] [--host H] [--rule R] [--limit N] [--json]

  List alerts, newest first (all of them unless --limit). An alert is one
  rule's condition for one host, repository or channel, from its first
  occurrence until it is resolved.

Flags:
  --status S   Only alerts with this status: ` + alertStatusHelp + `.
  --host H     Only alerts of this host (id or name): its alert history.
  --rule R     Only alerts of this rule (id or name).
  --limit N    At most N alerts.
  --json       Print a JSON array of alert objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager alert list --status active
  ID          STATUS  SEVERITY  RULE           HOST   TITLE                  CREATED               COUNT
  0c6f1a2e-…  open    critical  backup-failed  web-1  backup of web-1 failed 2026-11-26T12:00:00Z  2
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "alert list", true)
			status := a.fs.String("status", "", "")
			host := a.fs.String("host", "", "")
			rl := a.fs.String("rule", "", "")
			limit := a.fs.Int("limit", 0, "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			query := url.Values{}
			switch *status {
			case "":
			case "open", "acknowledged", "resolved", "active":
				query.Set("status", *status)
			default:
				return Usagef("--status %q: want %s", *status, alertStatusHelp)
			}
			if *host != "" {
				query.Set("host", *host)
			}
			if *rl != "" {
				query.Set("rule", *rl)
			}
			if *limit < 0 {
				return Usagef("--limit must not be negative")
			}
			return listN(ctx, a, "/alerts", query, *limit, func(alerts []alertItem, more bool) error {
				t := newTable(env.Stdout, "ID", "STATUS", "SEVERITY", "RULE", "HOST", "TITLE", "CREATED", "COUNT")
				for _, al := range alerts {
					t.row(al.ID, al.Status, al.Severity, al.Rule, al.Host, al.Title, fmtTime(&al.CreatedAt), strconv.Itoa(al.Occurrences))
				}
				if err := t.flush(); err != nil {
					return err
				}
				if more {
					fmt.Fprintf(env.Stderr, "(more alerts exist; raise --limit to see them)\n")
				}
				return nil
			})
		},
	}
}

func alertShowCommand() Command {
	return Command{
		Name:     "alert show",
		Synopsis: "Show an alert",
		Usage: `Usage: restic-manager alert show ID [--json]

  Show one alert with its text, as its notifications carried it.

Flags:
  --json   Print the alert object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager alert show 0c6f1a2e-5b3d-4c1e-9f8a-2d7e6b5a4c3b
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "alert show", true)
			pos, err := a.parse(args, 1, "the alert's ID")
			if err != nil {
				return err
			}
			return get(ctx, a, "/alerts/"+url.PathEscape(pos[0]), func(al alertItem) error {
				if err := writeFields(env.Stdout, [][2]string{
					{"ID", al.ID},
					{"Title", al.Title},
					{"Status", al.Status},
					{"Severity", al.Severity},
					{"Rule", al.Rule},
					{"Condition", al.Kind},
					{"Host", al.Host},
					{"Repository", al.Repository},
					{"Job", al.JobID},
					{"Occurrences", strconv.Itoa(al.Occurrences)},
					{"Created", fmtTime(&al.CreatedAt)},
					{"Last notified", fmtTime(al.LastNotifiedAt)},
					{"Acknowledged", byAt(al.AcknowledgedBy, al.AcknowledgedAt)},
					{"Resolved", byAt(al.ResolvedBy, al.ResolvedAt)},
				}); err != nil {
					return err
				}
				if al.Body != "" {
					fmt.Fprintf(env.Stdout, "\n%s\n", sanitizeText(al.Body))
				}
				return nil
			})
		},
	}
}

// byAt renders "who at when", or "-".
func byAt(who string, at *time.Time) string {
	if at == nil {
		return "-"
	}
	return who + " at " + fmtTime(at)
}

// sanitizeText is sanitize for text of several lines.
func sanitizeText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = sanitize(l)
	}
	return strings.Join(lines, "\n")
}

func alertChangeCommand(verb, done, synopsis, help string) Command {
	name := "alert " + verb
	return Command{
		Name:     name,
		Synopsis: synopsis,
		Usage: `Usage: restic-manager ` + name + ` ID [--json]

  ` + help + ` Prints nothing on standard output
  unless --json is given. Needs an operator or admin token.

Flags:
  --json   Print the changed alert object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager ` + name + ` 0c6f1a2e-5b3d-4c1e-9f8a-2d7e6b5a4c3b
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, name, true)
			pos, err := a.parse(args, 1, "the alert's ID")
			if err != nil {
				return err
			}
			raw, err := a.call(ctx, http.MethodPost, "/alerts/"+url.PathEscape(pos[0])+"/"+verb, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "%s alert %s.\n", done, sanitize(pos[0]))
			if a.asJSON {
				return writeJSON(env.Stdout, raw)
			}
			return nil
		},
	}
}

func alertAckCommand() Command {
	return alertChangeCommand("ack", "Acknowledged", "Acknowledge an alert",
		`Acknowledge an open alert: someone is on it. Its repeats are no longer
  notified; its resolution still is.`)
}

func alertResolveCommand() Command {
	return alertChangeCommand("resolve", "Resolved", "Resolve an alert by hand",
		`Resolve an alert by hand; no notice is sent. If its condition still
  holds, a new alert opens, quiet for the rule's repeat interval.`)
}

// ruleFlags maps a rule's fields to the flags that set them.
var ruleFlags = map[string]string{
	rule.FieldName: "--name", rule.FieldOn: "--on", rule.FieldChannels: "--channel", rule.FieldMinSeverity: "--min-severity",
	rule.FieldRepeatInterval: "--repeat-interval", rule.FieldKinds: "--kind", rule.FieldHosts: "--host", rule.FieldTags: "--tag",
	rule.FieldRepositories: "--repo", rule.FieldMaxAge: "--max-age", rule.FieldAfter: "--after",
	rule.FieldIntervals: "--intervals",
}

func alertRuleCreateCommand() Command {
	return Command{
		Name:     "alert rule create",
		Synopsis: "Create an alert rule",
		Usage: `Usage: restic-manager alert rule create --on CONDITION --channel NAME... [flags]

  Create an alert rule: when CONDITION holds, notify the channels. Prints
  the rule's id (the whole rule with --json). Needs an operator or admin
  token. docs/alerts.md describes the conditions.

Flags:
  --on CONDITION         job_failed, check_failed, backup_stale, host_offline,
                         repo_locked or plugin_failing (required).
  --channel NAME         A channel to notify; repeat for more (required).
  --name N               The rule's name. Default: the condition and the
                         channels, such as "job_failed-ops".
  --min-severity S       Notify alerts of at least this severity: info,
                         warning (default) or critical.
  --repeat-interval D    Notify repeats of an unresolved alert at most
                         this often, such as 30m or 1d. Default 1h.
  --kind K               job_failed: only jobs of this kind (backup, check,
                         forget, prune, …); repeatable. Default: every kind.
  --host H               Only this host (name or id); repeatable.
  --tag T                Only hosts with this tag; repeatable.
  --repo R               Only this repository (name or id); repeatable.
  --max-age D            backup_stale: the age after which the last
                         successful backup is stale, such as 26h (required
                         without --intervals).
  --intervals N          backup_stale: stale after N times the interval of
                         the host's backup schedule to the repository (its
                         --every, or the gap between two cron firings);
                         pairs without a schedule use --max-age, if given.
  --after D              host_offline: how long a host must be offline
                         (default 10m); repo_locked: how long a repository
                         may stay locked (default 30m).
  --disabled             Create the rule disabled.
  --json                 Print the created rule as JSON.

` + apiFlagsHelp + `
Examples:
  $ restic-manager alert rule create --on job_failed --kind backup --channel ops-mail --channel oncall-phone
  $ restic-manager alert rule create --name stale --on backup_stale --max-age 26h --channel ops-mail
  $ restic-manager alert rule create --name missed --on backup_stale --intervals 2 --channel ops-mail
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "alert rule create", true)
			name := a.fs.String("name", "", "")
			on := a.fs.String("on", "", "")
			minSev := a.fs.String("min-severity", "", "")
			repeat := a.fs.String("repeat-interval", "", "")
			maxAge := a.fs.String("max-age", "", "")
			after := a.fs.String("after", "", "")
			intervals := a.fs.Int("intervals", 0, "")
			disabled := a.fs.Bool("disabled", false, "")
			var channels, kinds, hosts, tags, repos StringSlice
			a.fs.Var(&channels, "channel", "")
			a.fs.Var(&kinds, "kind", "")
			a.fs.Var(&hosts, "host", "")
			a.fs.Var(&tags, "tag", "")
			a.fs.Var(&repos, "repo", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "on"); err != nil {
				return err
			}
			if *name == "" {
				*name = defaultRuleName(*on, channels)
			}
			enabled := !*disabled
			in := rule.Input{
				Name: *name, On: *on, Channels: channels, MinSeverity: *minSev, RepeatInterval: *repeat, Enabled: &enabled,
				Kinds: kinds, Hosts: hosts, Tags: tags, Repositories: repos, MaxAge: *maxAge, After: *after,
				Intervals: *intervals,
			}
			// The server checks the same; checking here names the flag.
			if _, err := rule.Parse(in); err != nil {
				probs := rule.Problems(err)
				msgs := make([]string, len(probs))
				for i, p := range probs {
					msgs[i] = ruleFlags[p.Field] + ": " + p.Message
				}
				return Usagef("%s", strings.Join(msgs, "; "))
			}
			body := map[string]any{
				"name": in.Name, "on": in.On, "channels": in.Channels, "enabled": enabled,
				"kinds": nonNilSlice(kinds), "hosts": nonNilSlice(hosts), "tags": nonNilSlice(tags), "repositories": nonNilSlice(repos),
			}
			for k, v := range map[string]string{"min_severity": *minSev, "repeat_interval": *repeat, "max_age": *maxAge, "after": *after} {
				if v != "" {
					body[k] = v
				}
			}
			if *intervals != 0 {
				body["intervals"] = *intervals
			}
			return a.send(ctx, http.MethodPost, "/alert-rules", body)
		},
	}
}

func nonNilSlice(s StringSlice) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// defaultRuleName names a rule by its condition and channels, cut to the
// 64 characters a name may have.
func defaultRuleName(on string, channels []string) string {
	n := strings.Join(append([]string{on}, channels...), "-")
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "-_")
	}
	return n
}

func alertRuleListCommand() Command {
	return Command{
		Name:     "alert rule list",
		Synopsis: "List alert rules",
		Usage: `Usage: restic-manager alert rule list [--json]

  List the alert rules by name (all pages). Rules MANAGED BY "config" are
  declared in the server's configuration file and change only there.

Flags:
  --json   Print a JSON array of rule objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager alert rule list
  NAME           ON          CHANNELS               MIN SEVERITY  REPEAT  ENABLED  MANAGED BY  FILTERS
  backup-failed  job_failed  ops-mail,oncall-phone  warning       1h      yes      config      kinds=backup
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "alert rule list", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			return list(ctx, a, "/alert-rules", nil, func(rules []alertRuleItem) error {
				t := newTable(env.Stdout, "NAME", "ON", "CHANNELS", "MIN SEVERITY", "REPEAT", "ENABLED", "MANAGED BY", "FILTERS", "ID")
				for _, r := range rules {
					enabled := "yes"
					if !r.Enabled {
						enabled = "no"
					}
					t.row(r.Name, r.On, strings.Join(r.Channels, ","), r.MinSeverity, r.RepeatInterval, enabled, r.ManagedBy, r.filters(), r.ID)
				}
				return t.flush()
			})
		},
	}
}

func alertRuleDeleteCommand() Command {
	return Command{
		Name:     "alert rule delete",
		Synopsis: "Delete an alert rule",
		Usage: `Usage: restic-manager alert rule delete ID|NAME

  Delete an alert rule. Its unresolved alerts are resolved (without a
  notice) and stay in the alert history. Rules declared in the
  configuration file cannot be deleted here. Needs an operator or admin
  token.

` + apiFlagsHelp + `
Example:
  $ restic-manager alert rule delete backup-failed
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "alert rule delete", false)
			pos, err := a.parse(args, 1, "the rule's ID or NAME")
			if err != nil {
				return err
			}
			return a.remove(ctx, "/alert-rules/"+url.PathEscape(pos[0]), fmt.Sprintf("Deleted alert rule %s.", sanitize(pos[0])))
		},
	}
}
