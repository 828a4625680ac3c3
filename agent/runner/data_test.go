package runner

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// jobData is the test server's side of a download: it records each
// job_data and acknowledges it while its seq is within the job's
// dataAckUpTo, then goes silent, as a server whose reader stopped would.
func (s *testServer) jobData(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var d wire.JobData
	if err := env.DecodePayload(&d); err != nil {
		return err
	}
	s.mu.Lock()
	if s.dataSeen == nil {
		s.dataSeen = map[string]uint64{}
	}
	s.dataSeen[d.JobID] = d.Seq
	ack := d.Seq <= s.dataAckUpTo[d.JobID]
	s.notifyLocked()
	s.mu.Unlock()
	if !ack {
		return nil
	}
	return c.Send(ctx, wire.TypeJobDataAck, wire.JobDataAck{JobID: d.JobID, UpToSeq: d.Seq})
}

func (s *testServer) ackDataUpTo(jobID string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dataAckUpTo == nil {
		s.dataAckUpTo = map[string]uint64{}
	}
	s.dataAckUpTo[jobID] = seq
}

func (s *testServer) lastData(jobID string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataSeen[jobID]
}

func withDataStallTimeout(d time.Duration) agentOption {
	return func(c *Config) { c.DataStallTimeout = d }
}

// A download the server stops acknowledging is cancelled by the agent once
// the stall timeout passes, with a reason naming the stall, and restic
// stops and drops its repository lock; a download acknowledged throughout
// completes although it takes longer than the timeout in total.
func TestDumpStallCancels(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	startAgent(t, srv, withDataStallTimeout(3*time.Second))
	srv.waitConnected(1)
	repo := seedRepo(t, "stall")
	// 24 MiB of random data: 96 pieces of 256 KiB, far beyond the window.
	data := writeData(t, 1, 24<<20)
	f := runJob(t, srv, dispatchOf("stall-backup", "backup", repo, map[string]any{"paths": []string{data}}), 120*time.Second)
	mustSucceed(t, f)
	snap := snapshotID(t, f)
	file := data + "/d00/f00000.bin"

	// Acknowledged up to piece 20, then never again.
	srv.ackDataUpTo("stall-dump", 20)
	srv.mustAccept(dispatchOf("stall-dump", "dump", repo, map[string]any{"snapshots": []string{snap}, "paths": []string{file}}))
	fin := srv.waitFinished("stall-dump", 120*time.Second)
	if fin.Status != wire.StatusCancelled || !strings.Contains(fin.Error, "acknowledged none of the download") {
		t.Fatalf("stalled download ended %s: %q, want cancelled for the stall", fin.Status, fin.Error)
	}
	if got, want := srv.lastData("stall-dump"), uint64(20+wire.JobDataWindow); got != want {
		t.Errorf("the agent sent up to piece %d, want %d (the acknowledged ones plus one window)", got, want)
	}
	for deadline := time.Now().Add(60 * time.Second); len(resticLocks(t, repo)) > 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("restic still holds a lock after the stalled download: %v", resticLocks(t, repo))
		}
	}

	// A reader that keeps acknowledging is never cut.
	srv.ackDataUpTo("full-dump", 1<<62)
	fin = runJob(t, srv, dispatchOf("full-dump", "dump", repo, map[string]any{"snapshots": []string{snap}, "paths": []string{file}}), 120*time.Second)
	mustSucceed(t, fin)
	if got := srv.lastData("full-dump"); got < 96 {
		t.Errorf("the full download ended at piece %d, want at least 96", got)
	}
	// The job's record says how many bytes it sent: the file's size.
	var sum struct {
		BytesSent int64 `json:"bytes_sent"`
	}
	if err := json.Unmarshal(fin.Summary, &sum); err != nil || sum.BytesSent != 24<<20 {
		t.Errorf("the dump's summary %s, want bytes_sent %d", fin.Summary, 24<<20)
	}
}
