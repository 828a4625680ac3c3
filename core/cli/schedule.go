package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/restic-manager/restic-manager/core/api/apijson"
)

// schedule is the API's schedule object, with how the CLI shows it.
type schedule struct {
	apijson.Schedule
}

// hook is one of the schedule's hooks in a "show" line; an admin sees the
// command, others that there is one.
func (s schedule) hook(h *apijson.Hook) string {
	if h == nil && s.HasHooks && s.PreHook == nil && s.PostHook == nil {
		return "set (shown to admins)"
	}
	return hookSummary(h)
}

func (s schedule) target() string {
	switch {
	case s.HostTag != nil:
		return "tag:" + *s.HostTag
	case s.Host != "":
		return s.Host
	case s.HostID != nil:
		return *s.HostID
	}
	return ""
}

// when is the schedule's timing in one phrase: "0 3 * * * Europe/Berlin",
// "every 6h", with its jitter.
func (s schedule) when() string {
	w := ""
	switch {
	case s.Cron != nil:
		w = *s.Cron
		if s.Timezone != "" && s.Timezone != "UTC" {
			w += " " + s.Timezone
		} else {
			w += " UTC"
		}
	case s.Every != nil:
		w = "every " + *s.Every
	}
	if s.Jitter != "" && s.Jitter != "0s" {
		w += " +" + s.Jitter + " jitter"
	}
	return w
}

func (s schedule) last() string {
	if s.LastRun == nil {
		return ""
	}
	return s.LastRun.Status + " " + fmtTime(s.LastRun.FinishedAt)
}

// retention renders the policy as restic's flags.
func (s schedule) retention() string {
	r := s.Retention
	if r == nil {
		return ""
	}
	var parts []string
	for _, k := range []struct {
		flag string
		n    int
	}{{"last", r.KeepLast}, {"hourly", r.KeepHourly}, {"daily", r.KeepDaily}, {"weekly", r.KeepWeekly}, {"monthly", r.KeepMonthly}, {"yearly", r.KeepYearly}} {
		if k.n != 0 {
			parts = append(parts, fmt.Sprintf("--keep-%s %d", k.flag, k.n))
		}
	}
	if r.KeepWithin != "" {
		parts = append(parts, "--keep-within "+r.KeepWithin)
	}
	if len(r.KeepTags) > 0 {
		parts = append(parts, "--keep-tags "+strings.Join(r.KeepTags, " "))
	}
	if r.GroupBy != "" {
		parts = append(parts, "--group-by "+r.GroupBy)
	}
	if len(parts) == 0 {
		return ""
	}
	if s.Prune {
		parts = append(parts, "--prune")
	}
	return strings.Join(parts, " ")
}

func (s schedule) fields() [][2]string {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	limits := func(v int64) string {
		if v == 0 {
			return "none"
		}
		return strconv.FormatInt(v, 10) + " KiB/s"
	}
	lastSuccess := fmtTime(s.LastSuccessAt)
	last := ""
	if s.LastRun != nil {
		last = fmt.Sprintf("%s %s (job %s)", s.LastRun.Status, fmtTime(s.LastRun.FinishedAt), s.LastRun.JobID)
		if s.LastRun.Error != "" {
			last += ": " + s.LastRun.Error
		}
	}
	return [][2]string{
		{"ID", s.ID},
		{"Name", s.Name},
		{"Hosts", s.target()},
		{"Kind", s.Kind},
		{"Repository", s.Repository},
		{"Copy to", deref(s.CopyTo)},
		{"Paths", strings.Join(s.Paths, ", ")},
		{"Excludes", strings.Join(s.Excludes, ", ")},
		{"Exclude files", strings.Join(s.ExcludeFiles, ", ")},
		{"Exclude if present", strings.Join(s.ExcludeIfPresent, ", ")},
		{"Exclude caches", yesNo(s.ExcludeCaches)},
		{"One file system", yesNo(s.OneFileSystem)},
		{"Tags", strings.Join(s.Tags, ", ")},
		{"When", s.when()},
		{"Catch up", yesNo(s.CatchUp)},
		{"Upload limit", limits(s.LimitUploadKiB)},
		{"Download limit", limits(s.LimitDownloadKiB)},
		{"Retention", s.retention()},
		{"Prune key", deref(s.PruneKey)},
		{"Pre-hook", s.hook(s.PreHook)},
		{"Post-hook", s.hook(s.PostHook)},
		{"Enabled", yesNo(s.Enabled)},
		{"Next run", fmtTime(s.NextRun)},
		{"Last run", last},
		{"Last success", lastSuccess},
		{"Stale", yesNo(s.Stale)},
		{"Managed by", s.ManagedBy},
		{"Created", fmtTime(&s.CreatedAt)},
		{"Updated", fmtTime(&s.UpdatedAt)},
	}
}

func schedulePath(idOrName string) string { return "/schedules/" + url.PathEscape(idOrName) }

