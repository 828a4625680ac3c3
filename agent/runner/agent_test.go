package runner

import (
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// The first path a user walks: init and back up through the agent, with
// every event delivered once, in order, job_finished last, and the
// repository's secrets in no log line.
func TestInitAndBackup(t *testing.T) {
	srv := newTestServer(t)
	ag := startAgent(t, srv)
	repo := newRepo(t, "main")
	data := writeData(t, 30, 64<<10)

	h := srv.waitConnected(1)
	if h.Hostname != "test-host" || h.OS != runtime.GOOS || h.Arch != runtime.GOARCH ||
		!slices.Equal(h.Backends, []string{"restic"}) || h.ResticVersion == "" {
		t.Fatalf("hello %+v", h)
	}

	initRepo(t, srv, repo)
	f := runJob(t, srv, dispatchOf("backup-1", "backup", repo, map[string]any{"paths": []string{data}, "tags": []string{"nightly"}}), 60*time.Second)
	mustSucceed(t, f)
	id := snapshotID(t, f)
	if f.ExitCode != 0 || f.StartedAt.IsZero() || f.FinishedAt.Before(f.StartedAt) {
		t.Fatalf("job_finished %+v", f)
	}
	if n := snapshotCount(t, repo); n != 1 {
		t.Fatalf("%d snapshots, want 1", n)
	}

	events := srv.stream("backup-1")
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if kinds[0] != "status" || !slices.Contains(kinds, "summary") {
		t.Fatalf("event kinds %v: want a status event first and a summary", kinds)
	}
	var summary struct {
		MessageType string `json:"message_type"`
		SnapshotID  string `json:"snapshot_id"`
		FilesNew    int    `json:"files_new"`
	}
	for _, e := range events {
		if e.Kind == "summary" {
			if err := json.Unmarshal(e.Data, &summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	if summary.MessageType != "summary" || summary.SnapshotID != id || summary.FilesNew != 30 {
		t.Fatalf("summary event %+v, want restic's summary of snapshot %s with 30 new files", summary, id)
	}
	srv.waitAcked("backup-1")

	ag.stop()
	assertNoSecrets(t, "agent log", ag.logs.String(), repo.secrets()...)
	if !strings.Contains(ag.logs.String(), "backup-1") {
		t.Fatalf("the agent log does not mention the job:\n%s", ag.logs.String())
	}
}

// Unknown kinds and bad params are rejected, not run and not a protocol
// error; the connection carries on.
func TestDispatchRejects(t *testing.T) {
	srv := newTestServer(t)
	startAgent(t, srv)
	repo := newRepo(t, "rej")
	srv.waitConnected(1)

	tests := map[string]struct {
		kind   string
		params any
		want   string
	}{
		"unknown kind":  {"defragment", nil, "unknown job kind"},
		"unknown param": {"backup", map[string]any{"pathz": []string{"/"}}, "invalid params"},
		"wrong type":    {"backup", map[string]any{"paths": "/etc"}, "invalid params"},
	}
	for name, tc := range tests {
		d := dispatchOf("rej-"+strings.ReplaceAll(name, " ", "-"), tc.kind, repo, tc.params)
		typ, rej := srv.dispatch(d)
		if typ != wire.TypeJobReject || !strings.Contains(rej.Reason, tc.want) {
			t.Errorf("%s: got %s %q, want a reject saying %q", name, typ, rej.Reason, tc.want)
		}
	}
	if srv.connections() != 1 {
		t.Fatalf("the agent reconnected %d times after rejects", srv.connections()-1)
	}
}
