package restic

import "syscall"

// dieWithParent has the kernel send restic SIGINT when the plugin that
// started it dies, so a killed agent leaves no restic running on; SIGINT
// lets restic remove its lock before it exits.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGINT }
