package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Cross-host restore with real parts: host A backs up, host B (a second
// real agent) restores A's file with a one-job key. B's restic is a test
// wrapper that records the password it was given; after the job that
// password no longer opens the repository, the repository keeps its key
// count, and B never saw the repository's own password.

// testOnlyRecordingWrapper writes a "restic" into a new directory that
// appends RESTIC_PASSWORD (when set) to record, then runs the real restic.
func testOnlyRecordingWrapper(t *testing.T, realRestic, record string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "test-only-restic-wrapper")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n# test only: records the password restic is given, then runs the real restic\n" +
		"if [ -n \"$RESTIC_PASSWORD\" ]; then printf '%s\\n' \"$RESTIC_PASSWORD\" >> '" + record + "'; fi\n" +
		"exec '" + realRestic + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "restic"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// resticWith runs the real restic on the rig's repository with password;
// it returns stdout and whether restic succeeded.
func (r *rig) resticWith(password string, args ...string) (string, bool) {
	r.t.Helper()
	cmd := exec.Command(r.restic, append(args, "--no-cache")...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.repoDir, "RESTIC_PASSWORD="+password, "HOME="+r.home)
	out, err := cmd.Output()
	return string(out), err == nil
}

func (r *rig) keyCount() int {
	r.t.Helper()
	out, ok := r.resticWith(r.password, "key", "list", "--json")
	var keys []map[string]any
	if !ok || json.Unmarshal([]byte(out), &keys) != nil {
		r.t.Fatalf("restic key list: %s", out)
	}
	return len(keys)
}

func TestEndToEndCrossHostRestore(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	record := filepath.Join(t.TempDir(), "test-only-recorded-restic-password")
	b := r.enrollAgent("xrestore-b", testOnlyRecordingWrapper(t, r.restic, record))

	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 3, 5, 1, 32<<10)
	var file string
	_ = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && file == "" {
			file = p
		}
		return err
	})
	snap := r.snapshotOf(src)
	keysBefore := r.keyCount()

	// The target is required when restoring onto another host.
	code, out := r.apiPost("/api/v1/hosts/"+r.hostID+"/restore", map[string]any{
		"snapshot": snap, "includes": []string{file}, "to_host": b.name,
	})
	if code != http.StatusBadRequest || !strings.Contains(string(out), "target") {
		t.Fatalf("cross-host restore without a target: %d %s, want 400 naming target", code, out)
	}

	target := filepath.Join(t.TempDir(), "onto-b")
	code, out = r.apiPost("/api/v1/hosts/"+r.hostID+"/restore", map[string]any{
		"snapshot": snap[:8], "includes": []string{file}, "target": target, "to_host": b.name,
	})
	var j struct {
		ID        string `json:"id"`
		HostID    string `json:"host_id"`
		ScopedKey *struct {
			State        string `json:"state"`
			SourceHostID string `json:"source_host_id"`
			AddJobID     string `json:"add_job_id"`
			RemoveJobID  string `json:"remove_job_id"`
		} `json:"scoped_key"`
	}
	if err := json.Unmarshal(out, &j); err != nil || code != http.StatusAccepted {
		t.Fatalf("cross-host restore: %d %s, want 202 with the job", code, out)
	}
	if j.HostID != b.hostID || j.ScopedKey == nil || j.ScopedKey.SourceHostID != r.hostID || j.ScopedKey.AddJobID == "" {
		t.Fatalf("cross-host restore job %s: want host %s, a scoped key from %s", out, b.hostID, r.hostID)
	}
	if res := r.waitJob(j.ID); res.code != 0 {
		t.Fatalf("cross-host restore %s: %s %s\n%v", j.ID, res.stdout, res.stderr, r.logs(j.ID))
	}
	sameFile(t, filepath.Join(target, file), file)

	// The key is removed once the restore has ended.
	var removeJob string
	eventuallyE2EWithin(t, 2*time.Minute, "the one-job key removed", func() bool {
		if err := json.Unmarshal([]byte(r.ok("job", "show", j.ID, "--json")), &j); err != nil {
			t.Fatal(err)
		}
		removeJob = j.ScopedKey.RemoveJobID
		return j.ScopedKey.State == "removed"
	})
	if add := r.job(j.ScopedKey.AddJobID); add["host_id"] != r.hostID || add["kind"] != "key_add" || add["status"] != "succeeded" {
		t.Fatalf("key_add job %v: want it succeeded on the snapshot's host", add)
	}
	if rm := r.job(removeJob); rm["kind"] != "key_remove" || rm["status"] != "succeeded" {
		t.Fatalf("key_remove job %v", rm)
	}

	recorded, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("B's restic recorded no password: %v", err)
	}
	pws := strings.Fields(string(recorded))
	if len(pws) == 0 {
		t.Fatal("B's restic was given no password")
	}
	for _, pw := range pws {
		if pw == r.password {
			t.Fatal("host B received the repository's own password")
		}
		if out, ok := r.resticWith(pw, "snapshots", "--json"); ok {
			t.Fatalf("the one-job password still opens the repository after the job: %s", out)
		}
		for what, text := range map[string]string{
			"the server log": r.srv.log.String(), "agent A's log": r.agentLog.String(),
			"agent B's log": b.log.String(), "the CLI's output": r.outputs.String(),
		} {
			if strings.Contains(text, pw) {
				t.Errorf("%s holds the one-job password", what)
			}
		}
	}
	if _, ok := r.resticWith(r.password, "snapshots", "--json"); !ok {
		t.Fatal("the repository's own password no longer opens it")
	}
	if n := r.keyCount(); n != keysBefore {
		t.Fatalf("the repository has %d keys after the restore, %d before", n, keysBefore)
	}
	audit := r.ok("audit", "list", "--json")
	for _, action := range []string{"repository.scoped_key.add", "repository.scoped_key.remove"} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("no %s audit entry", action)
		}
	}
	r.checkSecrets()

	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(r.srv.dataDir, "restic-manager.db"+suffix))
		if err != nil {
			continue
		}
		for _, pw := range pws {
			if strings.Contains(string(b), pw) {
				t.Errorf("restic-manager.db%s holds the one-job password in the clear", suffix)
			}
		}
	}

	r.pendingRemovalSurvivesRestart(b, snap, file, target)
}

