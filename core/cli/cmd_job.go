package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// jobKindsHelp lists what "job run" takes.
const jobKindsHelp = "init, backup, snapshots, forget, prune, check, unlock, stats, ls, copy"

// job is the API's job object, as far as the CLI shows it.
type job struct {
	ID           string          `json:"id"`
	HostID       string          `json:"host_id"`
	Host         string          `json:"host"`
	Kind         string          `json:"kind"`
	Status       string          `json:"status"`
	Repository   string          `json:"repository"`
	RepositoryID string          `json:"repository_id"`
	ScheduleID   *string         `json:"schedule_id"`
	CreatedBy    string          `json:"created_by"`
	CreatedAt    *time.Time      `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at"`
	FinishedAt   *time.Time      `json:"finished_at"`
	Deadline     *time.Time      `json:"deadline"`
	ExitCode     *int            `json:"exit_code"`
	Error        string          `json:"error"`
	Summary      json.RawMessage `json:"summary"`
}

func jobEnded(status string) bool {
	switch status {
	case "succeeded", "failed", "cancelled", "skipped":
		return true
	}
	return false
}

func (j job) host() string {
	if j.Host != "" {
		return j.Host
	}
	return j.HostID
}

func (j job) exit() string {
	if j.ExitCode == nil {
		return ""
	}
	return strconv.Itoa(*j.ExitCode)
}

// duration is how long the job ran (so far).
func (j job) duration(now time.Time) string {
	if j.StartedAt == nil {
		return ""
	}
	end := now
	if j.FinishedAt != nil {
		end = *j.FinishedAt
	}
	return end.Sub(*j.StartedAt).Round(time.Second).String()
}

func (j job) fields(now time.Time) [][2]string {
	schedule := ""
	if j.ScheduleID != nil {
		schedule = *j.ScheduleID
	}
	summary := ""
	if s := strings.TrimSpace(string(j.Summary)); s != "" && s != "null" {
		summary = s
	}
	return [][2]string{
		{"ID", j.ID},
		{"Host", j.host()},
		{"Kind", j.Kind},
		{"Status", j.Status},
		{"Repository", j.Repository},
		{"Schedule", schedule},
		{"Created", fmtTime(j.CreatedAt)},
		{"Started", fmtTime(j.StartedAt)},
		{"Finished", fmtTime(j.FinishedAt)},
		{"Duration", j.duration(now)},
		{"Deadline", fmtTime(j.Deadline)},
		{"Exit code", j.exit()},
		{"Error", j.Error},
		{"Summary", summary},
	}
}

// outcome is the one line that says how a job ended.
func (j job) outcome() string {
	s := fmt.Sprintf("job %s %s", j.ID, j.Status)
	if j.ExitCode != nil {
		s += fmt.Sprintf(" (exit code %d)", *j.ExitCode)
	}
	if j.Error != "" {
		s += ": " + sanitize(j.Error)
	}
	return s
}

func jobPath(id string) string { return "/jobs/" + url.PathEscape(id) }

// runFlags are the flags of "job run" that become the request.
type runFlags struct {
	host, repo, deadline, params        string
	paths, excludes, tags               StringSlice
	limitUpload, limitDownload          int64
	keepLast, keepHourly, keepDaily     int
	keepWeekly, keepMonthly, keepYearly int
	keepWithin, readDataSubset          string
	groupBy, toRepo, mode, snapshotHost string
	prune, dryRun, wait                 bool
	keepTags, snapshots                 StringSlice
	waitTimeout                         time.Duration
}

