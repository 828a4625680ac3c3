package runner

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// The server drops the connection again and again, abruptly and with a
// close frame, while a backup and an ls (thousands of log events) run:
// after each reconnect the agent resends what was not acknowledged, and
// the server ends up with every seq of each job exactly once, 1…N without
// a gap, job_finished last, and everything acknowledged.
func TestDroppedConnectionsLoseNothing(t *testing.T) {
	srv := newTestServer(t)
	ag := startAgent(t, srv, withProgressFPS(20))
	repo := seedRepo(t, "drops")
	data := writeData(t, 1500, 2<<10)
	big := writeData(t, 2, 24<<20)
	srv.waitConnected(1)

	var stop chan struct{}
	var wg sync.WaitGroup
	dropper := func() {
		stop = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(60+rand.IntN(140)) * time.Millisecond):
				}
				srv.drop(i%2 == 0)
			}
		}()
	}
	halt := func() {
		close(stop)
		wg.Wait()
	}

	began := time.Now()
	dropper()
	backup := runJob(t, srv, dispatchOf("drop-backup", "backup", repo, map[string]any{"paths": []string{data, big}}), 90*time.Second)
	halt()
	mustSucceed(t, backup)
	snap := snapshotID(t, backup)
	t.Logf("backup took %s", time.Since(began))
	began = time.Now()

	dropper()
	ls := runJob(t, srv, dispatchOf("drop-ls", "ls", repo, map[string]any{"snapshots": []string{snap}}), 90*time.Second)
	halt()
	mustSucceed(t, ls)
	t.Logf("ls took %s", time.Since(began))

	for _, id := range []string{"drop-backup", "drop-ls"} {
		srv.waitAcked(id)
		events := srv.stream(id)
		t.Logf("%s: %d events, %d duplicates received", id, len(events), srv.dupesOf(id))
	}
	nodes := 0
	lsEvents := srv.stream("drop-ls")
	for _, line := range logLines(t, lsEvents) {
		if strings.Contains(line, `"message_type":"node"`) {
			nodes++
		}
	}
	if nodes < 1500 {
		t.Fatalf("ls delivered %d node lines, want at least 1500", nodes)
	}
	// Lines that come together share an event.
	if len(lsEvents) > nodes/4 {
		t.Fatalf("ls delivered %d node lines in %d events: its lines were not put together", nodes, len(lsEvents))
	}
	if c := srv.connections(); c < 4 {
		t.Fatalf("only %d connections: the test did not drop enough", c)
	}
	if n := snapshotCount(t, repo); n != 1 {
		t.Fatalf("%d snapshots after one backup", n)
	}
	ag.stop()
	assertNoSecrets(t, "agent log", ag.logs.String(), repo.secrets()...)
}

// A job id runs once: dispatched again while its events wait for
// acknowledgement, it is accepted and its events are sent again; dispatched
// after it is acknowledged, or to a restarted agent, it is accepted and
// nothing runs.
func TestKnownJobIsNotRunAgain(t *testing.T) {
	srv := newTestServer(t)
	state := t.TempDir()
	ag := startAgent(t, srv, withStateDir(state))
	repo := seedRepo(t, "once")
	data := writeData(t, 5, 4<<10)
	srv.waitConnected(1)

	d := dispatchOf("once-1", "backup", repo, map[string]any{"paths": []string{data}})
	srv.setHoldAcks(d.JobID, true)
	mustSucceed(t, runJob(t, srv, d, 60*time.Second))
	n := srv.eventCount(d.JobID)

	srv.mustAccept(d) // again, while nothing is acknowledged
	srv.waitFor(30*time.Second, "the job's events sent again", func() bool { return srv.dupes[d.JobID] >= n })
	srv.setHoldAcks(d.JobID, false)
	srv.mustAccept(d) // and again, to have them acknowledged
	srv.waitAcked(d.JobID)

	srv.mustAccept(d) // finished and acknowledged: nothing to send, nothing to run
	ag.stop()
	ag = startAgent(t, srv, withStateDir(state))
	srv.waitConnected(srv.connections() + 1)
	srv.mustAccept(d) // a new agent process on the same state dir
	time.Sleep(500 * time.Millisecond)

	if got := srv.eventCount(d.JobID); got != n {
		t.Fatalf("the job has %d events after the dispatches, want the %d of its one run", got, n)
	}
	if c := snapshotCount(t, repo); c != 1 {
		t.Fatalf("%d snapshots: the job ran more than once", c)
	}
	if strings.Count(ag.logs.String(), "job accepted") != 0 {
		t.Fatalf("the restarted agent accepted the job as new:\n%s", ag.logs.String())
	}
}

