package hub

import (
	"context"
	"errors"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

// recordingTap keeps the lines of the jobs it taps.
type recordingTap struct {
	jobs  map[string]bool
	lines map[string][]string
	err   error
}

func (r *recordingTap) Tapped(jobID string) bool { return r.jobs[jobID] }

func (r *recordingTap) Nodes(_ context.Context, jobID string, lines []string) error {
	if r.err != nil {
		return r.err
	}
	r.lines[jobID] = append(r.lines[jobID], lines...)
	return nil
}

func TestDivertTakesNodeLinesOfTappedJobs(t *testing.T) {
	t.Parallel()
	node := func(p string) string { return `{"message_type":"node","name":"x","type":"file","path":"` + p + `"}` }
	rows := []store.JobLog{
		{JobID: "ls", Seq: 1, Stream: streamStdout, Type: "log", Line: node("/a") + "\n" + node("/b")},
		{JobID: "ls", Seq: 2, Stream: streamStdout, Type: "log", Line: `{"message_type":"snapshot","id":"x"}` + "\n" + node("/c")},
		{JobID: "ls", Seq: 3, Stream: streamStderr, Type: "log", Line: node("/stderr")},
		{JobID: "other", Seq: 1, Stream: streamStdout, Type: "log", Line: node("/d")},
	}
	h := &Hub{}
	tap := &recordingTap{jobs: map[string]bool{"ls": true}, lines: map[string][]string{}}
	h.SetTap(tap)
	if err := h.divert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if got := tap.lines["ls"]; len(got) != 3 || got[2] != node("/c") {
		t.Errorf("tapped lines %q", got)
	}
	if len(tap.lines["other"]) != 0 {
		t.Errorf("an untapped job's lines were taken: %q", tap.lines["other"])
	}
	if rows[0].Stream != streamEvent || rows[0].Type != typeNodes || rows[0].Line != `{"nodes":2}` {
		t.Errorf("row of node lines only: %+v", rows[0])
	}
	if rows[1].Line != `{"message_type":"snapshot","id":"x"}` || rows[1].Stream != streamStdout {
		t.Errorf("row with another line: %+v", rows[1])
	}
	if rows[2].Line != node("/stderr") || rows[3].Line != node("/d") {
		t.Errorf("stderr or untapped rows changed: %+v %+v", rows[2], rows[3])
	}

	failing := &recordingTap{jobs: map[string]bool{"ls": true}, err: errors.New("disk full")}
	h.SetTap(failing)
	rows = []store.JobLog{{JobID: "ls", Seq: 4, Stream: streamStdout, Line: node("/e")}}
	if err := h.divert(t.Context(), rows); err == nil {
		t.Error("a failing tap's error was swallowed: the batch would be acknowledged without its entries")
	}
	h.SetTap(nil)
	rows = []store.JobLog{{JobID: "ls", Seq: 5, Stream: streamStdout, Line: node("/f")}}
	if err := h.divert(t.Context(), rows); err != nil || rows[0].Line != node("/f") {
		t.Errorf("without a tap: %+v, %v", rows[0], err)
	}
}
