package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// snapshot is the API's snapshot object.
type snapshot struct {
	ID         string     `json:"id"`
	ShortID    string     `json:"short_id"`
	Time       *time.Time `json:"time"`
	Paths      []string   `json:"paths"`
	Tags       []string   `json:"tags"`
	Hostname   string     `json:"hostname"`
	Repository string     `json:"repository"`
	Size       *uint64    `json:"size"`
}

func snapshotListCommand() Command {
	return Command{
		Name:     "snapshot list",
		Synopsis: "List a host's snapshots",
		Usage: `Usage: restic-manager snapshot list --host H [--repo N] [--json]

  List the snapshots of a host, newest first, as the server last saw them:
  the server refreshes its list after every backup, forget and prune, and
  whenever a "snapshots" job runs ("job run snapshots --host H --repo N").

Flags:
  --host H   The host, by id or name. Required.
  --repo N   Only snapshots in this repository (id or name).
  --json     Print a JSON array of snapshot objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager snapshot list --host web1 --repo offsite
  ID        TIME                       HOSTNAME  PATHS  TAGS     REPOSITORY  SIZE
  4f2a9c1e  2026-01-02T03:00:12+01:00  web1      /etc   nightly  offsite     1.2 MiB
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "snapshot list", true)
			host := a.fs.String("host", "", "")
			repo := a.fs.String("repo", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "host"); err != nil {
				return err
			}
			query := url.Values{}
			if *repo != "" {
				query.Set("repository", *repo)
			}
			return list(ctx, a, hostPath(*host)+"/snapshots", query, func(snaps []snapshot) error {
				t := newTable(env.Stdout, "ID", "TIME", "HOSTNAME", "PATHS", "TAGS", "REPOSITORY", "SIZE")
				for _, s := range snaps {
					size := ""
					if s.Size != nil {
						size = fmtBytes(*s.Size)
					}
					t.row(s.ShortID, fmtTime(s.Time), s.Hostname, strings.Join(s.Paths, ","), strings.Join(s.Tags, ","), s.Repository, size)
				}
				return t.flush()
			})
		},
	}
}

// snapshotEntry is an entry of a snapshot folder as the tree API gives it.
type snapshotEntry struct {
	Name  string     `json:"name"`
	Path  string     `json:"path"`
	Type  string     `json:"type"`
	Size  uint64     `json:"size"`
	MTime *time.Time `json:"mtime"`
	Mode  uint32     `json:"mode"`
}

// treePage is the tree API's answer: a page of a folder (200), or the
// listing's progress (202).
type treePage struct {
	Status       string            `json:"status"`
	JobID        string            `json:"job_id"`
	EntriesSoFar int64             `json:"entries_so_far"`
	Path         string            `json:"path"`
	Items        []json.RawMessage `json:"items"`
	NextCursor   string            `json:"next_cursor"`
	Total        int64             `json:"total"`
}

func snapshotLsCommand() Command {
	return Command{
		Name:     "snapshot ls",
		Synopsis: "List a folder of a snapshot",
		Usage: `Usage: restic-manager snapshot ls --host H SNAPSHOT [PATH] [--limit N] [--json]

  List the folder PATH (default "/") of a snapshot of host H: folders first,
  then everything else, each by name. SNAPSHOT is the snapshot's id or short
  id. The first time a snapshot is opened the server lists all of it once
  through the host's agent (restic ls) and keeps the listing; the command
  waits for that, showing progress on standard error, and every folder is
  read from the server's cache afterwards.

Flags:
  --host H      The host, by id or name. Required.
  --limit N     Print at most N entries (default: all of the folder).
  --timeout D   Give up waiting for the listing after D (default 30m).
  --json        Print a JSON array of entry objects (name, path, type, size,
                mtime, mode) instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager snapshot ls --host web1 4f2a9c1e /etc
  TYPE     SIZE     MTIME                      PATH
  dir               2026-01-02T02:58:01+01:00  /etc/nginx
  file     2.1 KiB  2026-01-01T11:00:00+01:00  /etc/hosts
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "snapshot ls", true)
			host := a.fs.String("host", "", "")
			limit := a.fs.Int("limit", 0, "")
			timeout := a.fs.Duration("timeout", 30*time.Minute, "")
			pos, err := ParseFlags(a.fs, args)
			if err != nil {
				return err
			}
			if len(pos) == 0 {
				return Usagef("missing the snapshot's id")
			}
			if len(pos) > 2 {
				return Usagef("unexpected argument %q", pos[2])
			}
			if err := requireFlags(a.fs, "host"); err != nil {
				return err
			}
			if *limit < 0 {
				return Usagef("--limit must be 0 (all) or more, got %d", *limit)
			}
			dir := "/"
			if len(pos) == 2 {
				dir = pos[1]
			}
			if !strings.HasPrefix(dir, "/") {
				return Usagef("PATH must be absolute (start with /), got %q", dir)
			}
			return snapshotLs(ctx, a, hostPath(*host)+"/snapshots/"+url.PathEscape(pos[0])+"/tree", dir, *limit, *timeout)
		},
	}
}

// snapshotLs pages through a folder, waiting for the listing while the
// server answers 202, and prints at most limit entries (0: all).
func snapshotLs(ctx context.Context, a *apiCmd, path, dir string, limit int, timeout time.Duration) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var raw []json.RawMessage
	after := ""
	wait := 250 * time.Millisecond
	for {
		q := url.Values{"path": {dir}, "limit": {"1000"}}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(min(1000, limit-len(raw))))
		}
		if after != "" {
			q.Set("after", after)
		}
		var p treePage
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return err
		}
		if p.Status == "listing" {
			fmt.Fprintf(a.env.Stderr, "listing the snapshot on its host (job %s): %d entries so far\n", p.JobID, p.EntriesSoFar)
			if time.Now().After(deadline) {
				return fmt.Errorf("the snapshot's listing (job %s) did not finish within %s", p.JobID, timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
			continue
		}
		raw = append(raw, p.Items...)
		if p.NextCursor == "" || (limit > 0 && len(raw) >= limit) {
			break
		}
		after = p.NextCursor
	}
	if a.asJSON {
		if raw == nil {
			raw = []json.RawMessage{}
		}
		return writeJSON(a.env.Stdout, raw)
	}
	entries, err := decodeItems[snapshotEntry](raw)
	if err != nil {
		return err
	}
	t := newTable(a.env.Stdout, "TYPE", "SIZE", "MTIME", "PATH")
	for _, e := range entries {
		size := ""
		if e.Type != "dir" {
			size = fmtBytes(e.Size)
		}
		t.row(e.Type, size, fmtTime(e.MTime), e.Path)
	}
	return t.flush()
}
