package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// auditTableLimit is how many entries "audit list" prints as a table when
// --limit is not given; --json prints all of them.
const auditTableLimit = 50

// auditEntry is the API's audit entry, as far as the table needs it.
type auditEntry struct {
	ID         int64      `json:"id"`
	Time       *time.Time `json:"time"`
	ActorKind  string     `json:"actor_kind"`
	ActorID    string     `json:"actor_id"`
	Actor      string     `json:"actor"`
	Action     string     `json:"action"`
	TargetKind string     `json:"target_kind"`
	TargetID   string     `json:"target_id"`
	SourceAddr string     `json:"source_addr"`
	Outcome    string     `json:"outcome"`
}

// actor names who acted: the name when known, else kind:id.
func (e auditEntry) actor() string {
	switch {
	case e.Actor != "":
		return e.Actor
	case e.ActorID != "":
		return e.ActorKind + ":" + e.ActorID
	default:
		return e.ActorKind
	}
}

func (e auditEntry) target() string {
	if e.TargetID == "" {
		return e.TargetKind
	}
	return e.TargetKind + ":" + e.TargetID
}

func auditListCommand() Command {
	return Command{
		Name:     "audit list",
		Synopsis: "List audit log entries, newest first",
		Usage: `Usage: restic-manager audit list [--actor A] [--action X] [--target T] [--outcome O]
                               [--since TIME] [--until TIME] [--limit N] [--json]

  List audit log entries, newest first. Needs an admin token.

Flags:
  --actor A      Only entries by this actor (user id or name).
  --action X     Only this action, such as user.create; a prefix ending in
                 "." matches a family, such as "user.".
  --target T     Only entries about this target id.
  --outcome O    Only entries that ended so: success, failure or denied.
  --since TIME   Only entries at or after TIME.
  --until TIME   Only entries before TIME.
  --limit N      Print at most N entries; 0 means all. Default: 50 for the
                 table (a note on standard error says when more exist), all
                 with --json.
  --json         Print a JSON array of entry objects instead of a table.

  TIME is an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02,
  midnight local time) or a duration meaning that long ago (24h, 90m, 7d).

` + apiFlagsHelp + `
Example:
  $ restic-manager audit list --action user. --since 7d
`,
		Run: runAuditList,
	}
}

func runAuditList(ctx context.Context, env *Env, args []string) error {
	a := newAPICmd(env, "audit list", true)
	actor := a.fs.String("actor", "", "")
	action := a.fs.String("action", "", "")
	target := a.fs.String("target", "", "")
	outcome := a.fs.String("outcome", "", "")
	since := a.fs.String("since", "", "")
	until := a.fs.String("until", "", "")
	limit := a.fs.Int("limit", 0, "")
	if _, err := a.parse(args, 0, ""); err != nil {
		return err
	}
	maxEntries, err := limitFlag(a.fs, *limit, a.asJSON)
	if err != nil {
		return err
	}
	query := url.Values{}
	switch *outcome {
	case "", "success", "failure", "denied":
	default:
		return Usagef("--outcome %q: want success, failure or denied", *outcome)
	}
	for _, f := range [][2]string{{"actor", *actor}, {"action", *action}, {"target", *target}, {"outcome", *outcome}} {
		if f[1] != "" {
			query.Set(f[0], f[1])
		}
	}
	now := time.Now()
	for _, f := range [][2]string{{"since", *since}, {"until", *until}} {
		if f[1] == "" {
			continue
		}
		t, err := parseTimeFlag(f[0], f[1], now)
		if err != nil {
			return err
		}
		query.Set(f[0], t)
	}
	return listN(ctx, a, "/audit", query, maxEntries, func(entries []auditEntry, more bool) error {
		t := newTable(env.Stdout, "ID", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "SOURCE")
		for _, e := range entries {
			t.row(strconv.FormatInt(e.ID, 10), fmtTime(e.Time), e.actor(), e.Action, e.target(), e.Outcome, e.SourceAddr)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if more {
			fmt.Fprintf(env.Stderr, "Showing the newest %d entries; there are more: narrow with --since or --action, or pass --limit 0 for all.\n", maxEntries)
		}
		return nil
	})
}

// limitFlag rejects a negative --limit the user typed and returns the
// limit to use: the table default or all for --json when none was typed.
func limitFlag(fs *flag.FlagSet, limit int, asJSON bool) (int, error) {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "limit" })
	switch {
	case set && limit < 0:
		return 0, Usagef("--limit %d: want 0 (all) or more", limit)
	case set:
		return limit, nil
	case asJSON:
		return 0, nil
	default:
		return auditTableLimit, nil
	}
}
