package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/restic-manager/restic-manager/agent/config"
	"github.com/restic-manager/restic-manager/agent/service"
)

const serviceUsage = `Usage: restic-manager-agent service install|uninstall [--config PATH] [--user NAME] [--dry-run]

  install    Linux: write /etc/systemd/system/restic-manager-agent.service,
             which runs "restic-manager-agent run --config PATH" from this
             executable's absolute path, then "systemctl daemon-reload" and
             "systemctl enable --now" (without systemctl, write the unit and
             say what to run). Windows: register and start the service
             "restic-manager-agent" (automatic start, LocalSystem, restarted
             on failure).
  uninstall  Stop and remove the unit or the service.

Options:
  --config PATH   The agent configuration the service uses. Default:
                  ` + "/etc/restic-manager-agent/agent.hcl" + ` (Linux),
                  %ProgramData%\restic-manager-agent\agent.hcl (Windows).
  --user NAME     Linux: the account the unit runs as (default root, which
                  can read every file it backs up and restore owners).
  --dry-run       Print what would be installed or removed; change nothing.`

// runService is "restic-manager-agent service install|uninstall".
func runService(args []string) error {
	if len(args) == 0 || (args[0] != "install" && args[0] != "uninstall") {
		return fmt.Errorf("service: say install or uninstall; run \"restic-manager-agent service --help\"")
	}
	verb := args[0]
	fs := flag.NewFlagSet("service "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts := service.Options{Out: os.Stdout}
	fs.StringVar(&opts.ConfigPath, "config", config.DefaultPath(), "")
	fs.StringVar(&opts.User, "user", service.DefaultUser, "")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("service %s: %w; run \"restic-manager-agent service --help\"", verb, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("service %s: unexpected argument %q; run \"restic-manager-agent service --help\"", verb, fs.Arg(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if verb == "install" {
		err = service.Install(ctx, opts)
	} else {
		err = service.Uninstall(ctx, opts)
	}
	if err != nil {
		return fmt.Errorf("service %s: %w", verb, err)
	}
	return nil
}
