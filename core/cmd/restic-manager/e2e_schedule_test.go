package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/scheduler"
	"github.com/restic-manager/restic-manager/agent/spool"
)

// Schedules with the real server, agent and restic: a schedule fires on
// time and its backup makes a snapshot, retention runs after it, an
// overlapping run is skipped, bandwidth limits reach restic, runs made
// while the server is down arrive (with every log line) exactly once when
// it is back, and the agent's next fire time survives its restart.

// scheduleJob is a job of a schedule as "job list --json" prints it.
type scheduleJob struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	ScheduleID *string         `json:"schedule_id"`
	CreatedBy  string          `json:"created_by"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	Error      string          `json:"error"`
	Summary    json.RawMessage `json:"summary"`
	Params     json.RawMessage `json:"params"`
}

// snapshot is the id of the snapshot a backup made, from its summary.
func (j scheduleJob) snapshot() string {
	var s struct {
		SnapshotID string `json:"snapshot_id"`
	}
	_ = json.Unmarshal(j.Summary, &s)
	return s.SnapshotID
}

// scheduleJobs lists the jobs of a schedule, oldest first.
func (r *rig) scheduleJobs(scheduleID string) []scheduleJob {
	r.t.Helper()
	var all []scheduleJob
	r.okJSON(&all, "job", "list", "--host", r.hostID)
	var out []scheduleJob
	for _, j := range all {
		if j.ScheduleID != nil && *j.ScheduleID == scheduleID {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b scheduleJob) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

func countJobs(jobs []scheduleJob, kind, status string) int {
	n := 0
	for _, j := range jobs {
		if j.Kind == kind && j.Status == status {
			n++
		}
	}
	return n
}

// createSchedule runs "schedule create" with args and returns the id.
func (r *rig) createSchedule(args ...string) string {
	r.t.Helper()
	var s struct {
		ID string `json:"id"`
	}
	r.okJSON(&s, append([]string{"schedule", "create", "--host", r.hostID, "--repo", "main"}, args...)...)
	if len(s.ID) != 36 {
		r.t.Fatalf("schedule create printed id %q", s.ID)
	}
	return s.ID
}

// idle waits until no job of the schedule is queued or running.
func (r *rig) idle(scheduleID string) []scheduleJob {
	r.t.Helper()
	var jobs []scheduleJob
	eventuallyE2EWithin(r.t, e2eBackupTimeout, "the schedule's runs to end", func() bool {
		jobs = r.scheduleJobs(scheduleID)
		return !slices.ContainsFunc(jobs, func(j scheduleJob) bool { return j.Status == "queued" || j.Status == "running" })
	})
	return jobs
}

// repoSnapshots lists the repository's snapshots with restic itself.
func (r *rig) repoSnapshots() []map[string]any {
	r.t.Helper()
	cmd := exec.Command(r.restic, "snapshots", "--json", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.repoDir, "RESTIC_PASSWORD="+r.password,
		"RESTIC_CACHE_DIR="+filepath.Join(r.home, "cache"))
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("restic snapshots: %v", err)
	}
	var snaps []map[string]any
	if err := json.Unmarshal(out, &snaps); err != nil {
		r.t.Fatal(err)
	}
	return snaps
}

func snapshotIDs(snaps []map[string]any) []string {
	var ids []string
	for _, s := range snaps {
		ids = append(ids, fmt.Sprint(s["id"]))
	}
	slices.Sort(ids)
	return ids
}

// viewerToken creates a viewer and returns an API token of theirs, made
// from a login session as a browser would.
func (r *rig) viewerToken() string {
	r.t.Helper()
	pwFile := filepath.Join(r.t.TempDir(), "viewer.pw")
	if err := os.WriteFile(pwFile, []byte("a long viewer password\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.ok("user", "create", "--username", "vera", "--role", "viewer", "--password-file", pwFile)
	base := "http://" + r.srv.addr + "/api/v1"
	res, err := http.Post(base+"/login", "application/json", strings.NewReader(`{"username":"vera","password":"a long viewer password"}`))
	if err != nil {
		r.t.Fatal(err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/tokens", strings.NewReader(`{"name":"e2e"}`))
	for _, c := range res.Cookies() {
		req.AddCookie(c)
	}
	req.Header.Set("X-CSRF-Token", login.CSRF)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.Token == "" {
		r.t.Fatalf("viewer token: %d %v", res.StatusCode, err)
	}
	return tok.Token
}

func TestEndToEndScheduleFiresKeepsRetentionSkipsOverlaps(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 11, 10, 0, 4<<10)

	// A viewer cannot create schedules; bad input names its field.
	viewer := r.viewerToken()
	if res := r.srv.cli(t, viewer, "schedule", "create", "--host", r.hostID, "--repo", "main", "--path", src, "--every", "1h"); res.code != 1 || !strings.Contains(res.stderr, "HTTP 403") {
		t.Fatalf("a viewer's schedule create: exit %d %s", res.code, res.stderr)
	}
	for flag, field := range map[string][]string{
		"cron: ":     {"--cron", "0 25 * * *"},
		"timezone: ": {"--cron", "0 3 * * *", "--timezone", "Europe/Nowhere"},
		"every: ":    {"--every", "now and then"},
		"paths[1]: ": {"--every", "1h", "--path", "relative/dir"},
	} {
		res := r.cli(append([]string{"schedule", "create", "--host", r.hostID, "--repo", "main", "--path", src}, field...)...)
		if res.code != 1 || !strings.Contains(res.stderr, flag) || !strings.Contains(res.stderr, "HTTP 400") {
			t.Fatalf("schedule create %v: exit %d %s; want a 400 naming %q", field, res.code, res.stderr, flag)
		}
	}

	// Every 6 s, keeping the last two snapshots.
	const every = 6 * time.Second
	id := r.createSchedule("--name", "fast", "--path", src, "--every", "6s", "--tag", "sched", "--keep-last", "2")
	var jobs []scheduleJob
	eventuallyE2EWithin(t, 2*e2eBackupTimeout, "three scheduled backups, each with its forget", func() bool {
		jobs = r.scheduleJobs(id)
		return countJobs(jobs, "backup", "succeeded") >= 3 && countJobs(jobs, "forget", "succeeded") >= 3
	})
	r.ok("schedule", "update", id, "--disable")
	jobs = r.idle(id)

	var backups []scheduleJob
	for _, j := range jobs {
		if j.CreatedBy != "schedule" || len(j.ID) != 36 {
			t.Fatalf("job %+v was not started by the agent's schedule", j)
		}
		switch {
		case j.Kind == "backup" && j.Status == "succeeded":
			backups = append(backups, j)
			// On time: within a moment of a multiple of the interval.
			if late := j.CreatedAt.Sub(j.CreatedAt.Truncate(every)); late > 2500*time.Millisecond {
				t.Errorf("backup %s started %s after its due time", j.ID, late)
			}
			if len(j.snapshot()) != 64 || !strings.Contains(string(j.Params), src) {
				t.Errorf("backup %s: summary %+v, params %s", j.ID, j.Summary, j.Params)
			}
			r.checkLogSeqs(j.ID, "succeeded")
			if text := r.ok("job", "logs", j.ID); !strings.Contains(text, "snapshot "+j.snapshot()[:8]+" saved") {
				t.Errorf("backup %s's log lacks its snapshot:\n%s", j.ID, text)
			}
		case j.Kind == "forget" && j.Status == "succeeded":
			r.checkLogSeqs(j.ID, "succeeded")
		case j.Status == "skipped":
			// An overlap on a loaded machine; recorded, not stacked.
			if !strings.Contains(j.Error, "still running") {
				t.Errorf("skipped job %+v", j)
			}
		default:
			t.Errorf("unexpected job %+v", j)
		}
	}
	// Retention: exactly the last two backups' snapshots are left, in the
	// repository and, once the server has refreshed it, in its list.
	want := []string{backups[len(backups)-1].snapshot(), backups[len(backups)-2].snapshot()}
	slices.Sort(want)
	if got := snapshotIDs(r.repoSnapshots()); !slices.Equal(got, want) {
		t.Fatalf("the repository holds %v after forget --keep-last 2; want the newest two backups' %v", got, want)
	}
	eventuallyE2EWithin(t, 60*time.Second, "the server's snapshot list to follow the forget", func() bool {
		var snaps []map[string]any
		r.okJSON(&snaps, "snapshot", "list", "--host", r.hostID, "--repo", "main")
		return slices.Equal(snapshotIDs(snaps), want)
	})

	// A run due while the previous one still runs is skipped, and the
	// upload limit reaches restic (which makes this backup slow).
	slow := slowTree(t)
	sid := r.createSchedule("--name", "slow", "--path", slow, "--every", "2s", "--limit-upload", slowUploadKiB, "--limit-download", "8192")
	eventuallyE2EWithin(t, e2eBackupTimeout, "two runs of the slow schedule skipped", func() bool {
		return countJobs(r.scheduleJobs(sid), "backup", "skipped") >= 2
	})
	r.ok("schedule", "update", "slow", "--disable")
	jobs = r.idle(sid)
	if countJobs(jobs, "backup", "succeeded") < 1 {
		t.Fatalf("the slow schedule's jobs: %+v", jobs)
	}
	for _, j := range jobs {
		if j.Status == "skipped" {
			if !strings.Contains(j.Error, "previous run of this schedule") || !strings.Contains(j.Error, "still running") {
				t.Fatalf("skipped job %s: %q", j.ID, j.Error)
			}
			r.checkLogSeqs(j.ID, "skipped")
		}
	}
	// The plugin logs restic's argv at debug level.
	started := regexp.MustCompile(`restic started: .*args=\[backup, [^]]*\]`)
	found := false
	for _, line := range started.FindAllString(r.agentLog.String(), -1) {
		if strings.Contains(line, "--limit-upload="+slowUploadKiB+",") && strings.Contains(line, "--limit-download=8192,") && strings.Contains(line, slow) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no restic backup of %s was started with --limit-upload=%s and --limit-download=8192", slow, slowUploadKiB)
	}
	r.checkSecrets()
}

func TestEndToEndScheduleRunsWhileTheServerIsDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 12, 10, 0, 4<<10)
	id := r.createSchedule("--name", "offline", "--path", src, "--every", "4s")
	eventuallyE2EWithin(t, e2eBackupTimeout, "the first scheduled backup", func() bool {
		return countJobs(r.scheduleJobs(id), "backup", "succeeded") >= 1
	})

	// The server stops; the agent keeps backing up.
	if err := r.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-r.srv.done; err != nil {
		t.Fatalf("server exit: %v", err)
	}
	before := snapshotIDs(r.repoSnapshots())
	var during []string
	eventuallyE2EWithin(t, e2eBackupTimeout, "two scheduled backups while the server is down", func() bool {
		during = nil
		for _, s := range snapshotIDs(r.repoSnapshots()) {
			if !slices.Contains(before, s) {
				during = append(during, s)
			}
		}
		return len(during) >= 2
	})
	if !strings.Contains(r.agentLog.String(), "connection lost; reconnecting") {
		t.Fatal("the agent did not notice the server going away")
	}

	// The server comes back: each run arrives once, with its whole log.
	r.restartServer()
	r.waitHostStatus("online")
	r.ok("schedule", "update", id, "--disable")
	jobs := r.idle(id)
	for _, snap := range during {
		var made []scheduleJob
		for _, j := range jobs {
			if j.snapshot() == snap {
				made = append(made, j)
			}
		}
		if len(made) != 1 || made[0].Status != "succeeded" || made[0].Kind != "backup" {
			t.Fatalf("snapshot %s made while the server was down is reported by %d jobs: %+v", snap[:8], len(made), made)
		}
		items := r.checkLogSeqs(made[0].ID, "succeeded")
		text := r.ok("job", "logs", made[0].ID)
		for _, want := range []string{"summary: ", "snapshot " + snap[:8] + " saved", "[succeeded, exit code 0]"} {
			if !strings.Contains(text, want) {
				t.Fatalf("job %s's log (%d items) lacks %q:\n%s", made[0].ID, len(items), want, text)
			}
		}
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.ID] {
			t.Fatalf("job %s is listed twice", j.ID)
		}
		seen[j.ID] = true
	}

	// The agent restarts: the fire time it planned (with its random
	// jitter) survives, and the run comes at that time.
	planLine := "schedule planned: schedule_id=" + id
	plans := strings.Count(r.agentLog.String(), planLine)
	r.ok("schedule", "update", id, "--enable", "--every", "30s", "--jitter", "25s")
	eventuallyE2EWithin(t, 30*time.Second, "the agent to plan the new timing", func() bool {
		return strings.Count(r.agentLog.String(), planLine) > plans
	})
	var planned scheduler.FireState
	for attempt := 1; ; attempt++ {
		eventuallyE2EWithin(t, e2eBackupTimeout, "no run going", func() bool {
			return !slices.ContainsFunc(r.scheduleJobs(id), func(j scheduleJob) bool { return j.Status == "running" })
		})
		r.stopAgent()
		planned = r.fireState(id)
		if time.Until(planned.Next) > 5*time.Second {
			break
		}
		// Too close to restart before it: let this run go and try again.
		r.startAgent()
		if attempt == 3 {
			t.Fatalf("never found a moment well before a run (last plan %+v)", planned)
		}
		time.Sleep(time.Until(planned.Next) + 3*time.Second)
	}
	if d := planned.Next.Sub(planned.Due); d < 0 || d >= 25*time.Second || planned.Due.UnixNano()%int64(30*time.Second) != 0 {
		t.Fatalf("the agent planned %+v: want a due time on a multiple of 30s and at most 25s of jitter", planned)
	}
	count := len(r.scheduleJobs(id))
	r.startAgent()
	var fired scheduleJob
	eventuallyE2EWithin(t, 90*time.Second, "the run at the stored time", func() bool {
		jobs := r.scheduleJobs(id)
		if len(jobs) <= count {
			return false
		}
		fired = jobs[count]
		return true
	})
	if d := fired.CreatedAt.Sub(planned.Next); d < -50*time.Millisecond || d > 2500*time.Millisecond {
		t.Fatalf("after the restart the run started at %s; the stored fire time was %s", fired.CreatedAt, planned.Next)
	}
	r.ok("schedule", "delete", id)
	r.idle(id)
	r.checkSecrets()
}

// stopAgent stops the agent gracefully (SIGTERM) and waits for it.
func (r *rig) stopAgent() {
	r.t.Helper()
	if err := r.agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-r.agent.exited:
	case <-time.After(60 * time.Second):
		r.t.Fatal("the agent did not stop")
	}
}

// fireState reads what the stopped agent stored about a schedule.
func (r *rig) fireState(id string) scheduler.FireState {
	r.t.Helper()
	sp, err := spool.Open(r.stateDir, spool.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	defer sp.Close()
	times, err := scheduler.FireTimes(sp)
	if err != nil {
		r.t.Fatal(err)
	}
	fs, ok := times[id]
	if !ok {
		r.t.Fatalf("the agent stored no fire time for schedule %s (it has %v)", id, times)
	}
	raw, _ := os.ReadFile(filepath.Join(r.stateDir, spool.FileName))
	if bytes.Contains(raw, []byte(r.password)) {
		r.t.Fatal("the agent's state holds the repository password in the clear")
	}
	return fs
}
