package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// diffCounts are a diff's counts by kind of change.
type diffCounts struct {
	Added           int64 `json:"added"`
	Removed         int64 `json:"removed"`
	Modified        int64 `json:"modified"`
	TypeChanged     int64 `json:"type_changed"`
	MetadataChanged int64 `json:"metadata_changed"`
	Bitrot          int64 `json:"bitrot"`
	Other           int64 `json:"other"`
	Total           int64 `json:"total"`
}

// diffChange is one changed path.
type diffChange struct {
	Path     string `json:"path"`
	Modifier string `json:"modifier"`
	Change   string `json:"change"`
}

// diffPage is the diff API's answer: the job's progress (202) or a page of
// the result (200). Stats and the snapshots stay raw so that --json
// prints them as the server wrote them.
type diffPage struct {
	Status    string          `json:"status"`
	JobID     string          `json:"job_id"`
	JobStatus string          `json:"job_status,omitempty"`
	From      json.RawMessage `json:"from,omitempty"`
	To        json.RawMessage `json:"to,omitempty"`
	Counts    *diffCounts     `json:"counts,omitempty"`
	Stats     json.RawMessage `json:"stats,omitempty"`
	Filter    string          `json:"filter"`
	Changes   []diffChange    `json:"changes"`
	Next      string          `json:"next"`
}

// diffKindWords are the kinds of change as the table prints them.
var diffKindWords = map[string]string{
	"added": "added", "removed": "removed", "modified": "modified", "type_changed": "type changed",
	"metadata_changed": "metadata changed", "bitrot": "bitrot", "other": "other",
}

func diffCommand() Command {
	return Command{
		Name:     "diff",
		Synopsis: "Compare two snapshots of a host",
		Usage: `Usage: restic-manager diff --host H FROM TO [--filter KIND] [--limit N] [--json]

  Show what changed from snapshot FROM to snapshot TO, two snapshots of host
  H in one repository (ids or short ids): how many paths were added,
  removed, modified, changed type or only metadata, and the changed paths.
  The first comparison of a pair runs "restic diff" on the host's agent;
  the command waits for it, with progress on standard error. Snapshots
  never change, so every later comparison of the pair reads the stored
  result at once.

Flags:
  --host H        The host, by id or name. Required.
  --filter KIND   Only changes of one kind: added, removed, modified,
                  type_changed, metadata_changed or bitrot.
  --limit N       Print at most N changes (default: all).
  --timeout D     Give up waiting for the diff job after D (default 30m).
  --json          Print the API's diff object (from, to, counts, stats,
                  changes, next) instead of a summary and a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager diff --host web1 4f2a9c1e 7b0d3e55
  from 4f2a9c1e (2026-01-01T03:00:12+01:00) to 7b0d3e55 (2026-01-02T03:00:09+01:00)
  1 added, 1 removed, 1 modified, 0 type changed, 0 metadata changed
  CHANGE    PATH
  added     /srv/www/new.html
  removed   /srv/www/old.html
  modified  /srv/www/index.html
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "diff", true)
			host := a.fs.String("host", "", "")
			filter := a.fs.String("filter", "", "")
			limit := a.fs.Int("limit", 0, "")
			timeout := a.fs.Duration("timeout", 30*time.Minute, "")
			pos, err := ParseFlags(a.fs, args)
			if err != nil {
				return err
			}
			switch {
			case len(pos) < 2:
				return Usagef("give two snapshots: FROM and TO")
			case len(pos) > 2:
				return Usagef("unexpected argument %q", pos[2])
			}
			if err := requireFlags(a.fs, "host"); err != nil {
				return err
			}
			if *limit < 0 {
				return Usagef("--limit must be 0 (all) or more, got %d", *limit)
			}
			if _, ok := diffKindWords[*filter]; (!ok || *filter == "other") && *filter != "" {
				return Usagef("--filter %q: want added, removed, modified, type_changed, metadata_changed or bitrot", *filter)
			}
			q := url.Values{"from": {pos[0]}, "to": {pos[1]}}
			if *filter != "" {
				q.Set("filter", *filter)
			}
			return runDiff(ctx, a, hostPath(*host)+"/diff", q, *limit, *timeout)
		},
	}
}

// runDiff waits for the diff while the server answers 202, reads its
// changes page by page up to limit (0: all) and prints them.
func runDiff(ctx context.Context, a *apiCmd, path string, q url.Values, limit int, timeout time.Duration) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	wait := 250 * time.Millisecond
	var out diffPage
	for {
		var p diffPage
		q.Set("limit", strconv.Itoa(1000))
		if limit > 0 {
			q.Set("limit", strconv.Itoa(min(1000, limit-len(out.Changes))))
		}
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return err
		}
		if p.Status == "running" {
			fmt.Fprintf(a.env.Stderr, "comparing the snapshots on the host (job %s, %s)\n", p.JobID, p.JobStatus)
			if time.Now().After(deadline) {
				return fmt.Errorf("the diff job %s did not finish within %s", p.JobID, timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
			continue
		}
		if out.Status == "" {
			out = p
		} else {
			out.Changes = append(out.Changes, p.Changes...)
			out.Next = p.Next
		}
		if p.Next == "" || (limit > 0 && len(out.Changes) >= limit) {
			break
		}
		q.Set("after", p.Next)
	}
	if out.Changes == nil {
		out.Changes = []diffChange{}
	}
	if a.asJSON {
		return writeJSON(a.env.Stdout, out)
	}
	return printDiff(a, out)
}

func printDiff(a *apiCmd, d diffPage) error {
	var from, to struct {
		ShortID string     `json:"short_id"`
		Time    *time.Time `json:"time"`
	}
	_ = json.Unmarshal(d.From, &from)
	_ = json.Unmarshal(d.To, &to)
	w := a.env.Stdout
	fmt.Fprintf(w, "from %s (%s) to %s (%s)\n", from.ShortID, fmtTime(from.Time), to.ShortID, fmtTime(to.Time))
	var n diffCounts
	if d.Counts != nil {
		n = *d.Counts
	}
	line := fmt.Sprintf("%d added, %d removed, %d modified, %d type changed, %d metadata changed",
		n.Added, n.Removed, n.Modified, n.TypeChanged, n.MetadataChanged)
	if n.Bitrot > 0 {
		line += fmt.Sprintf(", %d bitrot", n.Bitrot)
	}
	if n.Other > 0 {
		line += fmt.Sprintf(", %d other", n.Other)
	}
	fmt.Fprintln(w, line)
	if len(d.Changes) == 0 {
		return nil
	}
	t := newTable(w, "CHANGE", "PATH")
	for _, c := range d.Changes {
		word, ok := diffKindWords[c.Change]
		if !ok {
			word = c.Modifier
		}
		t.row(word, c.Path)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if d.Next != "" {
		fmt.Fprintf(a.env.Stderr, "more changes follow; raise --limit to see them\n")
	}
	return nil
}
