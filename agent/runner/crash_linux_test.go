package runner

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/config"
	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// agentProcess is restic-manager-agent run as a separate process.
type agentProcess struct {
	cmd  *exec.Cmd
	logs *logBuffer
	done chan error
}

func startAgentProcess(t *testing.T, bin, configPath string) *agentProcess {
	t.Helper()
	p := &agentProcess{cmd: exec.Command(bin, "run", "--config", configPath), logs: &logBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.kill()
		if t.Failed() {
			t.Logf("agent process %d log:\n%s", p.cmd.Process.Pid, p.logs.String())
		}
	})
	return p
}

// kill ends the agent and every process below it at once, like a crash
// of the whole service (systemd kills its control group), and returns its
// exit status.
func (p *agentProcess) kill() error {
	left := descendants(p.cmd.Process.Pid, 1)
	_ = p.cmd.Process.Kill()
	for pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return <-p.waitCh()
}

func (p *agentProcess) waitCh() <-chan error {
	ch := make(chan error, 1)
	go func() {
		select {
		case err := <-p.done:
			p.done <- err // keep it for the next caller
			ch <- err
		case <-time.After(60 * time.Second):
			ch <- errors.New("agent process did not exit")
		}
	}()
	return ch
}

// The agent as users run it, a process of its own: SIGTERM mid-backup makes
// it interrupt restic, report the job and exit cleanly; SIGKILL mid-backup
// leaves the job to the next start, which reports it failed with "agent
// restarted mid-job".
func TestAgentProcessStopAndCrash(t *testing.T) {
	bin := agentBinary(t)
	srv := newTestServer(t)
	repo := seedRepo(t, "crash")
	data := writeData(t, 3, 50<<20)
	params := map[string]any{"paths": []string{data}}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := config.Write(cfgPath, &config.Config{
		ServerURL: srv.URL(), HostID: "host-1", Credential: config.Secret(srv.token),
		StateDir: filepath.Join(dir, "state"), ResticBinary: resticBinary(t),
		Log: config.Log{Level: "debug", Format: "text"},
	}); err != nil {
		t.Fatal(err)
	}

	// SIGTERM: a graceful stop.
	p1 := startAgentProcess(t, bin, cfgPath)
	srv.waitConnected(1)
	srv.mustAccept(dispatchOf("term-1", "backup", repo, params))
	srv.waitEvent("term-1", "status", 30*time.Second)
	time.Sleep(700 * time.Millisecond) // restic is reading the data now
	began := time.Now()
	if err := p1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p1.waitCh(); err != nil {
		t.Fatalf("the agent exited with %v after SIGTERM", err)
	}
	t.Logf("stopped after %s", time.Since(began).Round(time.Millisecond))
	f := srv.waitFinished("term-1", 5*time.Second)
	if f.Status != wire.StatusFailed || !strings.Contains(f.Error, "shut down") {
		t.Fatalf("job_finished after SIGTERM: %s %q", f.Status, f.Error)
	}
	if locks := resticLocks(t, repo); len(locks) > 0 {
		t.Fatalf("restic left locks %v after the graceful stop", locks)
	}

	// SIGKILL: a crash.
	p2 := startAgentProcess(t, bin, cfgPath)
	srv.waitConnected(2)
	srv.mustAccept(dispatchOf("kill-1", "backup", repo, params))
	srv.waitEvent("kill-1", "status", 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	_ = p2.kill() // "signal: killed"
	if _, ok := func() (wire.JobFinished, bool) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		f, ok := srv.finished["kill-1"]
		return f, ok
	}(); ok {
		t.Fatal("the killed agent reported the job")
	}

	// The next start reports it.
	p3 := startAgentProcess(t, bin, cfgPath)
	f = srv.waitFinished("kill-1", 30*time.Second)
	if f.Status != wire.StatusFailed || f.Error != spool.ReasonAgentRestarted || f.ExitCode != -1 {
		t.Fatalf("job_finished after the restart: %s (exit %d) %q", f.Status, f.ExitCode, f.Error)
	}
	srv.stream("kill-1")
	srv.waitAcked("kill-1")
	if err := p3.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p3.waitCh(); err != nil {
		t.Fatalf("the agent exited with %v", err)
	}
	for i, p := range []*agentProcess{p1, p2, p3} {
		assertNoSecrets(t, "agent process log", p.logs.String(), append(repo.secrets(), srv.token)...)
		if i != 1 && !strings.Contains(p.logs.String(), "agent stopped") {
			t.Errorf("agent process %d did not log a clean stop:\n%s", i+1, p.logs.String())
		}
	}
}
