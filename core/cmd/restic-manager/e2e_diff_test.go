package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The snapshot diff with real parts: two backups through the real agent
// and restic with a file added, one removed and one modified between
// them, compared through the API and the CLI. The first request runs
// `restic diff` on the host; later ones reuse its result.

type diffE2E struct {
	Status string `json:"status"`
	JobID  string `json:"job_id"`
	From   struct {
		ID string `json:"id"`
	} `json:"from"`
	Counts struct {
		Added, Removed, Modified, Total int
	} `json:"counts"`
	Stats struct {
		ChangedFiles int `json:"changed_files"`
		Added        struct {
			Files int `json:"files"`
		} `json:"added"`
		Removed struct {
			Files int `json:"files"`
		} `json:"removed"`
	} `json:"stats"`
	Changes []struct {
		Path     string `json:"path"`
		Modifier string `json:"modifier"`
		Change   string `json:"change"`
	} `json:"changes"`
	Next string `json:"next"`
}

// diffGet calls the diff endpoint of the rig's host as the admin.
func (r *rig) diffGet(query url.Values) (int, []byte) {
	r.t.Helper()
	u := "http://" + r.srv.addr + "/api/v1/hosts/" + r.hostID + "/diff?" + query.Encode()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	_, _ = fmt.Fprintf(r.outputs, "GET %s: %d %s\n", u, res.StatusCode, body)
	return res.StatusCode, body
}

// backupSnap runs a backup of src and returns its snapshot's id once the
// server lists it.
func (r *rig) backupSnap(src string) string {
	r.t.Helper()
	id := r.runJob("backup", "--path", src)
	if res := r.waitJob(id); res.code != 0 {
		r.t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}
	summary, _ := r.job(id)["summary"].(map[string]any)
	snap, _ := summary["snapshot_id"].(string)
	if len(snap) != 64 {
		r.t.Fatalf("backup %s: no snapshot id in %v", id, summary)
	}
	eventuallyE2EWithin(r.t, 30*time.Second, "snapshot "+snap[:8]+" listed", func() bool {
		var snaps []map[string]any
		r.okJSON(&snaps, "snapshot", "list", "--host", r.hostID)
		return slices.ContainsFunc(snaps, func(s map[string]any) bool { return s["id"] == snap })
	})
	return snap
}

func (r *rig) diffJobs() int {
	r.t.Helper()
	var jobs []map[string]any
	r.okJSON(&jobs, "job", "list", "--host", r.hostID)
	n := 0
	for _, j := range jobs {
		if j["kind"] == "diff" {
			n++
		}
	}
	return n
}

func TestEndToEndSnapshotDiff(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	write("gone.txt", "this file is removed after the first backup\n")
	write("edited.txt", "first version\n")
	write("same.txt", "never changes\n")
	first := r.backupSnap(src)
	if err := os.Remove(filepath.Join(src, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	write("edited.txt", "second version, longer than the first\n")
	write("new.txt", "added before the second backup\n")
	second := r.backupSnap(src)

	// The first request starts the diff job; it answers 200 once it is done.
	q := url.Values{"from": {first[:8]}, "to": {second[:8]}}
	code, body := r.diffGet(q)
	var d diffE2E
	if err := json.Unmarshal(body, &d); err != nil || code != http.StatusAccepted || d.Status != "running" || d.JobID == "" {
		t.Fatalf("first request: %d %s", code, body)
	}
	jobID := d.JobID
	start := time.Now()
	for {
		code, body = r.diffGet(q)
		d = diffE2E{}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK {
			break
		}
		if code != http.StatusAccepted || d.JobID != jobID {
			t.Fatalf("while the diff runs: %d %s", code, body)
		}
		if time.Since(start) > e2eBackupTimeout {
			t.Fatalf("the diff did not finish within %s: %v", e2eBackupTimeout, r.job(jobID))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the diff took %s", time.Since(start))
	got := map[string]string{}
	for _, c := range d.Changes {
		got[c.Path] = c.Modifier + " " + c.Change
	}
	want := map[string]string{
		src + "/new.txt": "+ added", src + "/gone.txt": "- removed", src + "/edited.txt": "M modified",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || d.Counts.Added != 1 || d.Counts.Removed != 1 || d.Counts.Modified != 1 || d.Counts.Total != 3 {
		t.Fatalf("diff: %s", body)
	}
	if d.JobID != jobID || d.From.ID != first || d.Stats.ChangedFiles != 1 || d.Stats.Added.Files != 1 || d.Stats.Removed.Files != 1 {
		t.Errorf("diff job, snapshots or restic's statistics: %s", body)
	}

	// Again, by full ids: the finished job's result, at once, no new job.
	start = time.Now()
	code, body = r.diffGet(url.Values{"from": {first}, "to": {second}, "filter": {"removed"}})
	d = diffE2E{}
	if err := json.Unmarshal(body, &d); err != nil || code != http.StatusOK || d.JobID != jobID ||
		len(d.Changes) != 1 || d.Changes[0].Path != src+"/gone.txt" || d.Counts.Total != 3 {
		t.Fatalf("second request: %d %s", code, body)
	}
	t.Logf("a finished diff took %s", time.Since(start))

	// The CLI reads the same result.
	out := r.ok("diff", "--host", r.hostID, first[:8], second[:8])
	for _, line := range []string{
		"1 added, 1 removed, 1 modified, 0 type changed, 0 metadata changed",
		"added     " + src + "/new.txt", "removed   " + src + "/gone.txt", "modified  " + src + "/edited.txt",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("diff output lacks %q:\n%s", line, out)
		}
	}
	var asJSON diffE2E
	r.okJSON(&asJSON, "diff", "--host", r.hostID, first, second)
	if asJSON.JobID != jobID || len(asJSON.Changes) != 3 || asJSON.Counts.Total != 3 {
		t.Errorf("diff --json: %+v", asJSON)
	}
	if n := r.diffJobs(); n != 1 {
		t.Errorf("%d diff jobs ran for one pair of snapshots, want 1", n)
	}

	// Refusals.
	for name, tc := range map[string]struct {
		q      url.Values
		status int
		says   string
	}{
		"unknown to":    {url.Values{"from": {first}, "to": {"ffffffff"}}, http.StatusNotFound, "to: host"},
		"unknown from":  {url.Values{"from": {"ffffffff"}, "to": {second}}, http.StatusNotFound, "from: host"},
		"not an id":     {url.Values{"from": {"../x"}, "to": {second}}, http.StatusBadRequest, "not a snapshot id"},
		"missing to":    {url.Values{"from": {first}}, http.StatusBadRequest, "to is required"},
		"same snapshot": {url.Values{"from": {first}, "to": {first[:8]}}, http.StatusBadRequest, "same snapshot"},
	} {
		if code, body := r.diffGet(tc.q); code != tc.status || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", name, code, body, tc.status, tc.says)
		}
	}
	if res := r.cli("diff", "--host", r.hostID, first, "ffffffff"); res.code != 1 || !strings.Contains(res.stderr, "no snapshot") {
		t.Errorf("diff with an unknown snapshot: exit %d %s", res.code, res.stderr)
	}
}
