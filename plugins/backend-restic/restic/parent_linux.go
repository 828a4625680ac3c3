package restic

import "syscall"

// dieWithParent has the kernel send restic SIGINT when the plugin that
// started it dies, so a killed agent leaves no restic running on. restic
// then tries to remove its lock, but its output pipes have lost their
// reader at the same moment, so a write may end it by SIGPIPE first: after
// a hard kill an unlock may still be needed (docs/agent.md).
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGINT }
