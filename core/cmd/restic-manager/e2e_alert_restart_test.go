package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/server"
	"github.com/restic-manager/restic-manager/core/store"
)

// jobFailedHCL notifies every failed job on the webhook.
const jobFailedHCL = `
alert "failed" {
  on       = "job_failed"
  channels = ["hook"]
}
`

// A job whose end the server recorded but never evaluated for alerts —
// the state a crash between the two leaves in the database — is evaluated
// when the server starts again, and notified once.
func TestEndToEndJobEndEvaluatedAfterRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	in := &inbox{}
	r.withConfig(startReceivers(t, in) + jobFailedHCL)
	hostName := fmt.Sprint(r.host()["name"])

	// The server is down; the job's end is in its database, unevaluated.
	r.stopServer()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(r.srv.dataDir, server.DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := db.GetRepository(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	id, now, code := auth.NewID(), time.Now(), 1
	if err := db.CreateJob(ctx, store.Job{ID: id, HostID: r.hostID, Kind: "backup", Status: store.JobQueued, RepositoryID: repo.ID, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishJob(ctx, id, store.JobEnd{Status: store.JobFailed, ExitCode: &code, Error: "Fatal: crashed before the alert", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r.restartServer()
	got := in.wait(t, "job_failed", "backup of "+hostName+" failed", "webhook")["webhook"]
	t.Logf("notified %s after the job's end, across the restart", got.at.Sub(now).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // a second evaluation would show up by now
	if n := len(in.matching("job_failed", "backup of "+hostName)); n != 1 {
		t.Fatalf("%d job_failed notifications, want one:\n%s", n, in.dump())
	}
}
