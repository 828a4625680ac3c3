package ui

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The rig's backup steps shared by the snapshot, download and restore
// browser tests: a real backup through an agent, the snapshot it made as
// the API lists it, and the restore wizard's last step.

// snapshotRef is a snapshot as the host's snapshot list names it.
type snapshotRef struct{ ID, ShortID string }

// backup backs paths up into repo through h's agent and fails the test
// unless the job succeeds.
func (r *rig) backup(h *agentHost, repo string, paths ...string) {
	r.t.Helper()
	if st := r.waitJob(r.runJob(h, map[string]any{"kind": "backup", "repository": repo, "paths": paths})); st != "succeeded" {
		r.t.Fatalf("backup: %s", st)
	}
}

// firstSnapshot waits until h's snapshot list holds a snapshot and
// returns the first one listed.
func (r *rig) firstSnapshot(h *agentHost) snapshotRef {
	r.t.Helper()
	var snap snapshotRef
	eventually(r.t, 30*time.Second, "the snapshot listed", func() bool {
		var page struct {
			Items []struct {
				ID      string `json:"id"`
				ShortID string `json:"short_id"`
			} `json:"items"`
		}
		r.api(http.MethodGet, "/api/v1/hosts/"+h.ID+"/snapshots", nil, http.StatusOK, &page)
		if len(page.Items) == 0 {
			return false
		}
		snap.ID, snap.ShortID = page.Items[0].ID, page.Items[0].ShortID
		return true
	})
	return snap
}

// backedUpFile is one file of a tree that a backup holds.
type backedUpFile struct {
	// Path is the file's path on the host that was backed up.
	Path string
	// Want is the file's content at the backup.
	Want []byte
	// Snap is the snapshot that holds it.
	Snap snapshotRef
}

// backUpTree writes files random files of 4 KiB under a new directory,
// backs it up into repo through h and returns the file at rel (relative
// to that directory, e.g. "d00/f001.bin") with the snapshot.
func (r *rig) backUpTree(h *agentHost, repo string, files int, rel string) backedUpFile {
	r.t.Helper()
	src := filepath.Join(r.t.TempDir(), "src")
	writeJobTree(r.t, src, files, 4<<10)
	f := backedUpFile{Path: filepath.Join(src, filepath.FromSlash(rel))}
	var err error
	if f.Want, err = os.ReadFile(f.Path); err != nil {
		r.t.Fatal(err)
	}
	r.backup(h, repo, src)
	f.Snap = r.firstSnapshot(h)
	return f
}

// startRestore starts the restore from the wizard's confirm step and
// waits on the job page, for up to timeout, until the restore succeeds.
func startRestore(ctx context.Context, t *testing.T, timeout time.Duration) {
	t.Helper()
	do(ctx, t, "start the restore",
		chromedp.Click(chromedp.CSS("#restore-start")),
		chromedp.WaitVisible(chromedp.CSS("#job-status")))
	waitJS(ctx, t, timeout, "the restore to succeed", `document.querySelector("#job-status").dataset.status === "succeeded"`)
}

// wantFile fails the test unless the file at path holds exactly want.
func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the file is not back at %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the restored file differs (%d bytes, want %d)", len(got), len(want))
	}
}
