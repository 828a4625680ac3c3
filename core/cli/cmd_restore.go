package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// restoreSummary is restic's restore summary (restic >= 0.16), as a
// restore job's summary carries it.
type restoreSummary struct {
	MessageType   string  `json:"message_type"`
	TotalFiles    uint64  `json:"total_files"`
	FilesRestored uint64  `json:"files_restored"`
	FilesSkipped  uint64  `json:"files_skipped"`
	TotalBytes    uint64  `json:"total_bytes"`
	BytesRestored uint64  `json:"bytes_restored"`
	BytesSkipped  uint64  `json:"bytes_skipped"`
	Seconds       float64 `json:"seconds_elapsed"`
}

func restoreCommand() Command {
	return Command{
		Name:     "restore",
		Synopsis: "Restore files of a snapshot onto a host",
		Usage: `Usage: restic-manager restore --host H --snapshot ID [--include PATH]... [flags]

  Restore files of one of a host's snapshots with restic restore, and print
  the restore job's id. Without --include the whole snapshot is restored;
  without --target the files go back to their original location. Needs an
  operator token.

Flags:
  --host H                The host whose snapshot it is, by id or name.
                          Required.
  --snapshot ID           The snapshot, by id or short id. Required.
  --include PATH          An absolute path inside the snapshot to restore;
                          repeat for several. None: everything.
  --target DIR            Restore into this absolute directory (restic puts
                          each file under DIR/its/original/path) instead of
                          the original location.
  --strip-components N    With --target: drop the first N components of
                          each restored path; the includes must share
                          them (/srv/www/a with 2 lands in DIR/a).
  --overwrite P           What to do with files that exist already: always,
                          if-changed (restic's default), if-newer, or never
                          (skip existing files).
  --to-host H2            Restore onto another host, by id or name. It
                          runs with a one-job repository key that a host
                          holding the repository's password makes and that
                          is removed when the restore ends; H2 never gets
                          the repository's password. Needs --target (give
                          --target / for the original paths).
  --dry-run               Only say what would be restored.
  --deadline D            How long the job waits for an offline host
                          (default 1h).
  --wait                  Wait for the restore to end, print what was
                          restored, and exit 0 only if it succeeded.
  --timeout D             With --wait: give up waiting after D.
  --json                  Print the job object instead of its id.

` + apiFlagsHelp + `
Examples:
  $ restic-manager restore --host web1 --snapshot 4f2a9c1e --include /etc/nginx/nginx.conf --wait
  6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11
  job 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11 succeeded (exit code 0)
  restored 1 file (2.1 KiB): 4 files and folders written, 0 skipped (0 B)
  $ restic-manager restore --host web1 --snapshot 4f2a9c1e --include /srv/www --target /tmp/www --strip-components 2
  $ restic-manager restore --host web1 --snapshot 4f2a9c1e --include /srv/www --to-host web2 --target /srv/restored
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "restore", true)
			host := a.fs.String("host", "", "")
			snap := a.fs.String("snapshot", "", "")
			var includes StringSlice
			a.fs.Var(&includes, "include", "")
			target := a.fs.String("target", "", "")
			strip := a.fs.Int("strip-components", 0, "")
			overwrite := a.fs.String("overwrite", "", "")
			toHost := a.fs.String("to-host", "", "")
			dryRun := a.fs.Bool("dry-run", false, "")
			deadline := a.fs.String("deadline", "", "")
			wait := a.fs.Bool("wait", false, "")
			timeout := a.fs.Duration("timeout", 0, "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "host", "snapshot"); err != nil {
				return err
			}
			if *strip < 0 {
				return Usagef("--strip-components: %d is negative", *strip)
			}
			if *strip > 0 && *target == "" {
				return Usagef("--strip-components needs --target: the original location keeps the full paths")
			}
			if *toHost != "" && *target == "" {
				return Usagef("--to-host needs --target: a directory on %s (or --target / for the snapshot's original paths)", *toHost)
			}
			body := map[string]any{"snapshot": *snap, "includes": []string(includes)}
			for k, v := range map[string]string{"target": *target, "overwrite": *overwrite, "to_host": *toHost, "deadline": *deadline} {
				if v != "" {
					body[k] = v
				}
			}
			if *strip > 0 {
				body["strip_components"] = *strip
			}
			if *dryRun {
				body["dry_run"] = true
			}
			raw, err := a.call(ctx, http.MethodPost, hostPath(*host)+"/restore", body)
			if err != nil {
				return err
			}
			var j job
			if err := decodeObject(raw, &j); err != nil {
				return err
			}
			if !*wait {
				if a.asJSON {
					return writeJSON(env.Stdout, raw)
				}
				_, err := fmt.Fprintln(env.Stdout, j.ID)
				return err
			}
			if !a.asJSON {
				fmt.Fprintln(env.Stdout, j.ID)
			}
			ended, endRaw, err := waitJob(ctx, a, j.ID, *timeout)
			if err != nil {
				return err
			}
			if a.asJSON {
				if err := writeJSON(env.Stdout, endRaw); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(env.Stdout, ended.outcome())
				printRestoreSummary(env.Stdout, ended)
			}
			if ended.Status != "succeeded" {
				return fmt.Errorf("%w: restore job %s %s", errJobNotSucceeded, ended.ID, ended.Status)
			}
			return nil
		},
	}
}

// printRestoreSummary prints what a finished restore restored, from
// restic's summary; restic before 0.16 writes none, and then nothing is
// printed.
func printRestoreSummary(w io.Writer, j job) {
	var s restoreSummary
	if len(j.Summary) == 0 || json.Unmarshal(j.Summary, &s) != nil || s.MessageType != "summary" {
		return
	}
	// restic counts the folders it creates among files_restored, so the
	// selection's size is total_files.
	fmt.Fprintf(w, "restored %s (%s): %d files and folders written, %d skipped (%s)\n",
		plural(int(s.TotalFiles), "file"), fmtBytes(s.TotalBytes), //nolint:gosec // a file count fits an int
		s.FilesRestored, s.FilesSkipped, fmtBytes(s.BytesSkipped))
}
