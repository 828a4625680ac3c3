package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// addHost inserts a bare host row for job tests.
func addHost(t testing.TB, db *DB, id string) {
	t.Helper()
	_, err := db.w.Exec(`INSERT INTO hosts (id, name, enrolled_at, created_at, updated_at) VALUES (?,?,?,?,?)`,
		id, id, ms(t0), ms(t0), ms(t0))
	if err != nil {
		t.Fatal(err)
	}
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	j := Job{ID: "j1", HostID: "h1", Kind: "backup", Status: JobQueued, CreatedAt: t0, Params: json.RawMessage(`{"paths":["/srv"]}`)}
	if err := db.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateJob(ctx, j); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create of the same job id: %v, want ErrConflict", err)
	}
	if err := db.StartJob(ctx, "j1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.StartJob(ctx, "j1", t0.Add(time.Second)); !errors.Is(err, ErrConflict) {
		t.Fatalf("starting a running job: %v", err)
	}
	code := 0
	end := JobEnd{Status: JobSucceeded, ExitCode: &code, Summary: json.RawMessage(`{"snapshot_id":"abc"}`), At: t0.Add(time.Minute)}
	if err := db.FinishJob(ctx, "j1", end); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishJob(ctx, "j1", JobEnd{Status: JobFailed, At: t0.Add(2 * time.Minute)}); !errors.Is(err, ErrJobFinished) {
		t.Fatalf("second ending: %v, want ErrJobFinished", err)
	}
	if err := db.StartJob(ctx, "j1", t0); !errors.Is(err, ErrJobFinished) {
		t.Fatalf("restarting a finished job: %v", err)
	}
	got, err := db.GetJob(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != JobSucceeded || *got.ExitCode != 0 || string(got.Summary) != `{"snapshot_id":"abc"}` ||
		!got.StartedAt.Equal(t0.Add(time.Second)) || !got.FinishedAt.Equal(t0.Add(time.Minute)) || string(got.Params) != `{"paths":["/srv"]}` {
		t.Fatalf("job = %+v", got)
	}
	if err := db.FinishJob(ctx, "j1", JobEnd{Status: JobRunning}); err == nil {
		t.Fatal("a non-terminal ending was accepted")
	}
	if err := db.FinishJob(ctx, "missing", JobEnd{Status: JobFailed, At: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finishing a missing job: %v", err)
	}
}

func TestJobEndsExactlyOnce(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	if err := db.CreateJob(ctx, Job{ID: "j", HostID: "h1", Kind: "backup", Status: JobRunning, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	statuses := []string{JobSucceeded, JobFailed, JobCancelled, JobFailed, JobSucceeded, JobCancelled}
	var wg sync.WaitGroup
	wins := make(chan string, len(statuses))
	for _, s := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.FinishJob(ctx, "j", JobEnd{Status: s, At: t0}); err == nil {
				wins <- s
			} else if !errors.Is(err, ErrJobFinished) {
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var won []string
	for s := range wins {
		won = append(won, s)
	}
	got, _ := db.GetJob(ctx, "j")
	if len(won) != 1 || got.Status != won[0] {
		t.Fatalf("endings that won: %v; stored status %s", won, got.Status)
	}
}

func TestJobLogsStoredOnce(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	_ = db.CreateJob(ctx, Job{ID: "j", HostID: "h1", Kind: "backup", Status: JobRunning, CreatedAt: t0})
	batch := func(from, to int64) []JobLog {
		var out []JobLog
		for s := from; s <= to; s++ {
			out = append(out, JobLog{JobID: "j", Seq: s, Time: t0, Stream: "stdout", Type: "log", Line: fmt.Sprint("line ", s)})
		}
		return out
	}
	n, err := db.AppendJobLogs(ctx, batch(1, 1200))
	if err != nil || n != 1200 {
		t.Fatalf("first batch: %d, %v", n, err)
	}
	// A resend after a reconnect overlaps what is stored.
	n, err = db.AppendJobLogs(ctx, batch(1100, 1300))
	if err != nil || n != 100 {
		t.Fatalf("overlapping resend stored %d new rows, %v; want 100", n, err)
	}
	j, _ := db.GetJob(ctx, "j")
	if j.LastSeq != 1300 {
		t.Fatalf("last_seq = %d", j.LastSeq)
	}
	var all []JobLog
	after := int64(0)
	for {
		page, err := db.JobLogs(ctx, "j", after, 512)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	if len(all) != 1300 {
		t.Fatalf("read back %d lines, want 1300", len(all))
	}
	for i, l := range all {
		if l.Seq != int64(i+1) || l.Line != fmt.Sprint("line ", i+1) {
			t.Fatalf("line %d = %+v", i, l)
		}
	}
	if _, err := db.AppendJobLogs(ctx, []JobLog{{JobID: "nojob", Seq: 1, Time: t0, Line: "x"}}); err == nil {
		t.Fatal("a log line for a missing job was stored")
	}
}

func TestListAndExpireJobs(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addHost(t, db, "h2")
	deadline := t0.Add(time.Hour)
	for i := range 5 {
		host := "h1"
		if i%2 == 1 {
			host = "h2"
		}
		if err := db.CreateJob(ctx, Job{
			ID: fmt.Sprint("j", i), HostID: host, Kind: "backup", Status: JobQueued,
			CreatedAt: t0.Add(time.Duration(i) * time.Second), DeadlineAt: &deadline,
		}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(js []Job) string {
		var s []string
		for _, j := range js {
			s = append(s, j.ID)
		}
		return strings.Join(s, ",")
	}
	page, _ := db.ListJobs(ctx, JobFilter{Limit: 2})
	if ids(page) != "j4,j3" {
		t.Fatalf("first page %s", ids(page))
	}
	page, _ = db.ListJobs(ctx, JobFilter{Limit: 10, Before: "j3"})
	if ids(page) != "j2,j1,j0" {
		t.Fatalf("after cursor %s", ids(page))
	}
	page, _ = db.ListJobs(ctx, JobFilter{Limit: 10, HostID: "h2"})
	if ids(page) != "j3,j1" {
		t.Fatalf("host filter %s", ids(page))
	}
	_ = db.StartJob(ctx, "j0", t0)
	expired, err := db.ExpireQueuedJobs(ctx, deadline, "host stayed offline past the job's deadline")
	if err != nil || len(expired) != 4 {
		t.Fatalf("expired %v, %v", expired, err)
	}
	j, _ := db.GetJob(ctx, "j1")
	if j.Status != JobFailed || !strings.Contains(j.Error, "offline") {
		t.Fatalf("expired job = %+v", j)
	}
	if j, _ := db.GetJob(ctx, "j0"); j.Status != JobRunning {
		t.Fatalf("a running job was expired: %s", j.Status)
	}
	page, _ = db.ListJobs(ctx, JobFilter{Limit: 10, Status: JobRunning})
	if ids(page) != "j0" {
		t.Fatalf("status filter %s", ids(page))
	}
}

// BenchmarkAppendJobLogs measures log ingestion into SQLite: batches of
// 1,000 lines of 200 bytes, as the hub writes them. Reported as lines/s.
func BenchmarkAppendJobLogs(b *testing.B) {
	db, err := Open(context.Background(), b.TempDir()+"/bench.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	addHost(b, db, "h")
	ctx := context.Background()
	_ = db.CreateJob(ctx, Job{ID: "j", HostID: "h", Kind: "backup", Status: JobRunning, CreatedAt: t0})
	line := strings.Repeat("x", 200)
	const batch = 1000
	seq := int64(0)
	logs := make([]JobLog, batch)
	b.ResetTimer()
	for range b.N {
		for i := range logs {
			seq++
			logs[i] = JobLog{JobID: "j", Seq: seq, Time: t0, Stream: "stdout", Type: "log", Line: line}
		}
		if _, err := db.AppendJobLogs(ctx, logs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "lines/s")
}
