package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// syncAgent is a testAgent that takes schedules_sync, as the real agent's
// scheduler does, and keeps what it was sent.
type syncAgent struct {
	*testAgent
	mu    sync.Mutex
	syncs []wire.SchedulesSync
	// refuse makes it answer with an error instead of ack.
	refuse string
}

func (s *testServer) connectScheduled(t testing.TB, credential string) *syncAgent {
	t.Helper()
	return s.connectScheduledAt(t, credential, 0)
}

// connectScheduledAt connects an agent that says it holds the schedule
// list of revision rev.
func (s *testServer) connectScheduledAt(t testing.TB, credential string, rev int64) *syncAgent {
	t.Helper()
	a := &testAgent{
		t: t, acks: map[string]uint64{},
		dispatches: make(chan received[wire.JobDispatch], 100),
		cancels:    make(chan wire.JobCancel, 100),
	}
	a.cond = sync.NewCond(&a.mu)
	sa := &syncAgent{testAgent: a}
	url, _ := wire.ConnectURL(s.srv.URL)
	c, err := wire.Dial(context.Background(), url, credential, wire.DialOptions{Config: wire.Config{
		Handlers: map[wire.Type]wire.HandlerFunc{
			wire.TypeJobDispatch:   a.handleDispatch,
			wire.TypeJobCancel:     a.handleCancel,
			wire.TypeJobEventAck:   a.handleAck,
			wire.TypeSchedulesSync: sa.handleSync,
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a.c = c
	t.Cleanup(func() { _ = c.Close("test over") })
	reply, err := c.Request(context.Background(), wire.TypeHello, wire.Hello{
		Hostname: "test-host", OS: "linux", Arch: "amd64", AgentVersion: "test", ResticVersion: "0.18.1",
		Backends: []string{"restic"}, State: wire.AgentState{ScheduleRevision: rev},
	})
	var ok wire.HelloOK
	if err == nil {
		err = reply.DecodePayload(&ok)
	}
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	a.hostID = ok.HostID
	return sa
}

func (sa *syncAgent) syncCount() int {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return len(sa.syncs)
}

func (sa *syncAgent) handleSync(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var m wire.SchedulesSync
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	sa.mu.Lock()
	sa.syncs = append(sa.syncs, m)
	refuse := sa.refuse
	sa.mu.Unlock()
	if refuse != "" {
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeInvalid, Message: refuse})
	}
	return c.Reply(ctx, env, wire.TypeAck, wire.Ack{})
}

// waitSync waits for a sync after the first n and returns the newest.
func (sa *syncAgent) waitSync(n int) (wire.SchedulesSync, []wire.Schedule, int) {
	sa.t.Helper()
	var got wire.SchedulesSync
	var count int
	eventually(sa.t, "a schedules_sync", func() bool {
		sa.mu.Lock()
		defer sa.mu.Unlock()
		count = len(sa.syncs)
		if count > n {
			got = sa.syncs[count-1]
			return true
		}
		return false
	})
	list, err := got.List()
	if err != nil {
		sa.t.Fatalf("the sync does not decode: %v", err)
	}
	return got, list, count
}

func (s *testServer) createSchedule(t testing.TB, body map[string]any) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	s.call(t, "POST", "/api/v1/schedules", s.admin, body, http.StatusCreated, &out)
	return out.ID
}

func scheduleNames(list []wire.Schedule) string {
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	return strings.Join(names, ",")
}

// waitList waits until the newest sync the agent got satisfies cond and
// returns it.
func (sa *syncAgent) waitList(what string, cond func(wire.SchedulesSync, []wire.Schedule) bool) (wire.SchedulesSync, []wire.Schedule) {
	sa.t.Helper()
	var got wire.SchedulesSync
	var list []wire.Schedule
	eventually(sa.t, what, func() bool {
		sa.mu.Lock()
		if len(sa.syncs) == 0 {
			sa.mu.Unlock()
			return false
		}
		got = sa.syncs[len(sa.syncs)-1]
		sa.mu.Unlock()
		var err error
		if list, err = got.List(); err != nil {
			sa.t.Fatalf("the sync does not decode: %v", err)
		}
		return cond(got, list)
	})
	return got, list
}

func TestSchedulesArePushedOnConnectAndOnEveryChange(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "web1")
	_, cred2 := s.enroll(t, "web2")
	repoID := s.addRepo(t, "main", "pw-sched-secret-1", map[string]string{"B2_ACCOUNT_KEY": "b2-secret-key-1"})
	id := s.createSchedule(t, map[string]any{
		"name": "nightly", "host": "web1", "repository": "main", "paths": []string{"/srv", "/etc"},
		"excludes": []string{"*.tmp"}, "exclude_files": []string{"/etc/ex"}, "exclude_caches": true, "one_file_system": true,
		"tags": []string{"a", "b"}, "cron": "0 3 * * *", "timezone": "Europe/Berlin", "jitter": "10m", "catch_up": false,
		"limit_upload_kib": 512, "retention": map[string]any{"keep_daily": 7, "group_by": "host"},
	})
	s.createSchedule(t, map[string]any{"name": "off", "host": "web1", "repository": "main", "paths": []string{"/x"}, "every": "1h", "enabled": false})
	s.createSchedule(t, map[string]any{"name": "web2-only", "host": "web2", "repository": "main", "paths": []string{"/y"}, "every": "1h"})
	names := func(want string) func(wire.SchedulesSync, []wire.Schedule) bool {
		return func(_ wire.SchedulesSync, l []wire.Schedule) bool { return scheduleNames(l) == want }
	}

	a := s.connectScheduled(t, cred)
	first, list := a.waitList("web1's enabled schedule", names("nightly"))
	got := list[0]
	if got.ID != id || got.Kind != "backup" || got.Cron != "0 3 * * *" || got.Timezone != "Europe/Berlin" || got.JitterSeconds != 600 ||
		got.CatchUp || got.EverySeconds != 0 || got.Repository.ID != repoID || got.Repository.URL != "/srv/restic/main" ||
		got.Repository.Password.Reveal() != "pw-sched-secret-1" || got.Repository.Env["B2_ACCOUNT_KEY"].Reveal() != "b2-secret-key-1" {
		t.Fatalf("schedule sent = %+v", got)
	}
	var params, forget map[string]any
	_ = json.Unmarshal(got.Params, &params)
	_ = json.Unmarshal(got.Forget, &forget)
	if b, _ := json.Marshal(params); string(b) != `{"excludes":["*.tmp"],"extra":{"exclude_caches":true,"exclude_files":["/etc/ex"],"one_file_system":true},"limit_upload_kib":512,"paths":["/srv","/etc"],"tags":["a","b"]}` {
		t.Fatalf("backup params = %s", b)
	}
	if b, _ := json.Marshal(forget); string(b) != `{"host":"test-host","limit_upload_kib":512,"paths":["/srv","/etc"],"retention":{"group_by":"host","keep_daily":7},"tags":["a,b"]}` {
		t.Fatalf("forget params = %s", b)
	}
	if strings.Contains(s.log.String(), "pw-sched-secret-1") || strings.Contains(s.log.String(), "b2-secret-key-1") {
		t.Fatal("the server log holds a repository secret")
	}

	// A change to the schedule reaches the agent, with a higher revision.
	s.call(t, "PATCH", "/api/v1/schedules/nightly", s.admin, map[string]any{"every": "2h", "retention": nil}, http.StatusOK, nil)
	second, list := a.waitList("the changed schedule", func(_ wire.SchedulesSync, l []wire.Schedule) bool {
		return len(l) == 1 && l[0].EverySeconds == 7200
	})
	if second.Revision <= first.Revision || list[0].Cron != "" || len(list[0].Forget) != 0 {
		t.Fatalf("after the change: revision %d (was %d), %+v", second.Revision, first.Revision, list)
	}
	// A schedule moved from web2 to web1 leaves web2's list and joins web1's.
	b := s.connectScheduled(t, cred2)
	b.waitList("web2's schedule", names("web2-only"))
	s.call(t, "PATCH", "/api/v1/schedules/web2-only", s.admin, map[string]any{"host": "web1"}, http.StatusOK, nil)
	a.waitList("the moved schedule on web1", names("nightly,web2-only"))
	b.waitList("the moved schedule gone from web2", names(""))
	// A rotated repository password is pushed too, so that runs while the
	// server is away use the new one.
	s.call(t, "PATCH", "/api/v1/repositories/main", s.admin, map[string]any{"password": "pw-sched-secret-2"}, http.StatusOK, nil)
	a.waitList("the new repository password", func(_ wire.SchedulesSync, l []wire.Schedule) bool {
		return len(l) == 2 && l[0].Repository.Password.Reveal() == "pw-sched-secret-2"
	})
	// A deleted schedule leaves the list, its credentials with it.
	s.call(t, "DELETE", "/api/v1/schedules/nightly", s.admin, nil, http.StatusNoContent, nil)
	s.call(t, "DELETE", "/api/v1/schedules/web2-only", s.admin, nil, http.StatusNoContent, nil)
	a.waitList("an empty list", names(""))
}

func TestAnAgentRefusingSchedulesIsLogged(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "old")
	s.addRepo(t, "main", "pw-refuse-1", nil)
	id := s.createSchedule(t, map[string]any{"host": "old", "repository": "main", "paths": []string{"/srv"}, "every": "1h"})
	a := s.connectScheduled(t, cred)
	_, _, n := a.waitSync(0)
	a.mu.Lock()
	a.refuse = "schedule \"x\": unknown field"
	a.mu.Unlock()
	s.call(t, "PATCH", "/api/v1/schedules/"+id, s.admin, map[string]any{"every": "2h"}, http.StatusOK, nil)
	a.waitSync(n)
	eventually(t, "the refusal in the log", func() bool {
		return strings.Contains(s.log.String(), `the agent did not take every schedule`) && strings.Contains(s.log.String(), `unknown field`)
	})
}

func TestScheduledRunsAreRecordedOnlyForTheHostsOwnSchedules(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "web1")
	_, cred2 := s.enroll(t, "web2")
	repoID := s.addRepo(t, "main", "pw-runs-1", nil)
	otherRepo := s.addRepo(t, "other", "pw-runs-2", nil)
	own := s.createSchedule(t, map[string]any{"host": "web1", "repository": "main", "paths": []string{"/srv"}, "every": "1h"})
	foreign := s.createSchedule(t, map[string]any{"host": "web2", "repository": "main", "paths": []string{"/srv"}, "every": "1h"})
	a := s.connectScheduled(t, cred)
	b := s.connectScheduled(t, cred2)
	a.waitSync(0)
	b.waitSync(0)

	params := json.RawMessage(`{"paths":["/srv"]}`)
	cases := []struct {
		name, job, schedule, repo string
		created                   bool
		wantSchedule, wantRepo    string
	}{
		{"its own schedule", "run-own-1", own, repoID, true, own, repoID},
		{"another host's schedule", "run-foreign-1", foreign, repoID, true, "", ""},
		{"its schedule on another repository", "run-repo-1", own, otherRepo, true, own, ""},
		{"a deleted schedule", "run-gone-1", "no-such-schedule", repoID, true, "", ""},
		{"no schedule", "run-none-1", "", repoID, false, "", ""},
	}
	for _, c := range cases {
		a.event(c.job, 1, wire.EventStatus, wire.StatusData{Status: "running", Kind: "backup", ScheduleID: c.schedule, RepositoryID: c.repo, Params: params})
		a.logEvent(c.job, 2, "line of "+c.name)
		a.finish(c.job, 3, wire.StatusSucceeded, 0, nil)
		a.waitAck(c.job, 3)
	}
	for _, c := range cases {
		j, err := s.db.GetJob(context.Background(), c.job)
		if !c.created {
			if err == nil {
				t.Errorf("%s: a job was recorded: %+v", c.name, j)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if j.HostID != hostID || j.ScheduleID != c.wantSchedule || j.RepositoryID != c.wantRepo || j.Status != "succeeded" || j.CreatedBy != "schedule" {
			t.Errorf("%s: job = host %s schedule %q repository %q status %s; want schedule %q repository %q",
				c.name, j.HostID, j.ScheduleID, j.RepositoryID, j.Status, c.wantSchedule, c.wantRepo)
		}
		if c.wantSchedule != "" && string(j.Params) != string(params) {
			t.Errorf("%s: params %s", c.name, j.Params)
		}
	}

	// A skipped run is recorded skipped, with its reason, and is the
	// schedule's last run.
	a.event("run-skip-1", 1, wire.EventStatus, wire.StatusData{
		Status: "skipped", Kind: "backup", ScheduleID: own, RepositoryID: repoID,
		Message: "the previous run is still running",
	})
	a.send(wire.TypeJobFinished, wire.JobFinished{
		JobID: "run-skip-1", Seq: 2, Status: wire.StatusSkipped, ExitCode: -1,
		Error: "skipped: the previous run is still running", FinishedAt: time.Now(),
	})
	a.waitAck("run-skip-1", 2)
	var sched struct {
		LastRun *struct {
			JobID  string `json:"job_id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"last_run"`
		LastSuccessAt *time.Time `json:"last_success_at"`
	}
	s.call(t, "GET", "/api/v1/hosts/web1/schedules", s.admin, nil, http.StatusOK, nil)
	s.call(t, "GET", "/api/v1/schedules/"+own, s.admin, nil, http.StatusOK, &sched)
	if sched.LastRun == nil || sched.LastRun.JobID != "run-skip-1" || sched.LastRun.Status != "skipped" ||
		!strings.Contains(sched.LastRun.Error, "still running") || sched.LastSuccessAt == nil {
		t.Fatalf("schedule's runs = %+v, last success %v", sched.LastRun, sched.LastSuccessAt)
	}
}

func TestAConnectingAgentWithTheCurrentListIsNotSentItAgain(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "web1")
	s.addRepo(t, "main", "pw-rev-1", nil)
	s.createSchedule(t, map[string]any{"host": "web1", "repository": "main", "paths": []string{"/srv"}, "every": "1h"})
	a := s.connectScheduled(t, cred)
	got, _, _ := a.waitSync(0)
	if got.Revision == 0 {
		t.Fatal("the sync carries no revision")
	}
	_ = a.c.Close("reconnect")
	<-a.c.Done()

	// Back with the revision it was sent: nothing to send.
	b := s.connectScheduledAt(t, cred, got.Revision)
	eventually(t, "the host online", func() bool { return s.hostStatus(t, b.hostID) == "online" })
	time.Sleep(300 * time.Millisecond)
	if n := b.syncCount(); n != 0 {
		t.Fatalf("an agent with the current list was sent %d syncs", n)
	}
	_ = b.c.Close("reconnect")
	<-b.c.Done()

	// Back with an older one: sent the current list.
	c := s.connectScheduledAt(t, cred, got.Revision-1)
	if again, list, _ := c.waitSync(0); again.Revision != got.Revision || len(list) != 1 {
		t.Fatalf("an agent with an old list was sent revision %d with %d schedules", again.Revision, len(list))
	}
}
