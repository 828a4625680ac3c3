package cli

import (
	"context"
	"net/http"
)

// A host's default hooks (GET/PUT /api/v1/hosts/{id}/hooks): the pre- and
// post-hook a backup schedule of the host runs when it has none of its own.
// Admin-only both ways.

func hostHooksPath(idOrName string) string { return hostPath(idOrName) + "/hooks" }

func hostHooksShowCommand() Command {
	return Command{
		Name:     "host hooks show",
		Synopsis: "Show a host's default pre- and post-hook",
		Usage: `Usage: restic-manager host hooks show HOST [--json]

  Show the host's default hooks, each command in full with its timeout. A
  backup schedule of the host without a hook of its own runs these. Needs an
  admin token.

Flags:
  --json   Print {"pre_hook": …, "post_hook": …} as the API returns it.

` + apiFlagsHelp + `
Example:
  $ restic-manager host hooks show web1
  Pre-hook (timeout 2m):
      systemctl stop app.service
  Post-hook (timeout 2m):
      systemctl start app.service
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "host hooks show", true)
			pos, err := a.parse(args, 1, "the host's ID or NAME")
			if err != nil {
				return err
			}
			return get(ctx, a, hostHooksPath(pos[0]), func(p hookPair) error {
				return writeHooks(env.Stdout, p)
			})
		},
	}
}

func hostHooksSetCommand() Command {
	return Command{
		Name:     "host hooks set",
		Synopsis: "Set a host's default pre- and post-hook",
		Usage: `Usage: restic-manager host hooks set HOST [--pre-hook CMD] [--post-hook CMD] [--hook-timeout D] [--json]

  Set the host's default hooks: a backup schedule of the host without a
  hook of its own runs these. A hook not named keeps what it is. The
  host's agent gets them at once (or when it reconnects). The audit log
  keeps the command text. Needs an admin token.

` + hookFlagsHelp + `  --json                   Print the host's hooks as the API returns them.

` + apiFlagsHelp + `
Example:
  $ restic-manager host hooks set web1 --pre-hook "systemctl stop app.service" \
      --post-hook "systemctl start app.service" --hook-timeout 2m
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "host hooks set", true)
			var f hookFlags
			f.register(a.fs)
			pos, err := a.parse(args, 1, "the host's ID or NAME")
			if err != nil {
				return err
			}
			set := setFlags(a.fs)
			if !f.given(set) {
				return Usagef("nothing to set: give --pre-hook, --post-hook or --hook-timeout")
			}
			var current *hookPair
			if f.needsCurrent(set) {
				raw, err := a.call(ctx, http.MethodGet, hostHooksPath(pos[0]), nil)
				if err != nil {
					return err
				}
				current = &hookPair{}
				if err := decodeObject(raw, current); err != nil {
					return err
				}
			}
			body := map[string]any{}
			if err := f.apply(set, body, current); err != nil {
				return err
			}
			return hostHooksPut(ctx, a, pos[0], body)
		},
	}
}

func hostHooksClearCommand() Command {
	return Command{
		Name:     "host hooks clear",
		Synopsis: "Remove a host's default hooks",
		Usage: `Usage: restic-manager host hooks clear HOST [--pre] [--post] [--json]

  Remove the host's default pre-hook (--pre), post-hook (--post), or both
  (neither flag). Schedules with hooks of their own keep them. Needs an
  admin token.

Flags:
  --pre    Remove the default pre-hook.
  --post   Remove the default post-hook.
  --json   Print the host's hooks as the API returns them.

` + apiFlagsHelp + `
Example:
  $ restic-manager host hooks clear web1 --post
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "host hooks clear", true)
			pre := a.fs.Bool("pre", false, "")
			post := a.fs.Bool("post", false, "")
			pos, err := a.parse(args, 1, "the host's ID or NAME")
			if err != nil {
				return err
			}
			both := !*pre && !*post
			body := map[string]any{}
			if *pre || both {
				body["pre_hook"] = nil
			}
			if *post || both {
				body["post_hook"] = nil
			}
			return hostHooksPut(ctx, a, pos[0], body)
		},
	}
}

// hostHooksPut sends body to the host's hooks and prints what the host's
// hooks are now: in full, or as JSON.
func hostHooksPut(ctx context.Context, a *apiCmd, host string, body map[string]any) error {
	raw, err := a.call(ctx, http.MethodPut, hostHooksPath(host), body)
	if err != nil {
		return err
	}
	if a.asJSON {
		return writeJSON(a.env.Stdout, raw)
	}
	var p hookPair
	if err := decodeObject(raw, &p); err != nil {
		return err
	}
	return writeHooks(a.env.Stdout, p)
}
