//go:build !windows

package hooks

import (
	"os/exec"
	"syscall"
	"time"
)

// group is the hook's process group: the shell's pid is its id.
type group struct {
	pgid int
}

func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func newGroup(cmd *exec.Cmd) (*group, error) {
	return &group{pgid: cmd.Process.Pid}, nil
}

// stop sends SIGTERM to the group, waits until the group is empty or the
// grace has passed, then sends SIGKILL to whatever is left, and returns
// the shell's Wait error.
func (g *group) stop(grace time.Duration, waitCh <-chan error) error {
	_ = g.signal(syscall.SIGTERM)
	var waitErr error
	exited := false
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case waitErr = <-waitCh:
			exited = true
		case <-tick.C:
		case <-deadline.C:
			_ = g.signal(syscall.SIGKILL)
			if !exited {
				waitErr = <-waitCh
			}
			return waitErr
		}
		// The shell is gone; children that ignored SIGTERM may not be.
		if exited && !g.alive() {
			return waitErr
		}
	}
}

// alive reports whether any process of the group is left.
func (g *group) alive() bool {
	return g.signal(0) == nil
}

// signal signals every process of the group; ESRCH means none is left.
func (g *group) signal(sig syscall.Signal) error {
	return syscall.Kill(-g.pgid, sig)
}

func (g *group) close() {}