func (f *runFlags) register(a *apiCmd) {
	fs := a.fs
	fs.StringVar(&f.host, "host", "", "")
	fs.StringVar(&f.repo, "repo", "", "")
	fs.Var(&f.paths, "path", "")
	fs.Var(&f.excludes, "exclude", "")
	fs.Var(&f.tags, "tag", "")
	fs.Int64Var(&f.limitUpload, "limit-upload", 0, "")
	fs.Int64Var(&f.limitDownload, "limit-download", 0, "")
	fs.StringVar(&f.deadline, "deadline", "", "")
	fs.StringVar(&f.params, "params", "", "")
	fs.IntVar(&f.keepLast, "keep-last", 0, "")
	fs.IntVar(&f.keepHourly, "keep-hourly", 0, "")
	fs.IntVar(&f.keepDaily, "keep-daily", 0, "")
	fs.IntVar(&f.keepWeekly, "keep-weekly", 0, "")
	fs.IntVar(&f.keepMonthly, "keep-monthly", 0, "")
	fs.IntVar(&f.keepYearly, "keep-yearly", 0, "")
	fs.StringVar(&f.keepWithin, "keep-within", "", "")
	fs.Var(&f.keepTags, "keep-tag", "")
	fs.StringVar(&f.groupBy, "group-by", "", "")
	fs.StringVar(&f.toRepo, "to-repo", "", "")
	fs.StringVar(&f.mode, "mode", "", "")
	fs.StringVar(&f.snapshotHost, "snapshot-host", "", "")
	fs.BoolVar(&f.prune, "prune", false, "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.Var(&f.snapshots, "snapshot", "")
	fs.StringVar(&f.readDataSubset, "read-data-subset", "", "")
	fs.BoolVar(&f.wait, "wait", false, "")
	fs.DurationVar(&f.waitTimeout, "timeout", 0, "")
}

// body builds the POST /hosts/{id}/jobs request: the common fields at the
// top level, the kind-specific ones in params (merged over --params).
func (f *runFlags) body(kind string) (map[string]any, error) {
	params := map[string]any{}
	if f.params != "" {
		if err := json.Unmarshal([]byte(f.params), &params); err != nil {
			return nil, Usagef("--params: not a JSON object: %v", err)
		}
	}
	retention := map[string]any{}
	for name, v := range map[string]int{
		"keep_last": f.keepLast, "keep_hourly": f.keepHourly, "keep_daily": f.keepDaily,
		"keep_weekly": f.keepWeekly, "keep_monthly": f.keepMonthly, "keep_yearly": f.keepYearly,
	} {
		if v < 0 {
			return nil, Usagef("--%s must not be negative", strings.ReplaceAll(name, "_", "-"))
		}
		if v > 0 {
			retention[name] = v
		}
	}
	if f.keepWithin != "" {
		retention["keep_within"] = f.keepWithin
	}
	if len(f.keepTags) > 0 {
		retention["keep_tags"] = []string(f.keepTags)
	}
	if f.groupBy != "" {
		retention["group_by"] = f.groupBy
	}
	if len(retention) > 0 {
		params["retention"] = retention
	}
	if err := f.repoCareParams(params); err != nil {
		return nil, err
	}
	if f.prune {
		params["prune"] = true
	}
	if f.dryRun {
		params["dry_run"] = true
	}
	if len(f.snapshots) > 0 {
		params["snapshots"] = []string(f.snapshots)
	}
	if f.readDataSubset != "" {
		params["read_data_subset"] = f.readDataSubset
	}
	if f.limitUpload < 0 || f.limitDownload < 0 {
		return nil, Usagef("--limit-upload and --limit-download take KiB/s, 0 or more")
	}
	body := map[string]any{"kind": kind, "repository": f.repo}
	if len(f.paths) > 0 {
		body["paths"] = []string(f.paths)
	}
	if len(f.excludes) > 0 {
		body["excludes"] = []string(f.excludes)
	}
	if len(f.tags) > 0 {
		body["tags"] = []string(f.tags)
	}
	if f.limitUpload > 0 {
		body["limit_upload_kib"] = f.limitUpload
	}
	if f.limitDownload > 0 {
		body["limit_download_kib"] = f.limitDownload
	}
	if f.deadline != "" {
		body["deadline"] = f.deadline
	}
	if len(params) > 0 {
		body["params"] = params
	}
	return body, nil
}

func jobRunCommand() Command {
	return Command{
		Name:     "job run",
		Synopsis: "Run a restic job on a host now",
		Usage: `Usage: restic-manager job run KIND --host H --repo N [flags]

  Run a job on a host: ` + jobKindsHelp + `. Prints the job's id; follow
  it with "job logs -f ID" and wait for it with "job wait ID". An online
  host gets the job at once; an offline one when its agent connects, until
  the deadline. prune, and forget with --prune, need an admin token.

Flags:
  --host H               The host, by id or name. Required.
  --repo N               The repository, by id or name. Required.
  --path P               A path to back up (absolute); repeat for several.
                         A backup needs at least one. For snapshots, stats
                         and forget: only snapshots of this path.
  --exclude X            An exclude pattern (backup); repeatable.
  --tag T                A tag for the snapshot (backup), or a filter
                         (snapshots, stats, forget); repeatable.
  --limit-upload KiB     Upload limit in KiB/s (0: none).
  --limit-download KiB   Download limit in KiB/s (0: none).
  --keep-last N, --keep-hourly N, --keep-daily N, --keep-weekly N,
  --keep-monthly N, --keep-yearly N, --keep-within D, --keep-tag T
                         The retention policy of a forget.
  --group-by G           forget: group snapshots by host, paths and/or tags
                         (comma list; default host,paths).
  --prune                forget: prune afterwards (admin).
  --dry-run              backup, forget, prune: only say what would happen.
                         A forget --dry-run waits for the job and prints
                         the plan: per group, what would be kept (and by
                         which rule) and what removed.
  --snapshot ID          ls: the snapshot to list; copy, stats: a snapshot
                         (repeatable; "latest" works; none: all).
  --snapshot-host H      snapshots, stats, forget, copy: only snapshots
                         whose host (as restic stored it) is H.
  --to-repo N            copy: the repository to copy to, by id or name.
  --mode M               stats: restore-size (restic's default), raw-data,
                         files-by-contents, blobs-per-file, or repository
                         (raw-data and restore-size in one summary).
  --read-data-subset S   check: read this part of the data (10%, 1/5, 500M).
  --params JSON          More parameters as a JSON object (docs/jobs.md).
  --deadline D           How long the job waits for an offline host: a
                         duration (default 1h) or an RFC 3339 time.
  --wait                 Wait for the job to end; exit 0 only if it
                         succeeded (as "job wait").
  --timeout D            With --wait: give up waiting after D.
  --json                 Print the job object instead of its id.

` + apiFlagsHelp + `
Examples:
  $ restic-manager job run backup --host web1 --repo offsite --path /etc --path /srv --tag nightly
  6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11
  $ restic-manager job run forget --host web1 --repo offsite --keep-daily 7 --keep-weekly 4
  $ restic-manager job run forget --host web1 --repo main --keep-last 3 --dry-run
  $ restic-manager job run copy --host web1 --repo main --to-repo offsite --snapshot latest --wait
  $ restic-manager job run check --host web1 --repo main --read-data-subset 5%
  $ restic-manager job run stats --host web1 --repo main --mode repository --wait
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "job run", true)
			var f runFlags
			f.register(a)
			pos, err := a.parse(args, 1, "the job KIND ("+jobKindsHelp+")")
			if err != nil {
				return err
			}
			if err := requireFlags(a.fs, "host", "repo"); err != nil {
				return err
			}
			body, err := f.body(pos[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(ctx, http.MethodPost, hostPath(f.host)+"/jobs", nil, body, &raw); err != nil {
				return err
			}
			var j job
			if err := decodeObject(raw, &j); err != nil {
				return err
			}
			// A forget's dry run is there to be read: wait for its plan.
			if f.wait || (pos[0] == "forget" && f.dryRun) {
				if !a.asJSON {
					fmt.Fprintln(env.Stdout, j.ID)
				}
				return waitAndReport(ctx, a, j.ID, f.waitTimeout)
			}
			if a.asJSON {
				return writeJSON(env.Stdout, raw)
			}
			fmt.Fprintln(env.Stdout, j.ID)
			if j.Status == "failed" {
				fmt.Fprintf(env.Stderr, "Warning: %s\n", j.outcome())
			}
			return nil
		},
	}
}

func jobListCommand() Command {
	return Command{
		Name:     "job list",
		Synopsis: "List jobs",
		Usage: `Usage: restic-manager job list [--host H] [--status S] [--limit N] [--json]

  List jobs, newest first (all of them unless --limit).

Flags:
  --host H     Only jobs of this host (id or name).
  --status S   Only jobs with this status: queued, running, succeeded,
               failed, cancelled or skipped.
  --limit N    At most N jobs.
  --json       Print a JSON array of job objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager job list --host web1 --limit 5
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "job list", true)
			host := a.fs.String("host", "", "")
			status := a.fs.String("status", "", "")
			limit := a.fs.Int("limit", 0, "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			query := url.Values{}
			if *host != "" {
				query.Set("host", *host)
			}
			switch *status {
			case "":
			case "queued", "running", "succeeded", "failed", "cancelled", "skipped":
				query.Set("status", *status)
			default:
				return Usagef("--status %q: want queued, running, succeeded, failed, cancelled or skipped", *status)
			}
			if *limit < 0 {
				return Usagef("--limit must not be negative")
			}
			now := time.Now()
			return listN(ctx, a, "/jobs", query, *limit, func(jobs []job, more bool) error {
				t := newTable(env.Stdout, "ID", "HOST", "KIND", "STATUS", "REPOSITORY", "CREATED", "DURATION", "EXIT")
				for _, j := range jobs {
					t.row(j.ID, j.host(), j.Kind, j.Status, j.Repository, fmtTime(j.CreatedAt), j.duration(now), j.exit())
				}
				if err := t.flush(); err != nil {
					return err
				}
				if more {
					fmt.Fprintf(env.Stderr, "(more jobs exist; raise --limit to see them)\n")
				}
				return nil
			})
		},
	}
}

