package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// pluginStatus is the API's plugin object, as far as tables need it.
type pluginStatus struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Source        string `json:"source"`
	Path          string `json:"path"`
	SHA256        string `json:"sha256"`
	APIVersion    string `json:"api_version"`
	PluginVersion string `json:"plugin_version"`
	State         string `json:"state"`
	Restarts      int    `json:"restarts"`
	LastError     string `json:"last_error"`
}

// notifyChannel is the API's channel object.
type notifyChannel struct {
	Name      string `json:"name"`
	Plugin    string `json:"plugin"`
	ManagedBy string `json:"managed_by"`
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pluginListCommand() Command {
	return Command{
		Name:     "plugin list",
		Synopsis: "List plugins with their kinds, versions, checksums and state",
		Usage: `Usage: restic-manager plugin list [--json]

  List the server's plugins: the built-in ones and those registered with
  plugin blocks. Versions are what a plugin reported when it last started,
  "-" until it has (plugins start on first use). STATE is "stopped",
  "running", "restarting" (it crashed; the next call restarts it) or
  "failed" (it crashed too often, or its binary does not match its sha256;
  it is not started again until the server reloads). The last error of each
  plugin that has one follows the table. Needs an admin token.

Flags:
  --json   Print a JSON array of plugin objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager plugin list
  NAME        KIND    SOURCE    VERSION  API    STATE    RESTARTS  SHA256
  notify-log  notify  external  0.1.0    1.0.0  running  0         e83b284a5b5c...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "plugin list", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			return list(ctx, a, "/plugins", nil, func(plugins []pluginStatus) error {
				t := newTable(env.Stdout, "NAME", "KIND", "SOURCE", "VERSION", "API", "STATE", "RESTARTS", "SHA256")
				for _, p := range plugins {
					t.row(p.Name, orDash(p.Kind), p.Source, orDash(p.PluginVersion), orDash(p.APIVersion), p.State,
						strconv.Itoa(p.Restarts), p.SHA256)
				}
				if err := t.flush(); err != nil {
					return err
				}
				for _, p := range plugins {
					if p.LastError != "" {
						fmt.Fprintf(env.Stdout, "\n%s: %s\n", sanitize(p.Name), sanitize(p.LastError))
					}
				}
				return nil
			})
		},
	}
}

func channelListCommand() Command {
	return Command{
		Name:     "channel list",
		Synopsis: "List notification channels",
		Usage: `Usage: restic-manager channel list [--json]

  List the notification channels and the plugin that delivers each. A
  channel's configuration is never shown: it may hold secrets.

Flags:
  --json   Print a JSON array of channel objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager channel list
  NAME       PLUGIN       MANAGED BY
  ops-push   notify-ntfy  config
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "channel list", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			return list(ctx, a, "/channels", nil, func(channels []notifyChannel) error {
				t := newTable(env.Stdout, "NAME", "PLUGIN", "MANAGED BY")
				for _, c := range channels {
					t.row(c.Name, c.Plugin, c.ManagedBy)
				}
				return t.flush()
			})
		},
	}
}

func channelTestCommand() Command {
	return Command{
		Name:     "channel test",
		Synopsis: "Send a test notification through a channel",
		Usage: `Usage: restic-manager channel test NAME

  Send a test notification (event "test", severity "info") through the
  channel NAME and report whether its plugin delivered it. Exits 0 when it
  did; otherwise prints the plugin's error and exits 1. Needs an operator
  or admin token.

` + apiFlagsHelp + `
Example:
  $ restic-manager channel test ops-push
  Sent a test notification through channel "ops-push".
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "channel test", false)
			pos, err := a.parse(args, 1, "the channel's NAME")
			if err != nil {
				return err
			}
			if _, err := a.call(ctx, http.MethodPost, "/channels/"+url.PathEscape(pos[0])+"/test", nil); err != nil {
				return fmt.Errorf("channel %q: %w", sanitize(pos[0]), err)
			}
			_, err = fmt.Fprintf(env.Stdout, "Sent a test notification through channel %q.\n", sanitize(pos[0]))
			return err
		},
	}
}
