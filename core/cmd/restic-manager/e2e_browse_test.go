package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The snapshot browser with real parts: a backup through the real agent
// and restic, then its snapshot browsed through the API and the CLI. The
// first open lists the whole snapshot once (restic ls on the host); every
// folder after that comes from the server's cache without a new job.

type treeEntryE2E struct {
	Name  string     `json:"name"`
	Path  string     `json:"path"`
	Type  string     `json:"type"`
	Size  int64      `json:"size"`
	MTime *time.Time `json:"mtime"`
}

type treeE2E struct {
	Status       string         `json:"status"`
	JobID        string         `json:"job_id"`
	EntriesSoFar int64          `json:"entries_so_far"`
	Path         string         `json:"path"`
	Items        []treeEntryE2E `json:"items"`
	NextCursor   string         `json:"next_cursor"`
	Total        int64          `json:"total"`
	Entries      int64          `json:"entries"`
	Truncated    bool           `json:"truncated"`
}

// apiGet calls the API as the admin and returns the status and body.
func (r *rig) apiGet(path string, query url.Values) (int, []byte) {
	r.t.Helper()
	u := "http://" + r.srv.addr + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
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

// tree reads a folder of snap, wanting status.
func (r *rig) tree(snap string, query url.Values, status int) treeE2E {
	r.t.Helper()
	code, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/tree", query)
	if code != status {
		r.t.Fatalf("tree %v: %d %s, want %d", query, code, body, status)
	}
	var out treeE2E
	if err := json.Unmarshal(body, &out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// waitListing opens snap's folder dir until the listing is complete and
// returns the first page, and how long the listing took.
func (r *rig) waitListing(snap, dir string, within time.Duration) (treeE2E, string, time.Duration) {
	r.t.Helper()
	start := time.Now()
	first := r.tree(snap, url.Values{"path": {dir}}, http.StatusAccepted)
	if first.Status != "listing" || first.JobID == "" {
		r.t.Fatalf("first open: %+v, want status listing and a job id", first)
	}
	for {
		code, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/tree", url.Values{"path": {dir}})
		var p treeE2E
		if err := json.Unmarshal(body, &p); err != nil {
			r.t.Fatal(err)
		}
		switch {
		case code == http.StatusOK:
			return p, first.JobID, time.Since(start)
		case code != http.StatusAccepted || p.JobID != first.JobID:
			r.t.Fatalf("while listing: %d %s", code, body)
		case time.Since(start) > within:
			r.t.Fatalf("the listing did not finish within %s: %s\njob: %v", within, body, r.job(first.JobID))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lsJobs counts the host's ls jobs.
func (r *rig) lsJobs() int {
	r.t.Helper()
	var jobs []map[string]any
	r.okJSON(&jobs, "job", "list", "--host", r.hostID)
	n := 0
	for _, j := range jobs {
		if j["kind"] == "ls" {
			n++
		}
	}
	return n
}

func TestEndToEndBrowseSnapshot(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 7, 120, 0, 4<<10) // d000 … d011, ten files each
	id := r.runJob("backup", "--path", src)
	if res := r.waitJob(id); res.code != 0 {
		t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}
	snap := r.backupSnapshot(id, src, 120)

	page, jobID, took := r.waitListing(snap[:8], src, e2eBackupTimeout)
	t.Logf("first listing of a %d-entry snapshot took %s", page.Entries, took)
	if page.Total != 12 || len(page.Items) != 12 || page.Items[0].Path != src+"/d000" || page.Items[0].Type != "dir" || page.NextCursor != "" {
		t.Fatalf("%s: %+v", src, page)
	}
	// Root: the first folder of the backed-up path.
	root := r.tree(snap, url.Values{"path": {"/"}}, http.StatusOK)
	top := "/" + strings.Split(strings.TrimPrefix(src, "/"), "/")[0]
	if len(root.Items) != 1 || root.Items[0].Path != top || root.Items[0].Type != "dir" {
		t.Errorf("root: %+v, want %s", root, top)
	}
	// A subfolder, from the cache: its files, sizes and times as on disk.
	start := time.Now()
	sub := r.tree(snap, url.Values{"path": {src + "/d003"}}, http.StatusOK)
	t.Logf("a folder from the cache took %s", time.Since(start))
	if sub.Total != 10 || len(sub.Items) != 10 {
		t.Fatalf("d003: %+v", sub)
	}
	for i, e := range sub.Items {
		fi, err := os.Stat(filepath.Join(src, "d003", e.Name))
		if err != nil || e.Name != fmt.Sprintf("f%04d.bin", 30+i) || e.Type != "file" || e.Size != fi.Size() || e.MTime == nil || !e.MTime.Equal(fi.ModTime().Truncate(time.Millisecond)) {
			t.Errorf("entry %d of d003: %+v; on disk %v, %v", i, e, fi, err)
		}
	}
	// Pages of five: d000-d004, d005-d009, d010-d011.
	var names []string
	after := ""
	for range 4 {
		q := url.Values{"path": {src}, "limit": {"5"}}
		if after != "" {
			q.Set("after", after)
		}
		p := r.tree(snap, q, http.StatusOK)
		for _, e := range p.Items {
			names = append(names, e.Name)
		}
		if after = p.NextCursor; after == "" {
			break
		}
	}
	if len(names) != 12 || names[5] != "d005" || names[11] != "d011" {
		t.Errorf("paged names %v", names)
	}
	// Search, case ignored.
	code, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/search", url.Values{"q": {"D005/F0057"}})
	var hits treeE2E
	if err := json.Unmarshal(body, &hits); err != nil || code != http.StatusOK || len(hits.Items) != 1 || hits.Items[0].Path != src+"/d005/f0057.bin" {
		t.Errorf("search: %d %s", code, body)
	}
	code, body = r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/search", url.Values{"q": {".bin"}, "limit": {"7"}})
	if err := json.Unmarshal(body, &hits); err != nil || code != http.StatusOK || len(hits.Items) != 7 || !hits.Truncated {
		t.Errorf("bounded search: %d %s", code, body)
	}
	// Refusals.
	if code, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/ffffffff/tree", nil); code != http.StatusNotFound {
		t.Errorf("unknown snapshot: %d %s", code, body)
	}
	if code, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/tree", url.Values{"path": {"../etc"}}); code != http.StatusBadRequest || !strings.Contains(string(body), "bad_path") {
		t.Errorf("bad path: %d %s", code, body)
	}

	// The CLI, from the cache.
	var entries []treeEntryE2E
	r.okJSON(&entries, "snapshot", "ls", "--host", r.hostID, snap[:8], src+"/d011")
	if len(entries) != 10 || entries[9].Path != src+"/d011/f0119.bin" {
		t.Errorf("snapshot ls --json: %+v", entries)
	}
	table := r.ok("snapshot", "ls", "--host", r.hostID, snap[:8], src, "--limit", "3")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 4 || !strings.Contains(lines[3], src+"/d002") {
		t.Errorf("snapshot ls --limit 3:\n%s", table)
	}
	if n := r.lsJobs(); n != 1 {
		t.Errorf("%d ls jobs after browsing; the cache should have served everything after the first", n)
	}

	// The listing job is in the job list with its end, but its node lines
	// went to the cache, not the job log: {"nodes":N} events stand in.
	if j := r.job(jobID); j["status"] != "succeeded" || j["kind"] != "ls" {
		t.Errorf("listing job %v", j)
	}
	var diverted int64
	for _, l := range r.logs(jobID) {
		if strings.Contains(l.Line, `"message_type":"node"`) {
			t.Fatalf("a node line in the job log: %s", l.Line)
		}
		if l.Type == "nodes" {
			var n struct{ Nodes int64 }
			if err := json.Unmarshal([]byte(l.Line), &n); err != nil {
				t.Fatal(err)
			}
			diverted += n.Nodes
		}
	}
	// Every entry once: the files, their folders, src and its parents.
	want := int64(120 + 12 + strings.Count(src, "/"))
	if page.Entries != want || diverted == 0 || diverted > want {
		t.Errorf("the cache holds %d entries, want %d; %d node lines stood in for by nodes events", page.Entries, want, diverted)
	}
	r.checkSecrets()
}

// procStatusKiB reads a KiB field of /proc/PID/status: VmHWM is the
// process's peak resident set size, VmRSS its current one.
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// browseMemoryBoundKiB bounds how much the server's peak RSS may grow
// while it takes in and serves a 200,000-entry listing. restic's JSON of
// those entries alone is about 50 MiB, and holding them as Go values
// would take more; streamed in batches, the growth is what one batch of
// agent events and SQLite's page cache take.
const browseMemoryBoundKiB = 40 << 10

func TestEndToEndBrowseLargeSnapshotMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates and backs up 200,000 files")
	}
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "big")
	start := time.Now()
	// RM_BROWSE_FILES makes it bigger for docs/benchmarks.md (1000000).
	files := 200_000
	if v := os.Getenv("RM_BROWSE_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("RM_BROWSE_FILES=%q: want a number of files, at least 1000", v)
		}
		files = n
	}
	scale := time.Duration(max(1, files/200_000))
	const perDir = 1000
	dirs := files / perDir
	for d := range dirs {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		for f := range perDir {
			fh, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%04d", f)))
			if err != nil {
				t.Fatal(err)
			}
			_ = fh.Close()
		}
	}
	t.Logf("created %d files in %s", dirs*perDir, time.Since(start))
	start = time.Now()
	id := r.runJob("backup", "--path", src)
	if res := r.cli("job", "wait", id, "--timeout", (scale * e2eBackupTimeout).String()); res.code != 0 {
		t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}
	snap := r.job(id)["summary"].(map[string]any)["snapshot_id"].(string)
	t.Logf("backed up in %s", time.Since(start))
	// The peak RSS so far is the backup's; reset it ("5" to clear_refs,
	// Linux 4.0 and later) so that VmHWM is the listing's own peak.
	pid := r.srv.cmd.Process.Pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o600); err != nil {
		t.Fatalf("resetting the server's peak RSS: %v", err)
	}
	before := procStatusKiB(t, pid, "VmRSS")

	page, _, took := r.waitListing(snap, src+"/d123", scale*3*time.Minute)
	if page.Total != perDir || page.Entries < int64(files) || len(page.Items) != 200 || page.Items[0].Name != "f0000" {
		t.Fatalf("d123: total %d, %d entries, %d items", page.Total, page.Entries, len(page.Items))
	}
	start = time.Now()
	for _, d := range []string{"d000", "d077", fmt.Sprintf("d%03d", dirs-1)} {
		one := time.Now()
		p := r.tree(snap, url.Values{"path": {src + "/" + d}, "after": {"f0500"}, "limit": {"1000"}}, http.StatusOK)
		if len(p.Items) != 499 || p.Total != perDir {
			t.Fatalf("%s after f0500: %d items, total %d", d, len(p.Items), p.Total)
		}
		t.Logf("folder %s (499 of %d entries) from the cache in %s", d, p.Total, time.Since(one))
	}
	one := time.Now()
	r.tree(snap, url.Values{"path": {src}, "limit": {"1000"}}, http.StatusOK)
	t.Logf("folder %s (%d folders) from the cache in %s", src, dirs, time.Since(one))
	one = time.Now()
	code, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/search", url.Values{"q": {"d150/f0999"}})
	t.Logf("search in %s", time.Since(one))
	if code != http.StatusOK || !strings.Contains(string(body), src+"/d150/f0999") {
		t.Errorf("search: %d %s", code, body)
	}
	after := procStatusKiB(t, pid, "VmHWM")
	t.Logf("listing %d entries took %s; three folders and a search from the cache %s; server RSS %d KiB before, peak %d KiB while listing (+%d KiB, bound %d KiB)",
		page.Entries, took, time.Since(start), before, after, after-before, browseMemoryBoundKiB)
	if after-before > browseMemoryBoundKiB {
		t.Errorf("the server's peak RSS grew by %d KiB while listing %d entries; bound %d KiB", after-before, page.Entries, browseMemoryBoundKiB)
	}
}
