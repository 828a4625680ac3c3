package store

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestDiffJobReuse(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addRepository(t, db, "r1")
	params := json.RawMessage(`{"snapshots":["aaa","bbb"]}`)
	job := func(id string, at time.Time) Job {
		return Job{ID: id, HostID: "h1", Kind: KindDiff, Status: JobQueued, RepositoryID: "r1", Params: params, CreatedBy: "u1", CreatedAt: at}
	}
	if _, err := db.FindDiffJob(ctx, "h1", "r1", params); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no job yet: %v", err)
	}

	// Concurrent starts for one pair make one job.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	made := make([]bool, 8)
	for i := range ids {
		wg.Go(func() {
			j, created, err := db.StartDiffJob(ctx, job("d"+string(rune('0'+i)), t0))
			if err != nil {
				t.Error(err)
			}
			ids[i], made[i] = j.ID, created
		})
	}
	wg.Wait()
	n := 0
	for i := range ids {
		if made[i] {
			n++
		}
		if ids[i] != ids[0] {
			t.Errorf("start %d returned job %s, start 0 returned %s", i, ids[i], ids[0])
		}
	}
	if n != 1 {
		t.Fatalf("%d jobs created for one pair, want 1", n)
	}
	first := ids[0]

	// A failed job is not reused: the next start makes a new one.
	if err := db.FinishJob(ctx, first, JobEnd{Status: JobFailed, Error: "boom", At: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if j, err := db.FindDiffJob(ctx, "h1", "r1", params); err != nil || j.ID != first || j.Status != JobFailed {
		t.Fatalf("find after failure: %+v %v", j, err)
	}
	second, created, err := db.StartDiffJob(ctx, job("second", t0.Add(2*time.Second)))
	if err != nil || !created || second.ID != "second" {
		t.Fatalf("start after failure: %+v created=%v %v", second, created, err)
	}
	if err := db.FinishJob(ctx, "second", JobEnd{Status: JobSucceeded, At: t0.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	// A newer failed job does not hide the succeeded one.
	if err := db.CreateJob(ctx, job("third", t0.Add(4*time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishJob(ctx, "third", JobEnd{Status: JobFailed, At: t0.Add(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if j, err := db.FindDiffJob(ctx, "h1", "r1", params); err != nil || j.ID != "second" {
		t.Fatalf("find prefers the succeeded job: %+v %v", j, err)
	}
	if j, created, err := db.StartDiffJob(ctx, job("fourth", t0.Add(6*time.Second))); err != nil || created || j.ID != "second" {
		t.Fatalf("start with a succeeded job: %+v created=%v %v", j, created, err)
	}
	// Another pair, or the pair reversed, is another diff.
	if _, err := db.FindDiffJob(ctx, "h1", "r1", json.RawMessage(`{"snapshots":["bbb","aaa"]}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("reversed pair: %v", err)
	}
	if _, _, err := db.StartDiffJob(ctx, Job{ID: "x", HostID: "h1", Kind: "ls", Status: JobQueued, CreatedAt: t0}); err == nil {
		t.Error("StartDiffJob took an ls job")
	}
}
