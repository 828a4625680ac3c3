package spool

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBeginJobRefusesKnownIDs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	mustBegin(t, s, "running")
	mustBegin(t, s, "done")
	mustAppend(t, s, "done", logLine(1))
	if _, err := s.FinishJob("done", Event{Kind: "finished"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("done", 2); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"running", "done"} {
		if err := s.BeginJob(id, JobMeta{}); !errors.Is(err, ErrJobKnown) {
			t.Errorf("begin %s again: %v, want ErrJobKnown", id, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir, Options{})
	for _, id := range []string{"running", "done"} {
		if err := s.BeginJob(id, JobMeta{}); !errors.Is(err, ErrJobKnown) {
			t.Errorf("begin %s after reopen: %v, want ErrJobKnown", id, err)
		}
	}
}

func TestBeginJobValidatesID(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	tests := map[string]string{
		"empty":    "",
		"nul":      "a\x00b",
		"newline":  "a\nb",
		"too long": strings.Repeat("x", maxJobIDLen+1),
	}
	for name, id := range tests {
		t.Run(name, func(t *testing.T) {
			if err := s.BeginJob(id, JobMeta{}); !errors.Is(err, ErrInvalidJobID) {
				t.Fatalf("begin %q: %v, want ErrInvalidJobID", id, err)
			}
		})
	}
}

func TestFinishJob(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	mustAppend(t, s, "j", logLine(1))
	last, err := s.FinishJob("j",
		Event{Kind: "summary", Data: []byte(`{"files_new":3}`)},
		Event{Kind: "finished", Data: []byte(`{"status":"succeeded"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if last != 3 {
		t.Fatalf("finish returned last seq %d, want 3", last)
	}
	job := mustJob(t, s, "j")
	if job.Status != JobFinished || job.FinishedAt.IsZero() || job.LastSeq != 3 {
		t.Fatalf("job after finish = %+v", job)
	}
	if _, err := s.Append("j", logLine(2)); !errors.Is(err, ErrJobFinished) {
		t.Fatalf("append after finish: %v, want ErrJobFinished", err)
	}
	if _, err := s.FinishJob("j"); !errors.Is(err, ErrJobFinished) {
		t.Fatalf("second finish: %v, want ErrJobFinished", err)
	}
	if _, err := s.FinishJob("nope"); !errors.Is(err, ErrJobUnknown) {
		t.Fatalf("finish unknown: %v, want ErrJobUnknown", err)
	}
	entries := mustPending(t, s, "j")
	if len(entries) != 3 || entries[2].Kind != "finished" {
		t.Fatalf("pending after finish = %+v", entries)
	}
	if err := s.Ack("j", 3); err != nil {
		t.Fatal(err)
	}
	if got := mustPending(t, s, "j"); len(got) != 0 {
		t.Fatalf("pending after full ack = %v", got)
	}
	checkConsistent(t, s)
}

func TestActiveJobsAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	mustBegin(t, s, "was-running")
	if err := s.BeginJob("was-done", JobMeta{Kind: "check", Repository: "r1", ScheduleID: "s1", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishJob("was-done"); err != nil {
		t.Fatal(err)
	}
	active, err := s.ActiveJobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].ID != "was-running" || active[0].Orphaned {
		t.Fatalf("active before restart = %+v", active)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDir(t, dir, Options{})
	mustBegin(t, s, "new")
	active, err = s.ActiveJobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 {
		t.Fatalf("active after restart = %+v", active)
	}
	if active[0].ID != "was-running" || !active[0].Orphaned {
		t.Fatalf("job left running by the previous process = %+v, want orphaned", active[0])
	}
	if active[1].ID != "new" || active[1].Orphaned {
		t.Fatalf("job begun after restart = %+v, want not orphaned", active[1])
	}
	done := mustJob(t, s, "was-done")
	if done.Meta.Kind != "check" || done.Meta.Repository != "r1" || done.Meta.ScheduleID != "s1" || string(done.Meta.Data) != "x" {
		t.Fatalf("meta after restart = %+v", done.Meta)
	}

	// What the agent does at start-up: report orphans as failed.
	if _, err := s.FinishJob("was-running", Event{Kind: "failed", Data: []byte(ReasonAgentRestarted)}); err != nil {
		t.Fatal(err)
	}
	if active, _ = s.ActiveJobs(); len(active) != 1 || active[0].ID != "new" {
		t.Fatalf("active after failing the orphan = %+v", active)
	}
}

func TestGCForgetsOldAcknowledgedJobs(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{JobRetention: time.Hour})
	now := time.Now()
	s.now = func() time.Time { return now }

	mustBegin(t, s, "old-acked")
	mustAppend(t, s, "old-acked", logLine(1))
	if _, err := s.FinishJob("old-acked"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("old-acked", 1); err != nil {
		t.Fatal(err)
	}
	mustBegin(t, s, "old-unacked")
	mustAppend(t, s, "old-unacked", logLine(1))
	if _, err := s.FinishJob("old-unacked"); err != nil {
		t.Fatal(err)
	}
	mustBegin(t, s, "old-running")
	mustBegin(t, s, "recent")

	now = now.Add(2 * time.Hour)
	if _, err := s.FinishJob("recent"); err != nil {
		t.Fatal(err)
	}

	n, err := s.GC()
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("GC removed %d jobs, want 1", n)
	}
	if _, err := s.Job("old-acked"); !errors.Is(err, ErrJobUnknown) {
		t.Fatalf("old acknowledged job after GC: %v, want ErrJobUnknown", err)
	}
	for _, id := range []string{"old-unacked", "old-running", "recent"} {
		mustJob(t, s, id)
	}
	if got := mustPending(t, s, "old-unacked"); len(got) != 1 {
		t.Fatalf("unacknowledged events of an old job were lost: %v", got)
	}
	checkConsistent(t, s)
}