func scheduleListCommand() Command {
	return Command{
		Name:     "schedule list",
		Synopsis: "List backup schedules",
		Usage: `Usage: restic-manager schedule list [--host H] [--repo N] [--json]

  List every schedule (all pages): what it backs up where, when it runs
  next (before the agent's jitter) and how its last run went.

Flags:
  --host H   Only the schedules host H runs: its own and its tags' (id or name).
  --repo N   Only the schedules backing up to repository N (id or name).
  --json     Print a JSON array of schedule objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager schedule list --host web1
  ID        NAME     HOSTS  REPOSITORY  WHEN                        NEXT RUN                   LAST RUN                             ENABLED
  3c1f...   nightly  web1   offsite     0 3 * * * Europe/Berlin     2026-03-02T03:00:00+01:00  succeeded 2026-03-01T03:04:12+01:00  yes
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "schedule list", true)
			host := a.fs.String("host", "", "")
			repo := a.fs.String("repo", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			q := url.Values{}
			if *host != "" {
				q.Set("host", *host)
			}
			if *repo != "" {
				q.Set("repository", *repo)
			}
			return list(ctx, a, "/schedules", q, func(scheds []schedule) error {
				t := newTable(env.Stdout, "ID", "NAME", "HOSTS", "REPOSITORY", "WHEN", "NEXT RUN", "LAST RUN", "ENABLED")
				for _, s := range scheds {
					enabled := "yes"
					if !s.Enabled {
						enabled = "no"
					}
					t.row(s.ID, s.Name, s.target(), s.Repository, s.when(), fmtTime(s.NextRun), s.last(), enabled)
				}
				return t.flush()
			})
		},
	}
}

func scheduleShowCommand() Command {
	return Command{
		Name:     "schedule show",
		Synopsis: "Show one backup schedule",
		Usage: `Usage: restic-manager schedule show ID|NAME [--json]

  Show everything about one schedule, with its next run (before the agent's
  jitter), its last run and its last success.

Flags:
  --json   Print the schedule object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager schedule show nightly
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "schedule show", true)
			pos, err := a.parse(args, 1, "the schedule's ID or NAME")
			if err != nil {
				return err
			}
			return get(ctx, a, schedulePath(pos[0]), func(s schedule) error {
				return writeFields(env.Stdout, s.fields())
			})
		},
	}
}

