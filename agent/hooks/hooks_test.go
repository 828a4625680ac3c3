//go:build !windows

package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// agentCanary is in this test process's environment; no hook may see it.
const agentCanary = "RM_HOOKS_TEST_AGENT_SECRET"

func TestMain(m *testing.M) {
	_ = os.Setenv(agentCanary, "agent-private-value")
	os.Exit(m.Run())
}

// lines collects what Run passes on.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, s)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

func (l *lines) text() string { return strings.Join(l.get(), "\n") }

func run(t *testing.T, h Hook) (int, *lines, error) {
	t.Helper()
	out := &lines{}
	start := time.Now()
	code, err := Run(context.Background(), h, out.add)
	t.Logf("hook took %v: exit %d, err %v, output:\n%s", time.Since(start).Round(time.Millisecond), code, err, out.text())
	return code, out, err
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		command string
		code    int
		failed  bool
	}{
		"success":            {"true", 0, false},
		"exit 3":             {"echo about to fail; exit 3", 3, true},
		"last command fails": {"ls /nonexistent-dir-for-hooks", 2, true},
		"unknown command":    {"no-such-command-for-hooks", 127, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, _, err := run(t, Hook{Command: tc.command})
			if code != tc.code || errors.Is(err, ErrFailed) != tc.failed || (err == nil) == tc.failed {
				t.Fatalf("exit %d, err %v; want %d, failed %v", code, err, tc.code, tc.failed)
			}
			if tc.failed && !strings.Contains(err.Error(), "exit code "+strconv.Itoa(tc.code)) {
				t.Errorf("error %q does not name the exit code", err)
			}
		})
	}

	for name, h := range map[string]Hook{
		"no command":     {Command: "  "},
		"missing shell":  {Command: "true", Shell: []string{"/no/such/shell", "-c"}},
		"bad env name":   {Command: "true", Env: map[string]string{"A=B": "x"}},
		"nul in command": {Command: "true\x00false"},
	} {
		code, err := Run(context.Background(), h, nil)
		if code != -1 || err == nil {
			t.Errorf("%s: exit %d, err %v", name, code, err)
		}
	}
}

// TestEnvironment: a hook sees the job's variables (a post-hook also the
// job's status) and the hook's own, the agent's PATH, and nothing else of
// the agent's environment.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	job := Job{ID: "job-42", Kind: "backup", Schedule: "sched-7"}
	env := job.Env("failed")
	env["DB_NAME"] = "app"
	code, out, err := run(t, Hook{Command: "env | sort", Env: env})
	if code != 0 || err != nil {
		t.Fatal(err)
	}
	got := out.text()
	for _, want := range []string{
		"[hook] RM_JOB_ID=job-42", "[hook] RM_JOB_KIND=backup", "[hook] RM_SCHEDULE=sched-7",
		"[hook] RM_JOB_STATUS=failed", "[hook] DB_NAME=app", "[hook] PATH=",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("env misses %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, agentCanary) {
		t.Errorf("the agent's own variable reached the hook:\n%s", got)
	}

	// A pre-hook has no status.
	_, out, _ = run(t, Hook{Command: `echo "status=[${RM_JOB_STATUS-unset}]"`, Env: job.Env("")})
	if got := out.get(); len(got) != 1 || got[0] != "[hook] status=[unset]" {
		t.Errorf("pre-hook output %q", got)
	}

	// The command is one argument: the shell parses it, nothing else does.
	_, out, _ = run(t, Hook{Command: `printf '%s\n' "a b" 'c;d' '$HOME'`})
	if got := out.get(); strings.Join(got, "|") != "[hook] a b|[hook] c;d|[hook] $HOME" {
		t.Errorf("quoting: %q", got)
	}

	// A configured shell.
	_, out, _ = run(t, Hook{Command: `echo "$0"`, Shell: []string{"/bin/sh", "-c"}})
	if got := out.get(); len(got) != 1 || got[0] != "[hook] /bin/sh" {
		t.Errorf("shell: %q", got)
	}
	if _, err := os.Stat("/bin/bash"); err == nil {
		_, out, _ = run(t, Hook{Command: `echo "${BASH_VERSION:+bash}"`, Shell: []string{"/bin/bash", "-c"}})
		if got := out.get(); len(got) != 1 || got[0] != "[hook] bash" {
			t.Errorf("bash: %q", got)
		}
	}
}

