// Command restic-manager is the restic-manager server and its operator CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/restic-manager/restic-manager/core/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.StdEnv(), cli.Commands(append(serverCommands(), pluginCommands()...)...))
	stop()
	os.Exit(code)
}
