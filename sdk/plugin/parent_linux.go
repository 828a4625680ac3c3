package plugin

import (
	"os/exec"
	"syscall"
)

// dieWithHost has the kernel kill a plugin when the process that started
// it dies, even by SIGKILL, so a crashed host leaves no plugins behind.
func dieWithHost(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
