// Package version reports which build of restic-manager is running.
package version

import (
	"fmt"
	"runtime"
)

// Version is the release this binary was built from. Release builds set it
// with -ldflags "-X github.com/restic-manager/restic-manager/internal/version.Version=v1.2.3"
// (see scripts/release.sh); everything else reports "dev".
var Version = "dev"

// String describes the build for --version output and logs, for example
// "restic-manager dev (go1.26.8 linux/amd64)".
func String() string {
	return fmt.Sprintf("restic-manager %s (%s %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