func jobShowCommand() Command {
	return Command{
		Name:     "job show",
		Synopsis: "Show one job",
		Usage: `Usage: restic-manager job show ID [--json]

  Show a job: its host, kind, status, times, exit code, error and restic's
  summary.

Flags:
  --json   Print the job object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager job show 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "job show", true)
			pos, err := a.parse(args, 1, "the job's ID")
			if err != nil {
				return err
			}
			return get(ctx, a, jobPath(pos[0]), func(j job) error {
				return writeFields(env.Stdout, j.fields(time.Now()))
			})
		},
	}
}

func jobCancelCommand() Command {
	return Command{
		Name:     "job cancel",
		Synopsis: "Cancel a job",
		Usage: `Usage: restic-manager job cancel ID [--json]

  Cancel a job. A queued job is cancelled at once. For a running job the
  agent stops restic (its whole process group) and the job ends as
  cancelled when the agent reports it; if the host is offline, the cancel
  is sent when its agent reconnects. A job that has ended is an error.

Flags:
  --json   Print the job object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager job cancel 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11
  job 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11: cancel sent to the agent
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "job cancel", true)
			pos, err := a.parse(args, 1, "the job's ID")
			if err != nil {
				return err
			}
			raw, err := a.call(ctx, http.MethodPost, jobPath(pos[0])+"/cancel", nil)
			if err != nil {
				return err
			}
			if a.asJSON {
				return writeJSON(env.Stdout, raw)
			}
			var j job
			if err := decodeObject(raw, &j); err != nil {
				return err
			}
			if jobEnded(j.Status) {
				fmt.Fprintln(env.Stdout, j.outcome())
			} else {
				fmt.Fprintf(env.Stdout, "job %s: cancel sent to the agent; it ends as cancelled when restic has stopped\n", j.ID)
			}
			return nil
		},
	}
}

