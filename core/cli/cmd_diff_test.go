package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// diffServer is the real API on a real store with host "web1" online and
// two snapshots of it; the agent's part of a diff job is written to the
// store as the hub writes it (the real agent and restic are in
// core/cmd/restic-manager/e2e_diff_test.go).
type diffServer struct {
	db     *store.DB
	in     invocation
	hostID string
	from   string
	to     string
}

func newDiffServer(t *testing.T) *diffServer {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	srv := httptest.NewServer(api.New(api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams}))
	t.Cleanup(srv.Close)
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, srv.URL+"/api/v1/bootstrap", map[string]string{
		"setup_token": setup, "username": "root", "password": "correct horse battery",
	}, http.StatusCreated, &boot)
	in := invocation{env: map[string]string{envAddr: srv.URL, envToken: boot.Token}}
	r := in.run(t, "enroll-token", "create", "--json")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
		t.Fatalf("enroll-token: %v %s", err, r.stderr)
	}
	d := &diffServer{
		db: db, in: in, hostID: agentEnroll(t, srv.URL, tok.Token, "web1"),
		from: strings.Repeat("a1", 32), to: strings.Repeat("b2", 32),
	}
	now := time.Now()
	if err := db.CreateRepository(ctx, store.Repository{ID: "r1", Name: "offsite", URL: "/srv/repo", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertSnapshots(ctx, "", []store.Snapshot{
		{RepositoryID: "r1", ID: d.from, ShortID: d.from[:8], HostID: d.hostID, Time: now.Add(-time.Hour)},
		{RepositoryID: "r1", ID: d.to, ShortID: d.to[:8], HostID: d.hostID, Time: now},
	}, now); err != nil {
		t.Fatal(err)
	}
	if err := db.SetHostStatus(ctx, d.hostID, store.HostOnline, now); err != nil {
		t.Fatal(err)
	}
	return d
}

// finishWhenStarted waits for the diff job and ends it with three changes.
func (d *diffServer) finishWhenStarted(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for range 200 {
		jobs, err := d.db.ListJobs(ctx, store.JobFilter{HostID: d.hostID, Limit: 10})
		if err != nil {
			t.Error(err)
			return
		}
		if len(jobs) == 1 {
			line := func(p, m string) string {
				return `{"message_type":"change","path":"` + p + `","modifier":"` + m + `"}`
			}
			_, err := d.db.AppendJobLogs(ctx, []store.JobLog{{
				JobID: jobs[0].ID, Seq: 1, Time: time.Now(), Stream: "stdout", Type: "log",
				Line: line("/srv/new.txt", "+") + "\n" + line("/srv/old.txt", "-") + "\n" + line("/srv/edited.txt", "M"),
			}})
			if err == nil {
				err = d.db.FinishJob(ctx, jobs[0].ID, store.JobEnd{Status: store.JobSucceeded, At: time.Now(), Summary: json.RawMessage(`{"changed_files":3}`)})
			}
			if err != nil {
				t.Error(err)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("no diff job was started")
}

func TestDiffCommand(t *testing.T) {
	t.Parallel()
	d := newDiffServer(t)
	done := make(chan struct{})
	go func() { defer close(done); d.finishWhenStarted(t) }()
	r := d.in.run(t, "diff", "--host", "web1", d.from[:8], d.to[:8])
	<-done
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "comparing the snapshots on the host") {
		t.Errorf("no progress on stderr: %q", r.stderr)
	}
	for _, want := range []string{
		"from a1a1a1a1 (", ") to b2b2b2b2 (",
		"1 added, 1 removed, 1 modified, 0 type changed, 0 metadata changed",
		"added     /srv/new.txt", "removed   /srv/old.txt", "modified  /srv/edited.txt",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	// The finished diff is read at once, a page at a time, as JSON.
	r = d.in.run(t, "diff", "--host", "web1", "--json", "--limit", "2", d.from, d.to)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var out struct {
		JobID   string         `json:"job_id"`
		Counts  map[string]int `json:"counts"`
		Stats   map[string]int `json:"stats"`
		Changes []diffChange   `json:"changes"`
		Next    string         `json:"next"`
		From    struct {
			ID string `json:"id"`
		} `json:"from"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if out.Counts["added"] != 1 || out.Counts["removed"] != 1 || out.Counts["modified"] != 1 || out.Stats["changed_files"] != 3 ||
		len(out.Changes) != 2 || out.Next == "" || out.From.ID != d.from || strings.Contains(r.stderr, "comparing") {
		t.Errorf("--json --limit 2: %s (stderr %q)", r.stdout, r.stderr)
	}
	r = d.in.run(t, "diff", "--host", "web1", "--filter", "removed", d.from, d.to)
	if r.code != 0 || !strings.Contains(r.stdout, "/srv/old.txt") || strings.Contains(r.stdout, "/srv/new.txt") {
		t.Errorf("--filter removed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	jobs, _ := d.db.ListJobs(context.Background(), store.JobFilter{HostID: d.hostID, Limit: 10})
	if len(jobs) != 1 {
		t.Errorf("%d diff jobs for one pair, want 1", len(jobs))
	}
}

func TestDiffCommandErrors(t *testing.T) {
	t.Parallel()
	d := newDiffServer(t)
	for name, tc := range map[string]struct {
		args []string
		code int
		says string
	}{
		"one snapshot":     {[]string{"diff", "--host", "web1", d.from}, 2, "FROM and TO"},
		"no host":          {[]string{"diff", d.from, d.to}, 2, "--host"},
		"bad filter":       {[]string{"diff", "--host", "web1", "--filter", "renamed", d.from, d.to}, 2, "--filter"},
		"negative limit":   {[]string{"diff", "--host", "web1", "--limit", "-1", d.from, d.to}, 2, "--limit"},
		"unknown snapshot": {[]string{"diff", "--host", "web1", d.from, "deadbeef"}, 1, "no snapshot"},
		"same snapshot":    {[]string{"diff", "--host", "web1", d.from, d.from[:8]}, 1, "same snapshot"},
	} {
		t.Run(name, func(t *testing.T) {
			r := d.in.run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.code, tc.says)
			}
		})
	}
}
