package main

import (
	"errors"

	"github.com/restic-manager/restic-manager/internal/pluginhost"
	resticbackend "github.com/restic-manager/restic-manager/plugins/backend-restic/backend"
	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// resticPlugin is the built-in backend plugin that runs restic.
const resticPlugin = "backend-restic"

// builtins are the plugins compiled into the agent. The plugin host starts
// each by running this executable as "restic-manager-agent plugin serve NAME".
var builtins = []pluginhost.Builtin{
	{
		Name:  resticPlugin,
		Kind:  plugin.KindBackend,
		Serve: func() { backend.Serve(resticbackend.New(plugin.Logger())) },
	},
}

const pluginUsage = `Usage: restic-manager-agent plugin serve NAME

  Serve the built-in plugin NAME to the agent that started this process.
  The agent runs this itself; started by hand it explains that and exits.`

// runPlugin is "restic-manager-agent plugin serve NAME".
func runPlugin(args []string) error {
	if len(args) != 2 || args[0] != "serve" {
		return errors.New("plugin: usage: restic-manager-agent plugin serve NAME")
	}
	return pluginhost.ServeBuiltin(builtins, args[1])
}
