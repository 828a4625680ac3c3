package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

func backupBody(repo string) map[string]any {
	return map[string]any{"kind": "backup", "repository": repo, "paths": []string{"/srv/data"}, "tags": []string{"nightly"}, "limit_upload_kib": 512}
}

func TestDispatchToAnOnlineAgentRunsTheJob(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "web1")
	repoID := s.addRepo(t, "main", "repo password 1", map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret-value-123"})
	a := s.connect(t, cred)

	j := s.run(t, "web1", backupBody("main"), http.StatusCreated)
	if j.Status != "running" || j.Kind != "backup" || j.Repository != "main" || j.RepositoryID != repoID || j.Host != "web1" || j.ScheduleID != nil {
		t.Fatalf("job after dispatch = %+v", j)
	}
	d := a.waitDispatch().msg
	if d.JobID != j.ID || d.Kind != "backup" || d.Repository.URL != "/srv/restic/main" ||
		d.Repository.Password.Reveal() != "repo password 1" || d.Repository.Env["AWS_SECRET_ACCESS_KEY"].Reveal() != "aws-secret-value-123" {
		t.Fatalf("dispatch = %+v (password %q)", d, d.Repository.Password.Reveal())
	}
	var params struct {
		Paths          []string `json:"paths"`
		Tags           []string `json:"tags"`
		LimitUploadKiB int      `json:"limit_upload_kib"`
	}
	if err := json.Unmarshal(d.Params, &params); err != nil || params.Paths[0] != "/srv/data" || params.Tags[0] != "nightly" || params.LimitUploadKiB != 512 {
		t.Fatalf("dispatch params = %s (%v)", d.Params, err)
	}

	a.event(j.ID, 1, wire.EventStatus, wire.StatusData{Status: "running"})
	a.logEvent(j.ID, 2, "open repository", "lock repository")
	a.event(j.ID, 3, wire.EventProgress, map[string]any{"message_type": "status", "percent_done": 0.5})
	a.event(j.ID, 4, wire.EventSummary, map[string]any{"message_type": "summary", "files_new": 3, "snapshot_id": strings.Repeat("ab", 32)})
	a.finish(j.ID, 5, wire.StatusSucceeded, 0, nil)
	a.waitAck(j.ID, 5)

	got := s.job(t, j.ID)
	if got.Status != "succeeded" || got.ExitCode == nil || *got.ExitCode != 0 || got.FinishedAt == nil || got.StartedAt == nil {
		t.Fatalf("job after job_finished = %+v", got)
	}
	if !strings.Contains(string(got.Summary), `"files_new":3`) {
		t.Fatalf("summary = %s, want restic's summary event", got.Summary)
	}
	logs := s.jobLogs(t, j.ID)
	if len(logs) != 5 {
		t.Fatalf("logs = %+v", logs)
	}
	if logs[1].Line != "open repository\nlock repository" || logs[1].Stream != "stdout" || logs[1].Type != "log" ||
		logs[2].Type != "progress" || logs[4].Type != "status" || !strings.Contains(logs[4].Line, `"final":true`) {
		t.Fatalf("logs = %+v", logs)
	}
	// A backup that made a snapshot queues a snapshot refresh on the host.
	refresh := a.waitDispatch().msg
	if refresh.Kind != "snapshots" || refresh.Repository.ID != repoID {
		t.Fatalf("refresh dispatch = %+v", refresh)
	}
}

func TestResentEventsAreStoredOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "flaky")
	s.addRepo(t, "main", "pw-flaky-1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "flaky", backupBody("main"), http.StatusCreated)
	a.waitDispatch()
	for seq := uint64(1); seq <= 5; seq++ {
		a.logEvent(j.ID, seq, fmt.Sprintf("line %d", seq))
	}
	a.waitAck(j.ID, 5)
	// Seq 7 before 6: stored, but the ack stays at the contiguous prefix.
	a.logEvent(j.ID, 7, "line 7")
	time.Sleep(50 * time.Millisecond)
	if got := a.acked(j.ID); got != 5 {
		t.Fatalf("acked up to %d with seq 6 missing, want 5", got)
	}
	_ = a.c.Close("network trouble")

	// After a reconnect the agent resends from its spool, overlapping what
	// the server has; the hub acks the duplicates like new events.
	b := s.connect(t, cred, j.ID)
	for seq := uint64(3); seq <= 9; seq++ {
		b.logEvent(j.ID, seq, fmt.Sprintf("line %d", seq))
	}
	b.finish(j.ID, 10, wire.StatusSucceeded, 0, nil)
	b.waitAck(j.ID, 10)
	b.finish(j.ID, 10, wire.StatusFailed, 1, nil) // a duplicate end changes nothing
	b.waitAck(j.ID, 10)

	logs := s.jobLogs(t, j.ID)
	if len(logs) != 10 {
		t.Fatalf("%d log rows, want 10: %+v", len(logs), logs)
	}
	for i, l := range logs {
		if l.Seq != int64(i+1) {
			t.Fatalf("row %d has seq %d", i, l.Seq)
		}
		if i < 9 && l.Line != fmt.Sprintf("line %d", i+1) {
			t.Fatalf("row %d = %q", i, l.Line)
		}
	}
	if got := s.job(t, j.ID); got.Status != "succeeded" {
		t.Fatalf("job = %+v", got)
	}
}

func TestDispatchToAnOfflineHostWaitsForIt(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "sleepy")
	s.addRepo(t, "main", "pw-sleepy-1", nil)
	j := s.run(t, "sleepy", map[string]any{"kind": "check", "repository": "main"}, http.StatusCreated)
	if j.Status != "queued" {
		t.Fatalf("job for an offline host = %+v", j)
	}
	a := s.connect(t, cred)
	if d := a.waitDispatch().msg; d.JobID != j.ID || d.Kind != "check" {
		t.Fatalf("dispatch = %+v", d)
	}
	eventually(t, "job running", func() bool { return s.job(t, j.ID).Status == "running" })
}

func TestRejectedJobFailsWithTheReason(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "busy")
	s.addRepo(t, "main", "pw-busy-1", nil)
	a := s.connect(t, cred)
	a.onDispatch = func(d wire.JobDispatch) (wire.Type, any) {
		return wire.TypeJobReject, wire.JobReject{JobID: d.JobID, Reason: "repository locked by a running job"}
	}
	j := s.run(t, "busy", map[string]any{"kind": "unlock", "repository": "main"}, http.StatusCreated)
	if j.Status != "failed" || !strings.Contains(j.Error, "repository locked by a running job") || j.ExitCode != nil {
		t.Fatalf("rejected job = %+v", j)
	}
}

func TestQueuedJobFailsAtItsDeadline(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	s.enroll(t, "never")
	s.addRepo(t, "main", "pw-never-1", nil)
	j := s.run(t, "never", map[string]any{"kind": "check", "repository": "main", "deadline": "300ms"}, http.StatusCreated)
	eventually(t, "job past its deadline to fail", func() bool { return s.job(t, j.ID).Status == "failed" })
	if got := s.job(t, j.ID); got.Error != "host never did not come online before the job's deadline" {
		t.Fatalf("expired job = %+v", got)
	}
}

