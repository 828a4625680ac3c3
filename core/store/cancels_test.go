package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A pending cancel outlives the process: it is listed after the database
// is opened again, until it is deleted or its job ends.
func TestPendingCancelsSurviveAReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rm.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addHost(t, db, "h1")
	addHost(t, db, "h2")
	for _, j := range []Job{
		{ID: "run1", HostID: "h1", Kind: "backup", Status: JobQueued, CreatedAt: t0},
		{ID: "run2", HostID: "h1", Kind: "check", Status: JobQueued, CreatedAt: t0},
		{ID: "other", HostID: "h2", Kind: "check", Status: JobQueued, CreatedAt: t0},
		{ID: "done", HostID: "h1", Kind: "check", Status: JobQueued, CreatedAt: t0},
	} {
		if err := db.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if err := db.StartJob(ctx, j.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	code := 0
	if err := db.FinishJob(ctx, "done", JobEnd{Status: JobSucceeded, ExitCode: &code, At: t0}); err != nil {
		t.Fatal(err)
	}
	save := func(job, host, reason string, at time.Time) error {
		return db.SavePendingCancel(ctx, PendingCancel{JobID: job, HostID: host, Reason: reason, RequestedAt: at})
	}
	for _, c := range []struct {
		job, host, reason string
		at                time.Time
	}{
		{"run2", "h1", "first", t0.Add(2 * time.Second)},
		{"run1", "h1", "stop it", t0.Add(time.Second)},
		{"run2", "h1", "stop that too", t0.Add(3 * time.Second)}, // replaces the first
		{"other", "h2", "elsewhere", t0},
	} {
		if err := save(c.job, c.host, c.reason, c.at); err != nil {
			t.Fatal(err)
		}
	}
	if err := save("done", "h1", "too late", t0); !errors.Is(err, ErrJobFinished) {
		t.Fatalf("cancel of an ended job saved: %v", err)
	}
	if err := save("missing", "h1", "no such job", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel of a missing job saved: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	got, err := db.PendingCancels(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].JobID != "run1" || got[0].Reason != "stop it" || !got[0].RequestedAt.Equal(t0.Add(time.Second)) ||
		got[1].JobID != "run2" || got[1].Reason != "stop that too" || got[1].HostID != "h1" {
		t.Fatalf("pending cancels of h1 after a reopen = %+v", got)
	}

	// Delivered: gone. Its job ended: left out.
	if err := db.DeletePendingCancel(ctx, "run1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeletePendingCancel(ctx, "run1"); err != nil {
		t.Fatalf("deleting it again: %v", err)
	}
	if err := db.FinishJob(ctx, "run2", JobEnd{Status: JobCancelled, At: t0}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.PendingCancels(ctx, "h1"); err != nil || len(got) != 0 {
		t.Fatalf("pending cancels of h1 = %+v, %v; want none", got, err)
	}
	var rows int
	if err := db.r.QueryRow(`SELECT count(*) FROM job_cancels WHERE host_id = 'h1'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows of h1 left (%v): the ended job's cancel was kept", rows, err)
	}
	if got, err := db.PendingCancels(ctx, "h2"); err != nil || len(got) != 1 || got[0].JobID != "other" {
		t.Fatalf("pending cancels of h2 = %+v, %v", got, err)
	}
}
