//go:build !windows

package restic

import (
	"errors"
	"os/exec"
	"syscall"
)

// procGroup is a restic child in a process group of its own, so that a
// signal reaches restic and whatever it started in that group (a password
// command, a hook) and nothing of the agent. restic itself starts ssh and
// rclone in their own groups; they exit when restic closes their pipes.
type procGroup struct {
	pid int
}

func prepareCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
}

func newProcGroup(cmd *exec.Cmd) (*procGroup, error) {
	return &procGroup{pid: cmd.Process.Pid}, nil
}

// interrupt sends SIGINT to the group: restic then removes its lock and
// exits with code 130.
func (g *procGroup) interrupt() error { return signalGroup(g.pid, syscall.SIGINT) }

// kill sends SIGKILL to the group.
func (g *procGroup) kill() error { return signalGroup(g.pid, syscall.SIGKILL) }

func (g *procGroup) close() {}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // nobody left
	}
	return err
}
