package cli

import (
	"context"
	"net/url"
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
