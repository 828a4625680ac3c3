//go:build !linux

package plugin

import "os/exec"

// dieWithHost is a no-op where the kernel cannot signal a child when its
// parent dies; go-plugin's own cleanup covers orderly exits there.
func dieWithHost(*exec.Cmd) {}
