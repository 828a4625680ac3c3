// Command notify-log is an example restic-manager notification plugin, built
// only against the SDK: it appends every notification it receives to a file,
// as one JSON object per line. docs/plugins.md walks through it.
//
// Config block:
//
//	config {
//	  path         = "/var/log/restic-manager/notifications.jsonl"
//	  min_severity = "warning" # optional: info (default), warning, critical
//	}
package main

import (
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// version is reported to the host; release builds set it with
// -ldflags "-X main.version=1.2.3".
var version = "0.1.0"

func main() {
	notify.Serve(&LogNotifier{Version: version, Logger: plugin.Logger()})
}
