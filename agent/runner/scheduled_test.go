package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/scheduler"
	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// scheduledJobs returns the ids of the jobs the agent started itself for
// schedule id, with their identifying status, in the order they appeared.
func (s *testServer) scheduledJobs(scheduleID string) map[string]wire.StatusData {
	out := map[string]wire.StatusData{}
	for job, evs := range s.events {
		first, ok := evs[1]
		if !ok || first.Kind != string(wire.EventStatus) {
			continue
		}
		var sd wire.StatusData
		if json.Unmarshal(first.Data, &sd) == nil && sd.ScheduleID == scheduleID {
			out[job] = sd
		}
	}
	return out
}

func (s *testServer) syncSchedules(rev int64, list ...wire.Schedule) wire.Envelope {
	s.t.Helper()
	return s.request(wire.TypeSchedulesSync, wire.ScheduleList{Revision: rev, Schedules: list})
}

func TestScheduledRunsGoThroughTheSpoolWithTheirForget(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	a := startAgent(t, srv, withStateDir(stateDir))
	srv.waitConnected(1)
	repo := newRepo(t, "sched")
	initRepo(t, srv, repo)
	data := writeData(t, 20, 1024)

	params, _ := json.Marshal(map[string]any{"paths": []string{data}, "tags": []string{"sched"}})
	forget, _ := json.Marshal(map[string]any{"retention": map[string]any{"keep_last": 1}, "host": "", "paths": []string{data}})
	sc := wire.Schedule{
		ID: "sched-1", Name: "every-two", Kind: "backup", Repository: repo.Repository, EverySeconds: 2,
		CatchUp: true, Params: params, Forget: forget,
	}
	if reply := srv.syncSchedules(1, sc); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	// Two runs, each a backup and its forget.
	var backups, forgets []string
	srv.waitFor(90*time.Second, "two scheduled backups with their forgets", func() bool {
		backups, forgets = nil, nil
		for job, sd := range srv.scheduledJobs("sched-1") {
			f, done := srv.finished[job]
			if !done || f.Status != wire.StatusSucceeded {
				continue
			}
			switch sd.Kind {
			case "backup":
				backups = append(backups, job)
			case "forget":
				forgets = append(forgets, job)
			}
		}
		return len(backups) >= 2 && len(forgets) >= 2
	})
	if reply := srv.syncSchedules(2); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	for _, job := range append(backups, forgets...) {
		evs := srv.stream(job) // 1…N once each, job_finished last
		var sd wire.StatusData
		_ = json.Unmarshal(evs[0].Data, &sd)
		if sd.RepositoryID != repo.ID || len(sd.Params) == 0 || len(job) != 36 {
			t.Fatalf("job %s introduces itself as %+v", job, sd)
		}
		if !strings.Contains(string(sd.Params), data) {
			t.Fatalf("job %s's params %s", job, sd.Params)
		}
	}
	// keep_last 1 applied after every backup: one snapshot is left.
	eventually(t, "the last forget to finish", func() bool { return len(a.runningJobIDs()) == 0 })
	if n := snapshotCount(t, repo); n != 1 {
		t.Fatalf("%d snapshots after forget --keep-last 1", n)
	}

	a.stop()
	// The stored list is sealed: the state dir holds no credential.
	raw, err := os.ReadFile(filepath.Join(stateDir, spool.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(repo.password)) || bytes.Contains(raw, []byte(repo.envSecret)) {
		t.Fatal("the agent's state holds the repository's credentials in the clear")
	}
	assertNoSecrets(t, "the agent log", a.logs.String(), repo.secrets()...)
}

func TestStoredSchedulesFireAfterARestartWithoutTheServer(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	a := startAgent(t, srv, withStateDir(stateDir))
	srv.waitConnected(1)
	repo := newRepo(t, "restart")
	initRepo(t, srv, repo)
	data := writeData(t, 5, 512)
	params, _ := json.Marshal(map[string]any{"paths": []string{data}})
	sc := wire.Schedule{ID: "sched-2", Name: "hourly", Kind: "backup", Repository: repo.Repository, EverySeconds: 3600, Params: params, CatchUp: true}
	if reply := srv.syncSchedules(5, sc); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	a.stop()

	// Make the hourly run overdue, as if the agent had been down over it.
	sp, err := spool.Open(stateDir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	times, err := scheduler.FireTimes(sp)
	if err != nil {
		t.Fatal(err)
	}
	fs := times["sched-2"]
	if fs.Next.IsZero() || time.Until(fs.Next) > time.Hour {
		t.Fatalf("stored fire state %+v", fs)
	}
	fs.Due, fs.Next = time.Now().Add(-time.Minute), time.Now().Add(-time.Minute)
	b, _ := json.Marshal(fs)
	if err := sp.PutState("schedules/fire/sched-2", b); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	// The server is away; the agent runs the missed run from its own copy.
	srv.setRefuse(true)
	startAgent(t, srv, withStateDir(stateDir))
	eventually(t, "the caught-up run's snapshot", func() bool { return snapshotCount(t, repo) == 1 })
	srv.setRefuse(false)
	var job string
	srv.waitFor(60*time.Second, "the caught-up run reported", func() bool {
		for id, sd := range srv.scheduledJobs("sched-2") {
			if f, ok := srv.finished[id]; ok && sd.Kind == "backup" && f.Status == wire.StatusSucceeded {
				job = id
				return true
			}
		}
		return false
	})
	srv.stream(job)
	if n := snapshotCount(t, repo); n != 1 {
		t.Fatalf("%d snapshots; want the one caught-up run", n)
	}
}

func TestScheduledJobWithBadParamsIsRecordedFailed(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	startAgent(t, srv)
	srv.waitConnected(1)
	repo := newRepo(t, "badparams")
	sc := wire.Schedule{
		ID: "sched-3", Name: "typo", Kind: "backup", Repository: repo.Repository, EverySeconds: 1,
		Params: json.RawMessage(`{"pathz":["/x"]}`),
	}
	if reply := srv.syncSchedules(1, sc); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	var f wire.JobFinished
	srv.waitFor(30*time.Second, "the failed run", func() bool {
		for id := range srv.scheduledJobs("sched-3") {
			var ok bool
			if f, ok = srv.finished[id]; ok {
				return true
			}
		}
		return false
	})
	if reply := srv.syncSchedules(2); reply.Type != wire.TypeAck {
		t.Fatalf("schedules_sync answered %s", reply.Type)
	}
	if f.Status != wire.StatusFailed || !strings.Contains(f.Error, "invalid params") || !strings.Contains(f.Error, "pathz") {
		t.Fatalf("job_finished %+v", f)
	}
	srv.stream(f.JobID)
}

func TestAnUnusableScheduleListIsRefusedAndTheOldOneStays(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	a := startAgent(t, srv)
	srv.waitConnected(1)
	repo := newRepo(t, "refuse")
	good := wire.Schedule{
		ID: "sched-4", Name: "good", Kind: "backup", Repository: repo.Repository, EverySeconds: 3600,
		Params: json.RawMessage(`{"paths":["/srv"]}`),
	}
	srv.syncSchedules(1, good)
	badCron := good
	badCron.ID, badCron.Name, badCron.EverySeconds, badCron.Cron = "sched-5", "bad-cron", 0, "61 * * * *"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := srv.current().Request(ctx, wire.TypeSchedulesSync, wire.ScheduleList{Revision: 2, Schedules: []wire.Schedule{good, badCron}})
	var e *wire.Error
	if !errors.As(err, &e) || e.Code != wire.CodeInvalid || !strings.Contains(e.Message, `"bad-cron"`) || !strings.Contains(e.Message, "cron: ") {
		t.Fatalf("a list with a bad cron expression answered %v", err)
	}
	a.sched.mu.Lock()
	s := a.sched.s
	a.sched.mu.Unlock()
	if _, ok := s.Fire("sched-4"); !ok || s.Revision() != 2 {
		t.Fatalf("the good schedule was not kept (revision %d)", s.Revision())
	}
	if _, ok := s.Fire("sched-5"); ok {
		t.Fatal("the bad schedule was taken")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
