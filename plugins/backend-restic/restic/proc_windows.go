//go:build windows

package restic

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// procGroup is a restic child in a new console process group (so that a
// CTRL_BREAK reaches it and not the agent) and in a job object that is
// killed as a whole, children included.
type procGroup struct {
	pid  uint32
	proc *os.Process
	job  windows.Handle
}

// prepareCmd starts restic in a new process group. When the agent has a
// console, restic shares it so that CTRL_BREAK can reach it; without one
// (a service) restic gets no console window, and cancel kills at once.
func prepareCmd(cmd *exec.Cmd) {
	flags := uint32(windows.CREATE_NEW_PROCESS_GROUP)
	if !hasConsole() {
		flags |= windows.CREATE_NO_WINDOW
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: flags}
}

var procGetConsoleWindow = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetConsoleWindow")

func hasConsole() bool {
	if procGetConsoleWindow.Find() != nil {
		return false
	}
	hwnd, _, _ := procGetConsoleWindow.Call()
	return hwnd != 0
}

// newProcGroup puts the started child into a job object that kills its
// members when closed. Without a job object (e.g. the agent's own job
// forbids nesting on old Windows) only the child itself can be killed; the
// group is still returned together with the error.
func newProcGroup(cmd *exec.Cmd) (*procGroup, error) {
	pid := uint32(cmd.Process.Pid) //nolint:gosec // G115: Windows process ids are DWORDs
	g := &procGroup{pid: pid, proc: cmd.Process}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return g, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	// G103: SetInformationJobObject takes the struct by address.
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil { //nolint:gosec
		_ = windows.CloseHandle(job)
		return g, fmt.Errorf("configure job object: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, g.pid)
	if err != nil {
		_ = windows.CloseHandle(job)
		return g, fmt.Errorf("open restic process: %w", err)
	}
	defer func() { _ = windows.CloseHandle(h) }()
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return g, fmt.Errorf("assign restic to job object: %w", err)
	}
	g.job = job
	return g, nil
}

// interrupt sends CTRL_BREAK to the child's process group, which Go
// programs such as restic receive as os.Interrupt. It fails when the agent
// has no console (a service); the caller then kills at once.
func (g *procGroup) interrupt() error {
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, g.pid)
}

// kill terminates every process of the job, or the child alone without one.
func (g *procGroup) kill() error {
	if g.job != 0 {
		return windows.TerminateJobObject(g.job, 1)
	}
	return g.proc.Kill()
}

func (g *procGroup) close() {
	if g.job != 0 {
		_ = windows.CloseHandle(g.job)
		g.job = 0
	}
}