func TestCancelAQueuedJob(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "away")
	s.addRepo(t, "main", "pw-away-1", nil)
	j := s.run(t, "away", map[string]any{"kind": "check", "repository": "main"}, http.StatusCreated)
	var got job
	s.call(t, "POST", "/api/v1/jobs/"+j.ID+"/cancel", s.admin, nil, http.StatusOK, &got)
	if got.Status != "cancelled" || got.Error != "cancelled by root" {
		t.Fatalf("cancelled job = %+v", got)
	}
	s.call(t, "POST", "/api/v1/jobs/"+j.ID+"/cancel", s.admin, nil, http.StatusConflict, nil)
	// The agent coming online later is not sent the cancelled job.
	a := s.connect(t, cred)
	select {
	case d := <-a.dispatches:
		t.Fatalf("cancelled job was dispatched: %+v", d.msg)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestCancelARunningJob(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "worker")
	s.addRepo(t, "main", "pw-worker-1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "worker", backupBody("main"), http.StatusCreated)
	a.waitDispatch()
	a.logEvent(j.ID, 1, "working")
	var got job
	s.call(t, "POST", "/api/v1/jobs/"+j.ID+"/cancel", s.admin, nil, http.StatusAccepted, &got)
	if got.Status != "running" {
		t.Fatalf("job right after cancel = %+v", got)
	}
	select {
	case c := <-a.cancels:
		if c.JobID != j.ID || c.Reason != "cancelled by root" {
			t.Fatalf("job_cancel = %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no job_cancel reached the agent")
	}
	a.finish(j.ID, 2, wire.StatusCancelled, 130, nil)
	a.waitAck(j.ID, 2)
	if got := s.job(t, j.ID); got.Status != "cancelled" {
		t.Fatalf("job = %+v", got)
	}
	s.call(t, "POST", "/api/v1/jobs/"+j.ID+"/cancel", s.admin, nil, http.StatusConflict, nil)
}

func TestAnAgentCannotReportOnAnotherHostsJob(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, credA := s.enroll(t, "alice")
	_, credB := s.enroll(t, "bob")
	s.addRepo(t, "main", "pw-alice-1", nil)
	a := s.connect(t, credA)
	b := s.connect(t, credB)
	j := s.run(t, "alice", backupBody("main"), http.StatusCreated)
	a.waitDispatch()

	b.logEvent(j.ID, 1, "forged line")
	if code := b.closeCode(); code != websocket.ClosePolicyViolation {
		t.Fatalf("forging agent closed with %d, want 1008", code)
	}
	// A finish from B fares no better, on a fresh connection.
	b2 := s.connect(t, credB)
	b2.finish(j.ID, 1, wire.StatusFailed, 1, nil)
	if code := b2.closeCode(); code != websocket.ClosePolicyViolation {
		t.Fatalf("forging agent closed with %d, want 1008", code)
	}
	if logs := s.jobLogs(t, j.ID); len(logs) != 0 {
		t.Fatalf("forged events were stored: %+v", logs)
	}
	if got := s.job(t, j.ID); got.Status != "running" {
		t.Fatalf("forged finish changed the job: %+v", got)
	}
	// The real agent carries on.
	a.logEvent(j.ID, 1, "real line")
	a.waitAck(j.ID, 1)
}

func TestAScheduledRunCreatesItsJob(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "cron")
	repoID := s.addRepo(t, "main", "pw-cron-1", nil)
	schedID := s.createSchedule(t, map[string]any{"host": "cron", "repository": "main", "paths": []string{"/srv"}, "every": "1h"})
	a := s.connect(t, cred)
	const id = "sched-run-0001"
	a.event(id, 1, wire.EventStatus, wire.StatusData{Status: "running", Kind: "backup", ScheduleID: schedID, RepositoryID: repoID})
	a.logEvent(id, 2, "from the schedule")
	a.finish(id, 3, wire.StatusSucceeded, 0, map[string]any{"snapshot_id": strings.Repeat("cd", 32)})
	a.waitAck(id, 3)
	got := s.job(t, id)
	if got.HostID != hostID || got.Kind != "backup" || got.Status != "succeeded" || got.RepositoryID != repoID ||
		got.ScheduleID == nil || *got.ScheduleID != schedID || got.CreatedBy != "schedule" {
		t.Fatalf("scheduled job = %+v", got)
	}
	var list struct {
		Items []job `json:"items"`
	}
	s.call(t, "GET", "/api/v1/jobs?host=cron", s.admin, nil, http.StatusOK, &list)
	if len(list.Items) == 0 || list.Items[len(list.Items)-1].ID != id {
		t.Fatalf("job list of the host = %+v", list.Items)
	}

	// Another agent cannot take the id over.
	_, credB := s.enroll(t, "other")
	b := s.connect(t, credB)
	b.event(id, 4, wire.EventStatus, wire.StatusData{Status: "running", Kind: "backup"})
	if code := b.closeCode(); code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want 1008", code)
	}
}

func TestEventsOfAnUnknownJobAreDroppedAndAcknowledged(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "amnesiac")
	a := s.connect(t, cred)
	a.logEvent("forgotten-job", 4, "old line")
	a.waitAck("forgotten-job", 4)
	if _, err := s.db.GetJob(context.Background(), "forgotten-job"); err == nil {
		t.Fatal("a job was made from a log event")
	}
}

func TestStreamReplaysThenFollowsAndEndsWithTheStatus(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "live")
	s.addRepo(t, "main", "pw-live-1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "live", map[string]any{"kind": "check", "repository": "main"}, http.StatusCreated)
	a.waitDispatch()
	a.logEvent(j.ID, 1, "one")
	a.logEvent(j.ID, 2, "two")
	a.waitAck(j.ID, 2)

	ws := s.stream(t, j.ID)
	for want := int64(1); want <= 2; want++ {
		if f := readFrame(t, ws); f.Frame != "event" || f.Seq != want {
			t.Fatalf("replayed frame = %+v, want seq %d", f, want)
		}
	}
	start := time.Now()
	a.logEvent(j.ID, 3, "three")
	if f := readFrame(t, ws); f.Frame != "event" || f.Seq != 3 || f.Line != "three" {
		t.Fatalf("live frame = %+v", f)
	}
	t.Logf("live tail lag: %s", time.Since(start))
	a.finish(j.ID, 4, wire.StatusFailed, 1, nil)
	if f := readFrame(t, ws); f.Frame != "event" || f.Seq != 4 || f.Type != "status" {
		t.Fatalf("frame = %+v", f)
	}
	f := readFrame(t, ws)
	if f.Frame != "status" || f.Status != "failed" || f.Job == nil || f.Job.ID != j.ID {
		t.Fatalf("last frame = %+v", f)
	}
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after the status frame: %v, want a normal close", err)
	}

	// A stream of an ended job replays and ends at once.
	ws2 := s.stream(t, j.ID)
	for range 4 {
		readFrame(t, ws2)
	}
	if f := readFrame(t, ws2); f.Frame != "status" {
		t.Fatalf("frame = %+v", f)
	}
}

func TestSnapshotsJobRefreshesTheProjection(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "snappy")
	s.addRepo(t, "main", "pw-snappy-1", nil)
	a := s.connect(t, cred)
	snap := func(id, hostname string, at time.Time) map[string]any {
		return map[string]any{
			"id": id, "short_id": id[:8], "time": at.Format(time.RFC3339Nano), "hostname": hostname,
			"paths": []string{"/srv"}, "tags": []string{"t1"}, "tree": strings.Repeat("e", 64),
			"summary": map[string]any{"total_bytes_processed": 1234},
		}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ids := []string{strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)}

	runSnapshots := func(list []map[string]any) {
		t.Helper()
		j := s.run(t, "snappy", map[string]any{"kind": "snapshots", "repository": "main"}, http.StatusCreated)
		a.waitDispatch()
		a.finish(j.ID, 1, wire.StatusSucceeded, 0, list)
		a.waitAck(j.ID, 1)
	}
	runSnapshots([]map[string]any{snap(ids[0], "test-host", t0), snap(ids[1], "test-host", t0.Add(time.Hour)), snap(ids[2], "elsewhere", t0)})

	var page struct {
		Items []struct {
			ID         string   `json:"id"`
			ShortID    string   `json:"short_id"`
			Time       string   `json:"time"`
			Paths      []string `json:"paths"`
			Tags       []string `json:"tags"`
			Hostname   string   `json:"hostname"`
			Repository string   `json:"repository"`
			HostID     string   `json:"host_id"`
			Size       *int     `json:"size"`
		} `json:"items"`
	}
	s.call(t, "GET", "/api/v1/hosts/snappy/snapshots?repository=main", s.admin, nil, http.StatusOK, &page)
	if len(page.Items) != 2 || page.Items[0].ID != ids[1] || page.Items[1].ID != ids[0] {
		t.Fatalf("snapshots of the host = %+v", page.Items)
	}
	first := page.Items[1]
	if first.ShortID != "11111111" || first.Repository != "main" || first.HostID != hostID || first.Hostname != "test-host" ||
		first.Paths[0] != "/srv" || first.Tags[0] != "t1" || first.Size == nil || *first.Size != 1234 {
		t.Fatalf("snapshot = %+v", first)
	}
	// A forget removed one: the next listing drops it from the projection.
	runSnapshots([]map[string]any{snap(ids[1], "test-host", t0.Add(time.Hour))})
	s.call(t, "GET", "/api/v1/hosts/snappy/snapshots", s.admin, nil, http.StatusOK, &page)
	if len(page.Items) != 1 || page.Items[0].ID != ids[1] {
		t.Fatalf("snapshots after the forget = %+v", page.Items)
	}
}

func TestBackupSnapshotIsListedAtOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "quick")
	s.addRepo(t, "main", "pw-quick-1", nil)
	a := s.connect(t, cred)
	a.onDispatch = func(d wire.JobDispatch) (wire.Type, any) {
		if d.Kind == "snapshots" {
			return wire.TypeJobReject, wire.JobReject{JobID: d.JobID, Reason: "not now"}
		}
		return wire.TypeJobAccept, wire.JobAccept{JobID: d.JobID}
	}
	j := s.run(t, "quick", backupBody("main"), http.StatusCreated)
	a.waitDispatch()
	id := strings.Repeat("9f", 32)
	a.event(j.ID, 1, wire.EventSummary, map[string]any{"message_type": "summary", "snapshot_id": id, "backup_end": "2026-03-04T05:06:07Z"})
	a.finish(j.ID, 2, wire.StatusSucceeded, 0, nil)
	a.waitAck(j.ID, 2)
	var page struct {
		Items []struct {
			ID    string   `json:"id"`
			Time  string   `json:"time"`
			Paths []string `json:"paths"`
			JobID string   `json:"job_id"`
		} `json:"items"`
	}
	s.call(t, "GET", "/api/v1/hosts/quick/snapshots", s.admin, nil, http.StatusOK, &page)
	if len(page.Items) != 1 || page.Items[0].ID != id || page.Items[0].Time != "2026-03-04T05:06:07Z" ||
		page.Items[0].Paths[0] != "/srv/data" || page.Items[0].JobID != j.ID {
		t.Fatalf("snapshots after a backup = %+v", page.Items)
	}
	// The refresh queued after the backup was rejected: skipped, not failed.
	var jobs struct {
		Items []job `json:"items"`
	}
	eventually(t, "the refresh to end", func() bool {
		s.call(t, "GET", "/api/v1/jobs?host=quick&status=skipped", s.admin, nil, http.StatusOK, &jobs)
		return len(jobs.Items) == 1
	})
	if r := jobs.Items[0]; r.Kind != "snapshots" || r.CreatedBy != "system" || !strings.Contains(r.Error, "not now") {
		t.Fatalf("refresh = %+v", r)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "vault")
	const password, envSecret = "Pa55word-That-Must-Not-Leak", "env-secret-that-must-not-leak"
	s.addRepo(t, "main", password, map[string]string{"B2_ACCOUNT_KEY": envSecret})
	a := s.connect(t, cred)
	j := s.run(t, "vault", backupBody("main"), http.StatusCreated)
	d := a.waitDispatch().msg
	if d.Repository.Password.Reveal() != password {
		t.Fatal("the agent did not get the password")
	}
	// restic output that (wrongly) holds the secrets is scrubbed on the way in.
	a.logEvent(j.ID, 1, "Fatal: wrong password "+password, "key="+envSecret)
	a.event(j.ID, 2, wire.EventError, map[string]any{"message_type": "error", "error": map[string]string{"message": password}})
	a.send(wire.TypeJobFinished, wire.JobFinished{JobID: j.ID, Seq: 3, Status: "failed", ExitCode: 12, Error: "wrong password " + password})
	a.waitAck(j.ID, 3)

	var seen []string
	seen = append(seen, string(s.call(t, "GET", "/api/v1/jobs/"+j.ID, s.admin, nil, http.StatusOK, nil)))
	seen = append(seen, string(s.call(t, "GET", "/api/v1/jobs/"+j.ID+"/logs", s.admin, nil, http.StatusOK, nil)))
	seen = append(seen, string(s.call(t, "GET", "/api/v1/jobs", s.admin, nil, http.StatusOK, nil)))
	seen = append(seen, string(s.call(t, "GET", "/api/v1/repositories", s.admin, nil, http.StatusOK, nil)))
	seen = append(seen, string(s.call(t, "GET", "/api/v1/audit?limit=1000", s.admin, nil, http.StatusOK, nil)))
	audit, err := s.db.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(audit)
	seen = append(seen, string(b), s.log.String())
	for i, text := range seen {
		for _, secret := range []string{password, envSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("output %d holds a secret: %s", i, text)
			}
		}
	}
	logs := s.jobLogs(t, j.ID)
	if !strings.Contains(logs[0].Line, "wrong password [REDACTED]") || !strings.Contains(s.job(t, j.ID).Error, "[REDACTED]") {
		t.Fatalf("logs = %+v", logs)
	}
	if !strings.Contains(s.log.String(), "job dispatched") {
		t.Fatal("the captured log misses the hub's lines; the check above proves nothing")
	}
}

func TestRunValidatesTheRequest(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	s.enroll(t, "strict")
	s.addRepo(t, "main", "pw-strict-1", nil)
	for name, tc := range map[string]struct {
		body map[string]any
		want int
	}{
		"unknown kind":         {map[string]any{"kind": "restore-everything", "repository": "main"}, http.StatusBadRequest},
		"relative path":        {map[string]any{"kind": "backup", "repository": "main", "paths": []string{"srv"}}, http.StatusBadRequest},
		"no paths":             {map[string]any{"kind": "backup", "repository": "main"}, http.StatusBadRequest},
		"unknown repository":   {map[string]any{"kind": "check", "repository": "nope"}, http.StatusNotFound},
		"forget without rules": {map[string]any{"kind": "forget", "repository": "main"}, http.StatusBadRequest},
		"unknown param":        {map[string]any{"kind": "check", "repository": "main", "params": map[string]any{"rm_rf": true}}, http.StatusBadRequest},
		"paths twice":          {map[string]any{"kind": "backup", "repository": "main", "paths": []string{"/a"}, "params": map[string]any{"paths": []string{"/b"}}}, http.StatusBadRequest},
		"past deadline":        {map[string]any{"kind": "check", "repository": "main", "deadline": "-1h"}, http.StatusBadRequest},
		"NUL in a path":        {map[string]any{"kind": "backup", "repository": "main", "paths": []string{"/a\x00b"}}, http.StatusBadRequest},
		"windows path":         {map[string]any{"kind": "backup", "repository": "main", "paths": []string{`C:\Users`}}, http.StatusCreated},
		"forget with rules":    {map[string]any{"kind": "forget", "repository": "main", "params": map[string]any{"retention": map[string]int{"keep_daily": 7}}}, http.StatusCreated},
		"ls":                   {map[string]any{"kind": "ls", "repository": "main", "params": map[string]any{"snapshots": []string{"latest"}}}, http.StatusCreated},
	} {
		t.Run(name, func(t *testing.T) {
			s.run(t, "strict", tc.body, tc.want)
		})
	}
	s.call(t, "POST", "/api/v1/hosts/nohost/jobs", s.admin, map[string]any{"kind": "check", "repository": "main"}, http.StatusNotFound, nil)
}

func TestLostJobFailsAfterTheGrace(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *hub.Options) { o.OrphanGrace = 300 * time.Millisecond })
	_, cred := s.enroll(t, "forgetful")
	s.addRepo(t, "main", "pw-forgetful-1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "forgetful", backupBody("main"), http.StatusCreated)
	a.waitDispatch()
	_ = a.c.Close("agent crashed")
	// It comes back without the job running and never reports on it.
	s.connect(t, cred)
	eventually(t, "lost job to fail", func() bool { return s.job(t, j.ID).Status == "failed" })
	if got := s.job(t, j.ID); !strings.Contains(got.Error, "lost") {
		t.Fatalf("lost job = %+v", got)
	}
}

func TestRunningJobSurvivesAReconnect(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *hub.Options) { o.OrphanGrace = 200 * time.Millisecond })
	_, cred := s.enroll(t, "steady")
	s.addRepo(t, "main", "pw-steady-1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "steady", backupBody("main"), http.StatusCreated)
	a.waitDispatch()
	_ = a.c.Close("network blip")
	b := s.connect(t, cred, j.ID) // still running on the agent
	time.Sleep(400 * time.Millisecond)
	if got := s.job(t, j.ID); got.Status != "running" {
		t.Fatalf("job after a reconnect = %+v", got)
	}
	b.finish(j.ID, 1, wire.StatusSucceeded, 0, nil)
	b.waitAck(j.ID, 1)
}
