package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hooks with the real server, agent, shell and restic: a failing pre-hook
// fails the run ("pre-hook failed") and restic does not run; the post-hook
// always runs and sees the job's status; a pre-hook past its timeout has
// its whole process group killed; hook output lands in the job log with
// the [hook] prefix; a host's default hook runs where the schedule has none
// of its own; an operator cannot set hooks (403).

// apiCall sends one API request with a bearer token.
func (r *rig) apiCall(token, method, path string, body any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+r.srv.addr+"/api/v1"+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	_, _ = r.outputs.Write(out)
	return res.StatusCode, out
}

// roleToken creates a user with the role and returns an API token of
// theirs, made from a login session.
func (r *rig) roleToken(name, role string) string {
	r.t.Helper()
	const pw = "a long enough password"
	pwFile := filepath.Join(r.t.TempDir(), name+".pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.ok("user", "create", "--username", name, "--role", role, "--password-file", pwFile)
	base := "http://" + r.srv.addr + "/api/v1"
	body, _ := json.Marshal(map[string]string{"username": name, "password": pw})
	res, err := http.Post(base+"/login", "application/json", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/tokens", strings.NewReader(`{"name":"e2e"}`))
	for _, c := range res.Cookies() {
		req.AddCookie(c)
	}
	req.Header.Set("X-CSRF-Token", login.CSRF)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.Token == "" {
		r.t.Fatalf("%s token: %d %v", role, res.StatusCode, err)
	}
	return tok.Token
}

// nextRun waits for the first backup of the schedule created after since
// to end, and returns it.
func (r *rig) nextRun(scheduleID string, since time.Time) scheduleJob {
	r.t.Helper()
	var got scheduleJob
	eventuallyE2EWithin(r.t, e2eBackupTimeout, "a run of the schedule after "+since.Format(time.RFC3339Nano), func() bool {
		for _, j := range r.scheduleJobs(scheduleID) {
			if j.Kind == "backup" && j.CreatedAt.After(since) && j.Status != "queued" && j.Status != "running" {
				got = j
				return true
			}
		}
		return false
	})
	return got
}

func readFileE2E(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	eventuallyE2EWithin(t, 10*time.Second, path+" written", func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && len(b) > 0
	})
	return strings.TrimSpace(string(b))
}

func TestEndToEndHooks(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeTree(t, src, 31, 4, 0, 2<<10)
	postFile := filepath.Join(dir, "post.txt")
	postHook := map[string]any{"command": `echo "status=$RM_JOB_STATUS kind=$RM_JOB_KIND schedule=$RM_SCHEDULE job=$RM_JOB_ID" >> '` + postFile + `'`}

	// An operator may not set hooks, on a schedule or as a host default.
	operator := r.roleToken("olga", "operator")
	if code, body := r.apiCall(operator, http.MethodPost, "/schedules", map[string]any{
		"host": r.hostID, "repository": "main", "paths": []string{src}, "every": "1h", "pre_hook": map[string]any{"command": "id"},
	}); code != http.StatusForbidden {
		t.Fatalf("an operator's schedule with a hook: %d %s", code, body)
	}
	if code, body := r.apiCall(operator, http.MethodPut, "/hosts/"+r.hostID+"/hooks", map[string]any{"pre_hook": map[string]any{"command": "id"}}); code != http.StatusForbidden {
		t.Fatalf("an operator's host hooks: %d %s", code, body)
	}

	// 1. A failing pre-hook: the run fails, restic does not run, the
	// post-hook runs and sees "failed"; the hook's output is in the log.
	var s struct {
		ID string `json:"id"`
	}
	since := time.Now()
	code, body := r.apiCall(r.admin, http.MethodPost, "/schedules", map[string]any{
		"name": "hooked", "host": r.hostID, "repository": "main", "paths": []string{src}, "every": "4s",
		"pre_hook":  map[string]any{"command": "echo pre-hook speaking; echo to stderr >&2; exit 3"},
		"post_hook": postHook,
	})
	if code != http.StatusCreated || json.Unmarshal(body, &s) != nil {
		t.Fatalf("admin creates a schedule with hooks: %d %s", code, body)
	}
	j := r.nextRun(s.ID, since)
	if j.Status != "failed" || !strings.Contains(j.Error, "pre-hook failed") || !strings.Contains(j.Error, "exit code 3") {
		t.Fatalf("the run after a failing pre-hook: %+v", j)
	}
	if snaps := r.repoSnapshots(); len(snaps) != 0 {
		t.Fatalf("restic ran after a failed pre-hook: %d snapshots", len(snaps))
	}
	logs := r.ok("job", "logs", j.ID)
	for _, want := range []string{"[hook] pre-hook speaking", "[hook] to stderr", "[hook] pre-hook failed", "[hook] post-hook started"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the job log lacks %q:\n%s", want, logs)
		}
	}
	want := "status=failed kind=backup schedule=" + s.ID + " job=" + j.ID
	eventuallyE2EWithin(t, 10*time.Second, "the post-hook's file of job "+j.ID, func() bool {
		b, _ := os.ReadFile(postFile)
		return strings.Contains(string(b), want+"\n")
	})

	// 2. A pre-hook past its timeout: its group (the shell and a child it
	// started) is killed, and the run fails.
	pidFile := filepath.Join(dir, "child.pid")
	since = time.Now()
	if code, body := r.apiCall(r.admin, http.MethodPatch, "/schedules/"+s.ID, map[string]any{
		"pre_hook": map[string]any{"command": "sleep 600 & echo $! > '" + pidFile + "'; wait", "timeout": "2s"},
	}); code != http.StatusOK {
		t.Fatalf("PATCH pre_hook: %d %s", code, body)
	}
	j = r.nextRun(s.ID, since)
	for j.Error != "" && !strings.Contains(j.Error, "timed out") && strings.Contains(j.Error, "exit code 3") {
		j = r.nextRun(s.ID, j.CreatedAt) // a run fired before the change arrived
	}
	if j.Status != "failed" || !strings.Contains(j.Error, "pre-hook failed") || !strings.Contains(j.Error, "timed out") {
		t.Fatalf("the run after a pre-hook timeout: %+v", j)
	}
	pid, err := strconv.Atoi(readFileE2E(t, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	eventuallyE2EWithin(t, 15*time.Second, "the hook's child to be gone", func() bool {
		return syscall.Kill(pid, 0) != nil
	})

	// 3. A pre-hook that succeeds: the backup runs and picks up what the
	// hook wrote; the host's default post-hook runs where the schedule
	// has none of its own, and sees "succeeded".
	hostPost := filepath.Join(dir, "host-post.txt")
	if code, body := r.apiCall(r.admin, http.MethodPut, "/hosts/"+r.hostID+"/hooks", map[string]any{
		"post_hook": map[string]any{"command": `echo "host default: $RM_JOB_STATUS" > '` + hostPost + `'`},
	}); code != http.StatusOK {
		t.Fatalf("PUT host hooks: %d %s", code, body)
	}
	since = time.Now()
	if code, body := r.apiCall(r.admin, http.MethodPatch, "/schedules/"+s.ID, map[string]any{
		"pre_hook": map[string]any{"command": "echo dumped > '" + filepath.Join(src, "dump.txt") + "' && echo dump written"}, "post_hook": nil,
	}); code != http.StatusOK {
		t.Fatalf("PATCH hooks: %d %s", code, body)
	}
	for j = r.nextRun(s.ID, since); j.Status != "succeeded"; j = r.nextRun(s.ID, j.CreatedAt) {
		if !strings.Contains(j.Error, "pre-hook failed") { // only runs fired before the change may fail
			t.Fatalf("a run with a good pre-hook: %+v", j)
		}
	}
	r.ok("schedule", "update", s.ID, "--disable")
	r.idle(s.ID)
	if got := readFileE2E(t, hostPost); got != "host default: succeeded" {
		t.Fatalf("the host's default post-hook wrote %q", got)
	}
	logs = r.ok("job", "logs", j.ID)
	if !strings.Contains(logs, "[hook] dump written") || !strings.Contains(logs, "[succeeded, exit code 0]") {
		t.Fatalf("the successful run's log:\n%s", logs)
	}
	var files struct {
		FilesNew int `json:"files_new"`
	}
	_ = json.Unmarshal(j.Summary, &files)
	if files.FilesNew != 5 { // the four files and the hook's dump
		t.Fatalf("the backup after the pre-hook saw %d new files, want 5 (summary %s)", files.FilesNew, j.Summary)
	}
	r.checkSecrets()
}