func scheduleCreateCommand() Command {
	return Command{
		Name:     "schedule create",
		Synopsis: "Create a backup schedule that a host's agent runs on its own",
		Usage: `Usage: restic-manager schedule create (--host H | --host-tag T) --repo N --path P...
                                       (--cron EXPR [--timezone TZ] | --every D) [flags]

  Create a backup schedule and print its id. The server sends it to the
  host's agent (or to every host with the tag), which keeps a copy and runs
  it by its own clock, also while the server is unreachable; runs made
  meanwhile are reported, with their whole log, when it is back. A run due
  while the schedule's previous run is still going is recorded as skipped.
  After each successful run the retention policy, if any, is applied with
  restic forget. Needs an operator token (an admin one for --prune).

Flags:
  --name N                 A name (1-64 letters, digits, '.', '_', '-');
                           made up from the host and repository if not given.
  --host H                 The host that runs it, by id or name.
  --host-tag T             Or: every host enrolled with tag T runs it.
  --repo N                 The repository to back up to, by id or name.
  --disabled               Create it switched off.
  --json                   Print the schedule object instead of its id.

` + scheduleFlagsHelp + `
` + hookFlagsHelp + `
` + apiFlagsHelp + `
Examples:
  $ restic-manager schedule create --host web1 --repo offsite --path /etc --path /srv \
      --cron "0 3 * * *" --timezone Europe/Berlin --jitter 15m \
      --keep-daily 7 --keep-weekly 4 --keep-monthly 12
  3c1f2e4a-...
  $ restic-manager schedule create --name db-hourly --host-tag db --repo main \
      --path /var/lib/postgresql --every 1h --limit-upload 2048 --keep-within 2d
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "schedule create", true)
			var f scheduleFlags
			f.register(a.fs)
			var hooks hookFlags
			hooks.register(a.fs)
			disabled := a.fs.Bool("disabled", false, "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			set := setFlags(a.fs)
			switch {
			case set["host"] == set["host-tag"]:
				return Usagef("give one of --host and --host-tag")
			case !set["repo"]:
				return Usagef("--repo is required")
			case !set["path"] && (f.kind == "" || f.kind == "backup"):
				return Usagef("--path is required (repeat it for several paths)")
			case set["cron"] == set["every"]:
				return Usagef("give one of --cron and --every")
			}
			body, err := f.body(set, nil)
			if err != nil {
				return err
			}
			if *disabled {
				body["enabled"] = false
			}
			if err := hooks.apply(set, body, nil); err != nil {
				return err
			}
			return a.send(ctx, http.MethodPost, "/schedules", body)
		},
	}
}

func scheduleUpdateCommand() Command {
	return Command{
		Name:     "schedule update",
		Synopsis: "Change a backup schedule",
		Usage: `Usage: restic-manager schedule update ID|NAME [flags]

  Change what the flags name and print the schedule's id; the agents that
  run it get the change at once (or when they reconnect). A list flag
  (--path, --exclude, --tag, ...) replaces the whole list. The retention
  flags change only the rules they name (0 or "" removes a rule). --cron
  replaces --every and the other way round; --host replaces --host-tag.
  Needs an operator token (an admin one to switch --prune on).

Flags:
  --name N, --host H, --host-tag T, --repo N   As for "schedule create".
  --enable / --disable     Switch the schedule on or off.
  --clear LIST             Empty a list or drop the retention policy:
                           exclude, exclude-file, exclude-if-present, tag,
                           retention; or remove a hook: pre-hook, post-hook
                           (admin); repeatable.
  --json                   Print the schedule object instead of its id.

` + scheduleFlagsHelp + `
` + hookFlagsHelp + `
` + apiFlagsHelp + `
Examples:
  $ restic-manager schedule update nightly --every 12h --jitter 30m
  $ restic-manager schedule update nightly --keep-daily 14 --keep-weekly 0
  $ restic-manager schedule update nightly --disable
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "schedule update", true)
			var f scheduleFlags
			f.register(a.fs)
			var hooks hookFlags
			hooks.register(a.fs)
			enable := a.fs.Bool("enable", false, "")
			disable := a.fs.Bool("disable", false, "")
			var clears StringSlice
			a.fs.Var(&clears, "clear", "")
			pos, err := a.parse(args, 1, "the schedule's ID or NAME")
			if err != nil {
				return err
			}
			set := setFlags(a.fs)
			if set["cron"] && set["every"] {
				return Usagef("give one of --cron and --every")
			}
			if set["host"] && set["host-tag"] {
				return Usagef("give one of --host and --host-tag")
			}
			if *enable && *disable {
				return Usagef("--enable and --disable exclude each other")
			}
			clearable := map[string]string{
				"exclude": "excludes", "exclude-file": "exclude_files", "exclude-if-present": "exclude_if_present",
				"tag": "tags", "retention": "retention", "pre-hook": "pre_hook", "post-hook": "post_hook",
			}
			retentionSet := slices.ContainsFunc(retentionFlags, func(k string) bool { return set[k] })
			for _, c := range clears {
				if _, ok := clearable[c]; !ok {
					return Usagef("--clear %q: want one of exclude, exclude-file, exclude-if-present, tag, retention, pre-hook, post-hook", c)
				}
				if set[c] || (c == "retention" && retentionSet) {
					return Usagef("--clear %s and the flags that set it exclude each other", c)
				}
			}
			// The retention flags change single rules: start from the
			// schedule's policy.
			// So does a lone --hook-timeout: from the schedule's hooks.
			var current map[string]any
			var currentHooks *hookPair
			if retentionSet || hooks.needsCurrent(set) {
				raw, err := a.call(ctx, http.MethodGet, schedulePath(pos[0]), nil)
				if err != nil {
					return err
				}
				var s struct {
					Retention map[string]any `json:"retention"`
					hookPair
				}
				if err := decodeObject(raw, &s); err != nil {
					return err
				}
				current, currentHooks = s.Retention, &s.hookPair
			}
			body, err := f.body(set, current)
			if err != nil {
				return err
			}
			if err := hooks.apply(set, body, currentHooks); err != nil {
				return err
			}
			for _, c := range clears {
				switch c {
				case "retention", "pre-hook", "post-hook":
					body[clearable[c]] = nil
				default:
					body[clearable[c]] = []string{}
				}
			}
			switch {
			case *enable:
				body["enabled"] = true
			case *disable:
				body["enabled"] = false
			}
			if len(body) == 0 {
				return Usagef("nothing to change: give the flags to change (see --help)")
			}
			return a.send(ctx, http.MethodPatch, schedulePath(pos[0]), body)
		},
	}
}

func scheduleDeleteCommand() Command {
	return Command{
		Name:     "schedule delete",
		Synopsis: "Delete a backup schedule",
		Usage: `Usage: restic-manager schedule delete ID|NAME

  Delete a schedule. Its agents drop it (and the repository credentials
  they kept for it) at once, or when they reconnect; its jobs and
  snapshots stay. Prints nothing on standard output. Needs an operator
  token.

` + apiFlagsHelp + `
Example:
  $ restic-manager schedule delete nightly
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "schedule delete", false)
			pos, err := a.parse(args, 1, "the schedule's ID or NAME")
			if err != nil {
				return err
			}
			return a.remove(ctx, schedulePath(pos[0]), fmt.Sprintf("Deleted schedule %q.", pos[0]))
		},
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