// TestOutputCapturedAndCapped: stdout and stderr in order, line by line,
// prefixed; capped by lines and by bytes with a marker saying so; a long
// line cut; the hook is never blocked by the cap.
func TestOutputCapturedAndCapped(t *testing.T) {
	t.Parallel()
	_, out, _ := run(t, Hook{Command: "echo one; echo two >&2; printf 'three\\r\\n'; printf 'no newline'"})
	if got := out.get(); strings.Join(got, "|") != "[hook] one|[hook] two|[hook] three|[hook] no newline" {
		t.Errorf("output %q", got)
	}

	// 100,000 lines against a cap of 50: the hook runs to its end.
	start := time.Now()
	code, out, err := run(t, Hook{Command: "i=0; while [ $i -lt 100000 ]; do echo line $i; i=$((i+1)); done; echo done >&2", MaxLines: 50})
	got := out.get()
	if code != 0 || err != nil || len(got) != 51 || got[49] != "[hook] line 49" {
		t.Fatalf("exit %d, %v, %d lines", code, err, len(got))
	}
	if last := got[50]; !strings.HasPrefix(last, "[hook] … output truncated: 99951 more lines") {
		t.Errorf("marker %q", last)
	}
	t.Logf("100,000 lines in %v", time.Since(start))

	// The byte cap.
	_, out, _ = run(t, Hook{Command: "for i in 1 2 3 4 5 6 7 8 9 10; do echo 0123456789012345678901234567890123456789; done", MaxBytes: 100})
	got = out.get()
	if len(got) != 3 || !strings.Contains(got[2], "output truncated: 8 more lines (320 bytes)") {
		t.Errorf("byte cap: %q", got)
	}

	// A line longer than MaxLineBytes is cut and marked.
	_, out, _ = run(t, Hook{Command: fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x; echo; echo after", 3*MaxLineBytes)})
	got = out.get()
	if len(got) != 2 || len(got[0]) != len(Prefix)+MaxLineBytes+len(" …[line cut]") || !strings.HasSuffix(got[0], "…[line cut]") || got[1] != "[hook] after" {
		t.Errorf("long line: %d lines, first %d bytes", len(got), len(got[0]))
	}
}

func pidFrom(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path) //nolint:gosec // G304: a test file
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether pid has exited (a zombie waiting for its reaper
// counts as gone: it runs nothing).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

func waitGone(pids ...int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for _, p := range pids {
			all = all && gone(p)
		}
		if all {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestTimeoutKillsTheGroup: at the timeout the hook, a child that ignores
// SIGTERM and that child's own child are all killed, within the kill
// grace; Run says it timed out.
func TestTimeoutKillsTheGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := `sh -c 'trap "" TERM; sleep 300 & echo $! > "$DIR/grandchild"; echo $$ > "$DIR/child"; wait' &
echo $$ > "$DIR/hook"
echo started
wait`
	start := time.Now()
	var (
		code int
		err  error
		out  = &lines{}
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		code, err = Run(context.Background(), Hook{
			Command: cmd, Env: map[string]string{"DIR": dir}, Timeout: time.Second, KillGrace: 300 * time.Millisecond,
		}, out.add)
	}()
	hook, child, grandchild := pidFrom(t, filepath.Join(dir, "hook")), pidFrom(t, filepath.Join(dir, "child")), pidFrom(t, filepath.Join(dir, "grandchild"))
	<-done
	took := time.Since(start)
	if code != -1 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("exit %d, err %v; want a timeout", code, err)
	}
	if took < time.Second || took > 4*time.Second {
		t.Errorf("Run took %v for a 1s timeout and a 300ms grace", took)
	}
	if !waitGone(hook, child, grandchild) {
		t.Fatalf("processes left after the timeout: hook %d gone %v, child %d gone %v, grandchild %d gone %v",
			hook, gone(hook), child, gone(child), grandchild, gone(grandchild))
	}
	if got := out.get(); len(got) == 0 || got[0] != "[hook] started" {
		t.Errorf("output before the timeout: %q", got)
	}
}

// TestCancelKillsTheGroup: a cancelled context stops the hook the same way.
func TestCancelKillsTheGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Hook{Command: `sleep 300 & echo $! > "$DIR/child"; wait`, Env: map[string]string{"DIR": dir}, KillGrace: time.Second}, nil)
		done <- err
	}()
	child := pidFrom(t, filepath.Join(dir, "child"))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !waitGone(child) {
		t.Fatalf("child %d still runs", child)
	}
	if _, err := Run(ctx, Hook{Command: "true"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a hook with a done context ran: %v", err)
	}
}

// TestBackgroundProcessSurvives: what a hook that exits normally started
// in the background keeps running; a background process that keeps the
// output open does not hold Run beyond WaitDelay.
func TestBackgroundProcessSurvives(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, err := run(t, Hook{Command: `sleep 300 >/dev/null 2>&1 & echo $! > "$DIR/bg"`, Env: map[string]string{"DIR": dir}})
	if code != 0 || err != nil {
		t.Fatal(err)
	}
	bg := pidFrom(t, filepath.Join(dir, "bg"))
	t.Cleanup(func() { _ = syscall.Kill(bg, syscall.SIGKILL) })
	time.Sleep(200 * time.Millisecond)
	if gone(bg) {
		t.Fatal("the background process was killed with the hook")
	}

	start := time.Now()
	code, out, err := run(t, Hook{Command: `sleep 300 & echo $! > "$DIR/holder"; echo started`, Env: map[string]string{"DIR": dir}})
	holder := pidFrom(t, filepath.Join(dir, "holder"))
	t.Cleanup(func() { _ = syscall.Kill(holder, syscall.SIGKILL) })
	if code != 0 || err != nil || time.Since(start) > WaitDelay+3*time.Second {
		t.Fatalf("exit %d, %v after %v", code, err, time.Since(start))
	}
	if !strings.Contains(out.text(), "output still open") {
		t.Errorf("no note about the open output: %q", out.get())
	}
}
