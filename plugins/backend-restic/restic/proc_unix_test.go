//go:build linux

package restic

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCancelKillsProcessGroup runs a shell (not restic: restic always obeys
// SIGINT) that ignores SIGINT and has a child, cancels, and expects the
// grace period to end in SIGKILL for the whole group: the shell and its
// child are gone and Run returned soon after the grace period.
func TestCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Binary: "/bin/sh", KillGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	child := 0
	start := time.Now()
	script := `trap '' INT; sleep 60 & echo "child $!"; wait; echo "wait returned"; sleep 60`
	res, err := r.exec(ctx, Repository{}, nil, KindPrune, []string{"-c", script}, false, func(ev Event) error {
		if l, ok := ev.(*LogLine); ok && strings.HasPrefix(l.Text, "child ") {
			child, _ = strconv.Atoi(strings.TrimPrefix(l.Text, "child "))
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if res.ExitCode != exitSignalled {
		t.Errorf("exit code %d, want -1 (SIGKILL)", res.ExitCode)
	}
	if child == 0 {
		t.Fatal("child pid not reported")
	}
	if !gone(child) {
		t.Errorf("child %d survived the group kill", child)
	}
}

// gone waits up to a second for pid to exit: SIGKILL is delivered
// asynchronously, and the pipes close a moment before the process is a zombie.
func gone(pid int) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !alive(pid) {
			return true
		}
	}
	return false
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] != 'Z'
}

// TestDrainRespectsBackpressure: after the child exited, a slow emit still
// gets every line; nothing is cut while events are being consumed.
func TestDrainRespectsBackpressure(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Binary: "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	res, err := r.exec(context.Background(), Repository{}, nil, KindPrune, []string{"-c", "echo one; echo two; echo three"}, false, func(ev Event) error {
		if l, ok := ev.(*LogLine); ok {
			got = append(got, l.Text)
		}
		time.Sleep(1200 * time.Millisecond) // longer than drainIdle, per event
		return nil
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Errorf("lines %q", got)
	}
}

// TestDrainStraggler: a child left behind in the group keeps the output
// pipe open after the main process exited; it is killed and Run returns.
func TestDrainStraggler(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Binary: "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	child := 0
	start := time.Now()
	res, err := r.exec(context.Background(), Repository{}, nil, KindPrune, []string{"-c", `sleep 60 & echo "child $!"`}, false, func(ev Event) error {
		if l, ok := ev.(*LogLine); ok && strings.HasPrefix(l.Text, "child ") {
			child, _ = strconv.Atoi(strings.TrimPrefix(l.Text, "child "))
		}
		return nil
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if child == 0 || !gone(child) {
		t.Errorf("straggler %d left running", child)
	}
}