// Cancelling a backup of ~200 MB stops restic's process group: the job
// ends cancelled promptly, no restic process is left, and restic removed
// its lock.
func TestCancelStopsRestic(t *testing.T) {
	srv := newTestServer(t)
	ag := startAgent(t, srv, withProgressFPS(4))
	repo := seedRepo(t, "cancel")
	data := writeData(t, 4, 50<<20)
	srv.waitConnected(1)

	d := dispatchOf("cancel-1", "backup", repo, map[string]any{"paths": []string{data}})
	srv.mustAccept(d)
	srv.waitEvent(d.JobID, "progress", 60*time.Second)
	if len(grandchildren()) == 0 {
		t.Fatal("no restic process runs during the backup")
	}
	began := time.Now()
	srv.cancel(d.JobID)
	f := srv.waitFinished(d.JobID, 30*time.Second)
	took := time.Since(began)
	if f.Status != wire.StatusCancelled || !strings.Contains(f.Error, "cancelled") {
		t.Fatalf("job_finished %s %q, want cancelled", f.Status, f.Error)
	}
	if took > 10*time.Second {
		t.Fatalf("the cancelled job reported after %s", took)
	}
	if left := grandchildren(); len(left) > 0 {
		t.Fatalf("restic processes left after the cancelled job reported: %v", left)
	}
	if locks := resticLocks(t, repo); len(locks) > 0 {
		t.Fatalf("restic left locks %v", locks)
	}
	srv.stream(d.JobID)
	t.Logf("cancelled after %s", took.Round(time.Millisecond))
	ag.stop()
	assertNoSecrets(t, "agent log", ag.logs.String(), repo.secrets()...)
}

// One restic job per repository at a time: two jobs on one repository run
// one after the other, jobs on different repositories in parallel.
func TestOneJobPerRepository(t *testing.T) {
	srv := newTestServer(t)
	startAgent(t, srv)
	a, b := seedRepo(t, "a"), seedRepo(t, "b")
	data := writeData(t, 10, 256<<10)
	srv.waitConnected(1)
	params := map[string]any{"paths": []string{data}}

	srv.mustAccept(dispatchOf("same-1", "backup", a, params))
	srv.mustAccept(dispatchOf("same-2", "backup", a, params))
	f1, f2 := srv.waitFinished("same-1", 60*time.Second), srv.waitFinished("same-2", 60*time.Second)
	mustSucceed(t, f1)
	mustSucceed(t, f2)
	if f2.StartedAt.Before(f1.FinishedAt) {
		t.Fatalf("same repository: the second job started at %s, before the first finished at %s", f2.StartedAt, f1.FinishedAt)
	}
	var st wire.StatusData
	if err := json.Unmarshal(srv.stream("same-2")[0].Data, &st); err != nil || !strings.Contains(st.Message, "after another job") {
		t.Fatalf("the waiting job's status event %+v (%v) does not say it waited", st, err)
	}

	srv.mustAccept(dispatchOf("par-a", "backup", a, params))
	srv.mustAccept(dispatchOf("par-b", "backup", b, params))
	fa, fb := srv.waitFinished("par-a", 60*time.Second), srv.waitFinished("par-b", 60*time.Second)
	mustSucceed(t, fa)
	mustSucceed(t, fb)
	if !fa.StartedAt.Before(fb.FinishedAt) || !fb.StartedAt.Before(fa.FinishedAt) {
		t.Fatalf("different repositories did not run in parallel: a %s–%s, b %s–%s",
			fa.StartedAt, fa.FinishedAt, fb.StartedAt, fb.FinishedAt)
	}
}
