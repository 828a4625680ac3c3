// Command notify-ntfy is the ntfy notification channel of restic-manager as
// a standalone plugin binary. The server has the same plugin built in
// (package ntfy); this binary is for running it as an external plugin from
// plugin_dir, pinned by its SHA-256. docs/notifications.md describes its
// config block.
package main

import (
	"github.com/restic-manager/restic-manager/plugins/notify-ntfy/ntfy"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func main() {
	notify.Serve(ntfy.New(plugin.Logger()))
}
