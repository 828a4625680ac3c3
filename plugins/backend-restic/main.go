// Command backend-restic is the restic backup backend of restic-manager as
// a standalone plugin binary: the agent starts it (or re-executes itself to
// serve the same backend built in) and runs every backup, restore and
// maintenance job through it. Started by hand it explains that and exits.
//
// Config block (all optional; see README.md):
//
//	config {
//	  restic_binary = "/usr/bin/restic"
//	  kill_grace    = "10s"
//	  cache_dir     = "/var/cache/restic-manager"
//	  pass_env      = ["HTTPS_PROXY"]
//	}
package main

import (
	resticbackend "github.com/restic-manager/restic-manager/plugins/backend-restic/backend"
	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func main() {
	backend.Serve(resticbackend.New(plugin.Logger()))
}
