// Command notify-smtp is the mail notification channel of restic-manager as
// a standalone plugin binary. The server has the same plugin built in
// (package smtp); this binary is for running it as an external plugin from
// plugin_dir, pinned by its SHA-256. docs/notifications.md describes its
// config block.
package main

import (
	"github.com/restic-manager/restic-manager/plugins/notify-smtp/smtp"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func main() {
	notify.Serve(smtp.New(plugin.Logger()))
}
