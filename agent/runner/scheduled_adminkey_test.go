package runner

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// adminKey answers admin_key with the test's onAdminKey and records what
// was asked.
func (s *testServer) adminKey(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var m wire.AdminKey
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	s.mu.Lock()
	s.adminKeys = append(s.adminKeys, m)
	answer := s.onAdminKey
	s.notifyLocked()
	s.mu.Unlock()
	if answer == nil {
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeUnsupported, Message: "no admin keys here"})
	}
	typ, payload := answer(m)
	return c.Reply(ctx, env, typ, payload)
}

func (s *testServer) setAdminKeyAnswer(f func(wire.AdminKey) (wire.Type, any)) {
	s.mu.Lock()
	s.onAdminKey = f
	s.mu.Unlock()
}

// finishedOf waits for a scheduled job of kind of the schedule that ran
// (not one skipped because the schedule's previous run was still going)
// and returns how it ended.
func (s *testServer) finishedOf(scheduleID, kind string, timeout time.Duration) wire.JobFinished {
	s.t.Helper()
	var f wire.JobFinished
	s.waitFor(timeout, "a finished scheduled "+kind, func() bool {
		if ran := s.finishedKind(scheduleID, kind); len(ran) > 0 {
			f = ran[0]
			return true
		}
		return false
	})
	return f
}

// A scheduled prune on a repository with an admin key asks the server
// for it and runs with it: the schedule's own password is not a key of
// the repository at all, so the prune succeeds only with the admin key.
func TestScheduledPruneRunsWithTheAdminKeyTheServerGives(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	a := startAgent(t, srv)
	srv.waitConnected(1)
	repo := seedRepo(t, "prune-admin")
	admin := repo.password
	daily := newRepo(t, "unused").password // not a key of this repository
	srv.setAdminKeyAnswer(func(wire.AdminKey) (wire.Type, any) {
		return wire.TypeAdminKeyResult, wire.AdminKeyResult{Password: wire.NewSecret(admin)}
	})
	r := repo.Repository
	r.Password, r.AdminKey = wire.NewSecret(daily), true
	sc := wire.Schedule{ID: "sched-prune", Name: "prune", Kind: "prune", Repository: r, EverySeconds: 2, CatchUp: true, Params: json.RawMessage(`{}`)}
	if reply := srv.syncSchedules(1, sc); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	f := srv.finishedOf("sched-prune", "prune", 90*time.Second)
	if reply := srv.syncSchedules(2); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	mustSucceed(t, f)
	srv.mu.Lock()
	asked := append([]wire.AdminKey(nil), srv.adminKeys...)
	srv.mu.Unlock()
	if len(asked) == 0 || asked[0].ScheduleID != "sched-prune" || asked[0].Kind != "prune" || asked[0].JobID == "" {
		t.Fatalf("admin_key requests: %+v", asked)
	}
	a.stop()
	assertNoSecrets(t, "the agent log", a.logs.String(), admin, daily)
	for _, ev := range srv.stream(f.JobID) {
		assertNoSecrets(t, "the prune's events", string(ev.Data), admin, daily)
	}
}

// When the server refuses the admin key, or cannot be reached, a backup
// schedule's retention forget --prune is recorded as skipped with the
// reason, never run with the day-to-day key; the backup before it counts.
func TestScheduledPruneIsSkippedWithoutTheAdminKey(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		offline bool
		reason  string
	}{
		"refused":     {reason: "pruning needs the repository's admin key, and the server refused it: no admin key for you"},
		"unreachable": {offline: true, reason: reasonAdminKeyUnreachable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t)
			a := startAgent(t, srv)
			srv.waitConnected(1)
			srv.setAdminKeyAnswer(func(wire.AdminKey) (wire.Type, any) {
				return wire.TypeError, wire.Error{Code: wire.CodeConflict, Message: "no admin key for you"}
			})
			repo := seedRepo(t, "skip-"+name)
			data := writeData(t, 4, 512)
			r := repo.Repository
			r.AdminKey = true
			params, _ := json.Marshal(map[string]any{"paths": []string{data}})
			forget, _ := json.Marshal(map[string]any{"retention": map[string]any{"keep_last": 1}, "prune": true, "paths": []string{data}})
			sc := wire.Schedule{ID: "sched-" + name, Name: name, Kind: "backup", Repository: r, EverySeconds: 2, CatchUp: true, Params: params, Forget: forget}
			if reply := srv.syncSchedules(1, sc); reply.Type != wire.TypeAck {
				t.Fatalf("schedules_sync answered %s", reply.Type)
			}
			if tc.offline {
				// The list is in force; the server goes away before the
				// first run fires, and comes back once the agent has
				// given up on the admin key (the skipped forget is
				// spooled and arrives then).
				srv.setRefuse(true)
				srv.drop(true)
				eventuallyWithin(t, 3*time.Minute, "the agent to skip the pruning step", func() bool {
					return strings.Contains(a.logs.String(), "the step that removes data is skipped: the server is unreachable")
				})
				srv.setRefuse(false)
			}
			var forgets []wire.JobFinished
			srv.waitFor(2*time.Minute, "a skipped retention forget", func() bool {
				forgets = srv.finishedKind(sc.ID, "forget")
				return slices.ContainsFunc(forgets, func(f wire.JobFinished) bool { return f.Error == tc.reason })
			})
			for _, f := range forgets {
				if f.Status != wire.StatusSkipped || !strings.HasPrefix(f.Error, "pruning needs the repository's admin key") {
					t.Fatalf("a retention forget: %s %q; want skipped for want of the admin key", f.Status, f.Error)
				}
			}
			srv.mu.Lock()
			backups := srv.finishedKind(sc.ID, "backup")
			srv.mu.Unlock()
			if len(backups) == 0 {
				t.Fatal("no finished backup")
			}
			mustSucceed(t, backups[0])
			snapshotID(t, backups[0])
			if n := snapshotCount(t, repo); n < 1 {
				t.Fatalf("%d snapshots", n)
			}
			a.stop()
			assertNoSecrets(t, "the agent log", a.logs.String(), repo.secrets()...)
		})
	}
}

// finishedKind lists the finished scheduled jobs of kind of the schedule,
// but those skipped because its previous run was still going; callers
// hold s.mu.
func (s *testServer) finishedKind(scheduleID, kind string) []wire.JobFinished {
	var out []wire.JobFinished
	for job, sd := range s.scheduledJobs(scheduleID) {
		if f, ok := s.finished[job]; ok && sd.Kind == kind && !strings.HasPrefix(f.Error, "the previous run of this schedule") {
			out = append(out, f)
		}
	}
	return out
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
