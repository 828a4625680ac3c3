package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoLockedHCL watches repository locks held longer than 3 s.
const repoLockedHCL = `
alerting {
  evaluate_every = "1s"
}

alert "locked" {
  on       = "repo_locked"
  after    = "3s"
  channels = ["hook"]
}
`

// holdLock runs restic backup --stdin on the rig's repository with a
// standard input that never ends, so restic holds its lock (a live
// process, which restic does not call stale) until the test kills it.
func (r *rig) holdLock() *exec.Cmd {
	t := r.t
	t.Helper()
	before := len(r.lockFiles())
	cmd := exec.Command(r.restic, "backup", "--stdin", "--stdin-filename", "endless", "--no-cache")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.repoDir, "RESTIC_PASSWORD="+r.password)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = stdin.Close()
	})
	eventuallyE2EWithin(t, 30*time.Second, "restic to hold a lock", func() bool { return len(r.lockFiles()) > before })
	return cmd
}

// A repository held locked by another restic: a prune through the real
// agent fails with restic's "locked" exit, the server records the lock and,
// once it has been held longer than the rule allows, notifies it; when the
// holder is gone, a successful unlock job clears it and the resolution
// notice follows.
func TestEndToEndRepositoryLockAlert(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	in := &inbox{}
	r.withConfig(startReceivers(t, in) + repoLockedHCL)

	holder := r.holdLock()
	id := r.runJob("prune")
	if res := r.waitJob(id); res.code == 0 {
		t.Fatalf("a prune of a locked repository succeeded:\n%s", res.stdout)
	}
	j := r.job(id)
	if msg := fmt.Sprint(j["error"]); !strings.Contains(msg, "already locked") {
		t.Fatalf("the prune failed for another reason: %v", j)
	}
	got := in.wait(t, "repo_locked", "repository main locked for", "webhook")["webhook"]
	wantHolder := fmt.Sprintf("held by PID %d on ", holder.Process.Pid)
	if !strings.Contains(got.body, wantHolder) || !strings.Contains(got.body, "the rule allows 3s") {
		t.Errorf("lock alert body lacks %q:\n%s", wantHolder, got.body)
	}
	var alerts []map[string]any
	r.okJSON(&alerts, "alert", "list", "--status", "active")
	if len(alerts) != 1 || alerts[0]["kind"] != "repo_locked" || alerts[0]["repository"] != "main" {
		t.Fatalf("alert list = %v", alerts)
	}

	// The holder dies: its lock is stale; an unlock job removes it and
	// clears the alert.
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	unlock := r.runJob("unlock")
	if res := r.waitJob(unlock); res.code != 0 {
		t.Fatalf("unlock: %s%s", res.stdout, res.stderr)
	}
	got = in.wait(t, "alert_resolved", "Resolved: repository main locked for", "webhook")["webhook"]
	if !strings.Contains(got.body, "no longer locked") {
		t.Errorf("resolution body:\n%s", got.body)
	}
	if n := len(r.lockFiles()); n != 0 {
		t.Errorf("%d lock files left after unlock", n)
	}
	r.checkSecrets()
}
