//go:build windows

package hooks

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// group is the hook's process in a job object, so that a timeout
// terminates everything it started. The job does not kill its members
// when its handle is closed: a hook that exits normally may leave a
// process it started running.
type group struct {
	proc *os.Process
	job  windows.Handle
}

func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_NO_WINDOW}
}

func newGroup(cmd *exec.Cmd) (*group, error) {
	g := &group{proc: cmd.Process}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return g, fmt.Errorf("create job object: %w", err)
	}
	pid := uint32(cmd.Process.Pid) //nolint:gosec // G115: Windows process ids are DWORDs
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		_ = windows.CloseHandle(job)
		return g, fmt.Errorf("open hook process: %w", err)
	}
	defer func() { _ = windows.CloseHandle(h) }()
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return g, fmt.Errorf("assign hook to job object: %w", err)
	}
	g.job = job
	return g, nil
}

// stop terminates the job at once (Windows has no SIGTERM a shell script
// would handle), or the hook's process alone without a job, and returns
// the Wait error.
func (g *group) stop(_ time.Duration, waitCh <-chan error) error {
	if g.job != 0 {
		_ = windows.TerminateJobObject(g.job, 1)
	} else {
		_ = g.proc.Kill()
	}
	return <-waitCh
}

func (g *group) close() {
	if g.job != 0 {
		_ = windows.CloseHandle(g.job)
		g.job = 0
	}
}
