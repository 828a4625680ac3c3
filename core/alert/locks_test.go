package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// restic 0.18.1's exit_error message for a lock, as the agent reports it
// in the job's error (captured from a real run).
const lockedError = "restic prune: restic exited with code 11 (repository is already locked): unable to create lock in backend: " +
	"repository is already locked by PID 5317 on vm by root (UID 0, GID 0)\nlock was created at 2026-11-26 21:20:16 (5m0.334946417s ago)\n" +
	"storage ID 56634b4d\nthe `unlock` command can be used to remove stale locks"

func TestParseLock(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 11, 26, 21, 25, 16, 0, time.UTC)
	code := func(c int) *int { return &c }
	tests := map[string]struct {
		job    store.Job
		locked bool
		since  time.Time
		holder string
	}{
		"0.18 exit code 11": {
			job: store.Job{ExitCode: code(11), Error: lockedError}, locked: true,
			since: end.Add(-5 * time.Minute), holder: "PID 5317 on vm by root (UID 0, GID 0)",
		},
		"0.14 exit code 1, exclusive": {
			job: store.Job{ExitCode: code(1), Error: "restic forget: restic exited with code 1 (fatal error): unable to create lock in backend: " +
				"repository is already locked exclusively by PID 27534 on db-1 by backup (UID 1000, GID 1000)\nlock was created at 2026-11-26 20:25:16 (1h0m0s ago)\nstorage ID 0a1b2c3d"},
			locked: true, since: end.Add(-time.Hour), holder: "PID 27534 on db-1 by backup (UID 1000, GID 1000) (exclusive)",
		},
		"exit code 11 without details": {job: store.Job{ExitCode: code(11), Error: "restic exited with code 11"}, locked: true, since: end},
		"another failure":              {job: store.Job{ExitCode: code(1), Error: "Fatal: all source directories/files do not exist"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, ok := parseLock(tc.job, end)
			if ok != tc.locked || !l.since.Equal(tc.since) || l.holder != tc.holder {
				t.Fatalf("parseLock = %+v, %v; want since %s, holder %q, locked %v", l, ok, tc.since, tc.holder, tc.locked)
			}
		})
	}
}

// endJobCode is endJob with restic's exit code.
func (h *harness) endJobCode(hostID, repoID, kind, status string, code int, msg string) string {
	h.t.Helper()
	id := auth.NewID()
	now := h.clock.Now()
	if err := h.db.CreateJob(h.ctx, store.Job{ID: id, HostID: hostID, Kind: kind, Status: store.JobQueued, RepositoryID: repoID, CreatedAt: now}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.FinishJob(h.ctx, id, store.JobEnd{Status: status, ExitCode: &code, Error: msg, At: now}); err != nil {
		h.t.Fatal(err)
	}
	h.e.onJobEnd(h.ctx, jobEnd{id: id, at: time.Now()})
	return id
}

func TestRepoLockedFiresAfterTheThresholdAndResolves(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRepo("other")
	h.addRule(rule.Input{Name: "locks", On: "repo_locked", Channels: []string{"ops"}, After: "10m"})

	// restic says the lock is 5 minutes old: 5 more to go.
	h.endJobCode(web, repo, "prune", store.JobFailed, 11, lockedError)
	h.quiet()
	locks, err := h.db.LockedRepositories(h.ctx)
	if err != nil || len(locks) != 1 || locks[0].Name != "main" || !locks[0].Since.Equal(t0.Add(-5*time.Minute)) {
		t.Fatalf("locked repositories = %+v (%v)", locks, err)
	}
	h.clock.Advance(4 * time.Minute)
	h.e.evaluateState(h.ctx)
	h.quiet()
	h.clock.Advance(time.Minute)
	h.e.evaluateState(h.ctx)
	h.await(1)
	n := h.sentTo("ops")[0]
	if n.Event != EventRepoLocked || n.Title != "repository main locked for 10m0s" || n.Severity != "warning" {
		t.Fatalf("notification = %+v", n)
	}
	requireContains(t, "body", n.Body, "locked since 2026-11-26T11:55:00Z", "held by PID 5317 on vm by root", "run an unlock job")

	// Another failure on the same lock keeps its creation time; a failure
	// for another reason on another repository records nothing.
	h.endJobCode(web, repo, "backup", store.JobFailed, 11, strings.Replace(lockedError, "5m0.334946417s", "6m0s", 1))
	h.endJobCode(web, h.addRepo("third"), "backup", store.JobFailed, 1, "Fatal: unable to open config file")
	if locks, _ = h.db.LockedRepositories(h.ctx); len(locks) != 1 || !locks[0].Since.Equal(t0.Add(-5*time.Minute)) {
		t.Fatalf("after a second failure: %+v", locks)
	}

	// An unlock that succeeds clears the lock and resolves the alert.
	h.endJobCode(web, repo, "unlock", store.JobSucceeded, 0, "")
	h.await(1)
	notice := h.sentTo("ops")[1]
	if notice.Event != "alert_resolved" || !strings.HasPrefix(notice.Body, "Repository main is no longer locked") {
		t.Fatalf("resolution = %+v", notice)
	}
	if a := h.onlyAlert(store.AlertFilter{}); a.Status != store.AlertResolved || a.RepositoryName != "main" {
		t.Fatalf("alert = %+v", a)
	}
	if locks, _ = h.db.LockedRepositories(h.ctx); len(locks) != 0 {
		t.Fatalf("still locked: %+v", locks)
	}
}

// A job end the engine never saw (the server stopped first) is evaluated
// when an engine starts, once.
func TestJobEndsLeftOverAreEvaluatedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"ops"}})
	id := auth.NewID()
	now := h.clock.Now()
	if err := h.db.CreateJob(h.ctx, store.Job{ID: id, HostID: web, Kind: "backup", Status: store.JobQueued, RepositoryID: repo, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	code := 1
	if err := h.db.FinishJob(h.ctx, id, store.JobEnd{Status: store.JobFailed, ExitCode: &code, Error: "Fatal: boom", At: now}); err != nil {
		t.Fatal(err)
	}
	if pending, err := h.db.PendingAlertJobs(h.ctx, 10); err != nil || len(pending) != 1 || pending[0] != id {
		t.Fatalf("pending = %v (%v)", pending, err)
	}
	h.e.catchUp(h.ctx)
	h.await(1)
	if n := h.sentTo("ops")[0]; n.Title != "backup of web-1 failed" || n.Job != id {
		t.Fatalf("notification = %+v", n)
	}
	// Evaluated: neither a second catch-up nor the queued end count again.
	h.e.catchUp(h.ctx)
	h.e.onJobEnd(h.ctx, jobEnd{id: id, at: time.Now()})
	h.quiet()
	if a := h.onlyAlert(store.AlertFilter{}); a.Occurrences != 1 {
		t.Fatalf("alert = %+v", a)
	}
	if pending, _ := h.db.PendingAlertJobs(h.ctx, 10); len(pending) != 0 {
		t.Fatalf("still pending: %v", pending)
	}
}