func jobWaitCommand() Command {
	return Command{
		Name:     "job wait",
		Synopsis: "Wait for a job to end; exit 0 only if it succeeded",
		Usage: `Usage: restic-manager job wait ID [--timeout D] [--json]

  Wait until a job has ended and print how: "job ID succeeded (exit code
  0)". Exits 0 only if the job succeeded, and 1 if it failed, was
  cancelled or skipped, or the wait timed out.

Flags:
  --timeout D   Give up after D (such as 30m); default: wait as long as it
                takes.
  --json        Print the ended job object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager job wait 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11 && echo done
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "job wait", true)
			timeout := a.fs.Duration("timeout", 0, "")
			pos, err := a.parse(args, 1, "the job's ID")
			if err != nil {
				return err
			}
			return waitAndReport(ctx, a, pos[0], *timeout)
		},
	}
}

// errJobNotSucceeded ends "job wait" with exit code 1.
var errJobNotSucceeded = errors.New("the job did not succeed")

// waitAndReport waits for a job, prints its outcome (or the job with
// --json) and fails unless it succeeded.
func waitAndReport(ctx context.Context, a *apiCmd, id string, timeout time.Duration) error {
	j, raw, err := waitJob(ctx, a, id, timeout)
	if err != nil {
		return err
	}
	if a.asJSON {
		if err := writeJSON(a.env.Stdout, raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.env.Stdout, j.outcome())
		printJobResult(a.env.Stdout, j)
	}
	if j.Status != "succeeded" {
		return fmt.Errorf("%w: job %s %s", errJobNotSucceeded, j.ID, j.Status)
	}
	return nil
}

// waitJob polls a job until it has ended, backing off from a quarter of a
// second to two seconds between polls.
func waitJob(ctx context.Context, a *apiCmd, id string, timeout time.Duration) (job, json.RawMessage, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	delay := 250 * time.Millisecond
	for {
		raw, err := a.call(ctx, http.MethodGet, jobPath(id), nil)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return job{}, nil, fmt.Errorf("job %s has not ended after %s", id, timeout)
			}
			return job{}, nil, err
		}
		var j job
		if err := decodeObject(raw, &j); err != nil {
			return job{}, nil, err
		}
		if jobEnded(j.Status) {
			return j, raw, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return job{}, nil, fmt.Errorf("job %s is still %s after %s", id, j.Status, timeout)
			}
			return job{}, nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}