// pendingRemovalSurvivesRestart: a cross-host restore whose key exists is
// cancelled while no key holder is online; the removal waits in the store
// through a server restart and runs once the key holder is back. With no
// key holder online a new cross-host restore is refused and makes nothing.
func (r *rig) pendingRemovalSurvivesRestart(b *extraAgent, snap, file, target string) {
	t := r.t
	keysBefore := r.keyCount()
	b.proc.kill(t)
	r.waitHostOffline(b.hostID)
	// Through the CLI this time: --to-host by name, --json prints the job.
	var j struct {
		ID        string `json:"id"`
		HostID    string `json:"host_id"`
		ScopedKey struct {
			State       string `json:"state"`
			RemoveJobID string `json:"remove_job_id"`
		} `json:"scoped_key"`
	}
	r.okJSON(&j, "restore", "--host", r.hostID, "--snapshot", snap, "--include", file, "--target", target+"-2", "--to-host", b.name)
	if j.HostID != b.hostID || (j.ScopedKey.State != "adding" && j.ScopedKey.State != "ready") {
		t.Fatalf("restore --to-host %s --json: %+v, want a job on %s with its one-job key", b.name, j, b.hostID)
	}
	show := func() {
		if err := json.Unmarshal([]byte(r.ok("job", "show", j.ID, "--json")), &j); err != nil {
			t.Fatal(err)
		}
	}
	eventuallyE2EWithin(t, 2*time.Minute, "the one-job key made while B is offline", func() bool {
		show()
		return j.ScopedKey.State == "ready"
	})
	if n := r.keyCount(); n != keysBefore+1 {
		t.Fatalf("the repository has %d keys with the one-job key made, want %d", n, keysBefore+1)
	}

	r.agent.kill(t)
	r.waitHostOffline(r.hostID)
	var before []map[string]any
	r.okJSON(&before, "job", "list", "--host", b.hostID)
	code, out := r.apiPost("/api/v1/hosts/"+r.hostID+"/restore", map[string]any{
		"snapshot": snap, "includes": []string{file}, "target": target + "-3", "to_host": b.hostID,
	})
	if code != http.StatusConflict || !strings.Contains(string(out), "no_key_holder") {
		t.Fatalf("cross-host restore with the key holder offline: %d %s, want 409 no_key_holder", code, out)
	}
	var after []map[string]any
	r.okJSON(&after, "job", "list", "--host", b.hostID)
	if len(after) != len(before) {
		t.Fatalf("a refused cross-host restore left jobs: %d before, %d after", len(before), len(after))
	}

	r.ok("job", "cancel", j.ID)
	eventuallyE2EWithin(t, time.Minute, "the removal pending", func() bool {
		show()
		return j.ScopedKey.State == "removing" && j.ScopedKey.RemoveJobID == ""
	})
	r.stopServer()
	r.restartServer()
	show()
	if j.ScopedKey.State != "removing" {
		t.Fatalf("after a restart the key is %q, want removing", j.ScopedKey.State)
	}
	r.startAgent()
	eventuallyE2EWithin(t, 2*time.Minute, "the key removed once the key holder is back", func() bool {
		show()
		return j.ScopedKey.State == "removed"
	})
	if n := r.keyCount(); n != keysBefore {
		t.Fatalf("the repository has %d keys after the removal, %d before", n, keysBefore)
	}
}
