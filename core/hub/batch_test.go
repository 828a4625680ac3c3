package hub_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// A job's end is recorded as soon as its job_finished arrives, with the
// events before it stored first, even though the batch window (an hour
// here) has far to go: nobody waits for the batcher's timer to see a job
// end. Events without a job_finished still wait for the window.
func TestJobEndIsStoredWithoutWaitingForTheBatch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *hub.Options) { o.FlushInterval = time.Hour })
	_, cred := s.enroll(t, "quick")
	s.addRepo(t, "main", "repo password 1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "quick", map[string]any{"kind": "check", "repository": "main"}, http.StatusCreated)
	a.waitDispatch()

	a.event(j.ID, 1, wire.EventStatus, wire.StatusData{Status: "running"})
	a.logEvent(j.ID, 2, "using temporary cache", "create exclusive lock for repository")
	a.logEvent(j.ID, 3, "load indexes")
	// Batching still holds back events that are not a job's end.
	time.Sleep(100 * time.Millisecond)
	if got := a.acked(j.ID); got != 0 {
		t.Fatalf("events acknowledged up to %d before the batch closed", got)
	}
	if got := s.job(t, j.ID); got.Status != "running" {
		t.Fatalf("job is %s before its end arrived", got.Status)
	}

	a.logEvent(j.ID, 4, "no errors were found")
	sent := time.Now()
	a.finish(j.ID, 5, wire.StatusSucceeded, 0, nil)
	a.waitAck(j.ID, 5)
	t.Logf("job_finished acknowledged %s after it was sent", time.Since(sent).Round(time.Millisecond))

	got := s.job(t, j.ID)
	if got.Status != "succeeded" || got.FinishedAt == nil {
		t.Fatalf("job after job_finished = %+v", got)
	}
	logs := s.jobLogs(t, j.ID)
	want := []string{"status", "log", "log", "log", "status"}
	if len(logs) != len(want) {
		t.Fatalf("logs = %+v", logs)
	}
	for i, l := range logs {
		if l.Seq != int64(i+1) || l.Type != want[i] {
			t.Fatalf("log %d = %+v, want seq %d of type %s", i, l, i+1, want[i])
		}
	}
	if logs[1].Line != "using temporary cache\ncreate exclusive lock for repository" || logs[3].Line != "no errors were found" ||
		!strings.Contains(logs[4].Line, `"final":true`) {
		t.Fatalf("logs = %+v", logs)
	}
}
