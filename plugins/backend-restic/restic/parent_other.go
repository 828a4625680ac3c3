//go:build !linux && !windows

package restic

import "syscall"

// dieWithParent is a no-op where the kernel cannot signal a child when its
// parent dies.
func dieWithParent(*syscall.SysProcAttr) {}
