package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// channelSettingsHelp describes --set and --secret-file, shared by
// "channel create" and "channel update".
const channelSettingsHelp = `  --set KEY=VALUE     A setting of the plugin's config; repeat for more. Numbers
                      and true/false are read as the plugin's schema says, a
                      list as comma-separated items, a map as a JSON object.
  --secret-file KEY=F A setting read from the file F ("-" reads standard
                      input; one trailing newline is ignored), for secrets
                      such as an SMTP password: it never appears in argv.
`

// readSettings turns --set and --secret-file flags into the config object
// of a channel request. A key given twice is an error.
func readSettings(env *Env, sets, secretFiles []string) (map[string]any, error) {
	cfg := map[string]any{}
	put := func(flag, kv string) (string, string, error) {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return "", "", Usagef("%s %q: want KEY=VALUE", flag, kv)
		}
		if _, dup := cfg[k]; dup {
			return "", "", Usagef("%s: the setting %q is given twice", flag, k)
		}
		return k, v, nil
	}
	for _, kv := range sets {
		k, v, err := put("--set", kv)
		if err != nil {
			return nil, err
		}
		cfg[k] = v
	}
	for _, kv := range secretFiles {
		k, path, err := put("--secret-file", kv)
		if err != nil {
			return nil, err
		}
		secret, err := readSecretFile(env, path)
		if err != nil {
			return nil, fmt.Errorf("--secret-file %s: %w", k, err)
		}
		cfg[k] = secret
	}
	return cfg, nil
}

func channelCreateCommand() Command {
	return Command{
		Name:     "channel create",
		Synopsis: "Create a notification channel (no configuration file needed)",
		Usage: `Usage: restic-manager channel create NAME --type PLUGIN [--set KEY=VALUE]...
                                      [--secret-file KEY=F]... [--disabled] [--json]

  Create the notification channel NAME, delivered by the notify plugin
  PLUGIN (notify-ntfy, notify-smtp, notify-webhook or any installed notify
  plugin), and print its name. It is live at once: alert rules can send to
  it and "channel test NAME" tries it. The server checks the settings
  against the plugin's schema and the plugin's own checks, and keeps them
  sealed; secret settings are never shown again. Needs an admin token.

Flags:
  --type PLUGIN       The notify plugin (required).
` + channelSettingsHelp + `  --disabled          Create it disabled: it sends nothing until enabled.
  --json              Print the channel object instead of its name.

` + apiFlagsHelp + `
Example:
  $ restic-manager channel create ops-hook --type notify-webhook \
      --set url=https://hooks.example.com/restic --secret-file secret=hook.key
  ops-hook
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "channel create", true)
			var sets, secretFiles StringSlice
			plugin := a.fs.String("type", "", "")
			a.fs.Var(&sets, "set", "")
			a.fs.Var(&secretFiles, "secret-file", "")
			disabled := a.fs.Bool("disabled", false, "")
			pos, err := a.parse(args, 1, "the channel's NAME")
			if err != nil {
				return err
			}
			if err := requireFlags(a.fs, "type"); err != nil {
				return err
			}
			// A missing token or bad address fails before a secret,
			// perhaps standard input, is read.
			if _, err := a.client(); err != nil {
				return err
			}
			cfg, err := readSettings(env, sets, secretFiles)
			if err != nil {
				return err
			}
			body := map[string]any{"name": pos[0], "plugin": *plugin, "enabled": !*disabled, "config": cfg}
			return a.send(ctx, http.MethodPost, "/channels", body)
		},
	}
}

func channelUpdateCommand() Command {
	return Command{
		Name:     "channel update",
		Synopsis: "Change a notification channel's settings, or enable or disable it",
		Usage: `Usage: restic-manager channel update NAME [--set KEY=VALUE]... [--secret-file KEY=F]...
                                      [--unset KEY]... [--enable | --disable] [--json]

  Change the settings the flags name; the others, secrets included, stay.
  The plugin checks the new configuration before it replaces the old one.
  Channels of the configuration file cannot be changed here. Needs an admin
  token.

Flags:
` + channelSettingsHelp + `  --unset KEY         Remove a setting (the plugin's default applies).
  --enable, --disable Enable the channel, or make it send nothing.
  --json              Print the channel object instead of its name.

` + apiFlagsHelp + `
Example:
  $ restic-manager channel update ops-hook --secret-file secret=new-hook.key
  ops-hook
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "channel update", true)
			var sets, secretFiles, unsets StringSlice
			a.fs.Var(&sets, "set", "")
			a.fs.Var(&secretFiles, "secret-file", "")
			a.fs.Var(&unsets, "unset", "")
			enable := a.fs.Bool("enable", false, "")
			disable := a.fs.Bool("disable", false, "")
			pos, err := a.parse(args, 1, "the channel's NAME")
			if err != nil {
				return err
			}
			if *enable && *disable {
				return Usagef("--enable and --disable exclude each other")
			}
			if _, err := a.client(); err != nil {
				return err
			}
			cfg, err := readSettings(env, sets, secretFiles)
			if err != nil {
				return err
			}
			for _, k := range unsets {
				if _, dup := cfg[k]; dup {
					return Usagef("--unset: the setting %q is also set", k)
				}
				cfg[k] = nil
			}
			body := map[string]any{}
			if len(cfg) > 0 {
				body["config"] = cfg
			}
			if *enable || *disable {
				body["enabled"] = *enable
			}
			if len(body) == 0 {
				return Usagef("nothing to change: give --set, --secret-file, --unset, --enable or --disable")
			}
			return a.send(ctx, http.MethodPatch, "/channels/"+url.PathEscape(pos[0]), body)
		},
	}
}

func channelDeleteCommand() Command {
	return Command{
		Name:     "channel delete",
		Synopsis: "Delete a notification channel created with channel create",
		Usage: `Usage: restic-manager channel delete NAME

  Delete the channel NAME and its sealed settings. The server refuses while
  alert rules send to it (it names them) and for channels of the
  configuration file. Needs an admin token.

` + apiFlagsHelp + `
Example:
  $ restic-manager channel delete ops-hook
  Deleted channel "ops-hook".
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "channel delete", false)
			pos, err := a.parse(args, 1, "the channel's NAME")
			if err != nil {
				return err
			}
			return a.remove(ctx, "/channels/"+url.PathEscape(pos[0]), fmt.Sprintf("Deleted channel %q.", sanitize(pos[0])))
		},
	}
}
