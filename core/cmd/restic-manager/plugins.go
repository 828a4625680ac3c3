package main

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/cli"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/server"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/plugins/notify-ntfy/ntfy"
	"github.com/restic-manager/restic-manager/plugins/notify-smtp/smtp"
	"github.com/restic-manager/restic-manager/plugins/notify-webhook/webhook"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// builtinPlugins are the plugins compiled into the server binary. The
// server starts each by re-executing itself as "restic-manager plugin serve
// NAME", pinned to its own SHA-256.
func builtinPlugins() []pluginhost.Builtin {
	notifier := func(name string, impl func() notify.Notifier) pluginhost.Builtin {
		return pluginhost.Builtin{Name: name, Kind: plugin.KindNotify, Serve: func() { notify.Serve(impl()) }}
	}
	return []pluginhost.Builtin{
		notifier(ntfy.Name, func() notify.Notifier { return ntfy.New(plugin.Logger()) }),
		notifier(smtp.Name, func() notify.Notifier { return smtp.New(plugin.Logger()) }),
		notifier(webhook.Name, func() notify.Notifier { return webhook.New(plugin.Logger()) }),
	}
}

// pluginCommands are the commands that need the built-in plugin list.
func pluginCommands() []cli.Command {
	return []cli.Command{
		{
			Name:     "plugin serve",
			Synopsis: "Serve a built-in plugin (the server runs this itself)",
			Usage: `Usage: restic-manager plugin serve NAME

  Serves the built-in plugin NAME over go-plugin's gRPC protocol to the
  restic-manager server that started this process. The server runs it
  itself, once for each plugin instance it needs; started by hand, it says
  that it is a plugin and exits with status 1.
`,
			Hidden: true,
			Run: func(_ context.Context, _ *cli.Env, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want exactly one argument, the plugin's NAME")
				}
				return pluginhost.ServeBuiltin(builtinPlugins(), args[0])
			},
		},
		// "config validate" also checks each channel against its plugin.
		cli.ConfigValidateCommand(func(ctx context.Context, cfg *config.Config) hcl.Diagnostics {
			return server.CheckPlugins(ctx, cfg, builtinPlugins())
		}),
	}
}
