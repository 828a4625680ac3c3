//go:build unix

package pluginhost

import (
	"errors"
	"syscall"
)

// alive reports whether the process pid exists (and is not a zombie of
// ours, which the host reaps).
func alive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
