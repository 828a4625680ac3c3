package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/restic-manager/restic-manager/core/api/apijson"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// hookFlags are --pre-hook, --post-hook and --hook-timeout: a schedule's
// own hooks ("schedule create/update") or a host's defaults ("host hooks
// set"). The command text goes to the API as given; the host's shell is
// the only thing that parses it.
type hookFlags struct {
	pre, post, timeout string
}

// hookPair is a schedule's or a host's hooks as the API shows them; nil is
// none (or, on a schedule, not shown: hooks are shown to admins only).
type hookPair struct {
	PreHook  *apijson.Hook `json:"pre_hook"`
	PostHook *apijson.Hook `json:"post_hook"`
}

const hookFlagsHelp = `Hooks (admin token; see docs/hooks.md):
  --pre-hook CMD           A command the host's shell (/bin/sh -c, PowerShell
                           on Windows) runs before each backup; a failure
                           fails the run and restic does not run. Quote it
                           as one argument, or read it from a file:
                           --pre-hook "$(cat stop-app.sh)".
  --post-hook CMD          A command run after each backup, whatever its
                           outcome ($RM_JOB_STATUS says which).
  --hook-timeout D         How long each hook given may run (30s, 5m; default
                           5m, at most 24h); its process group is then killed.
                           Alone, it changes the timeout of the hooks set.
`

func (f *hookFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.pre, "pre-hook", "", "")
	fs.StringVar(&f.post, "post-hook", "", "")
	fs.StringVar(&f.timeout, "hook-timeout", "", "")
}

// given reports whether any hook flag is on the command line.
func (f *hookFlags) given(set map[string]bool) bool {
	return set["pre-hook"] || set["post-hook"] || set["hook-timeout"]
}

// needsCurrent reports whether apply needs the hooks as they are: only a
// new timeout was given.
func (f *hookFlags) needsCurrent(set map[string]bool) bool {
	return set["hook-timeout"] && !set["pre-hook"] && !set["post-hook"]
}

// apply adds the hooks the flags give to body as the API's pre_hook and
// post_hook. A lone --hook-timeout applies to the hooks in current (nil
// when there are none, as on create).
func (f *hookFlags) apply(set map[string]bool, body map[string]any, current *hookPair) error {
	if !f.given(set) {
		return nil
	}
	if set["hook-timeout"] {
		if _, err := timing.ParseDuration(f.timeout); err != nil {
			return Usagef("--hook-timeout %q: %v", f.timeout, err)
		}
	}
	hook := func(command string) map[string]any {
		h := map[string]any{"command": command}
		if set["hook-timeout"] {
			h["timeout"] = f.timeout
		}
		return h
	}
	for _, x := range []struct{ flag, field, command string }{{"pre-hook", "pre_hook", f.pre}, {"post-hook", "post_hook", f.post}} {
		if !set[x.flag] {
			continue
		}
		if strings.TrimSpace(x.command) == "" {
			return Usagef("--%s is empty: give the command the host's shell runs (to remove the hook, see --help)", x.flag)
		}
		body[x.field] = hook(x.command)
	}
	if !f.needsCurrent(set) {
		return nil
	}
	if current == nil || (current.PreHook == nil && current.PostHook == nil) {
		return Usagef("--hook-timeout alone changes the timeout of the hooks set, and there are none: give --pre-hook or --post-hook")
	}
	if current.PreHook != nil {
		body["pre_hook"] = hook(current.PreHook.Command)
	}
	if current.PostHook != nil {
		body["post_hook"] = hook(current.PostHook.Command)
	}
	return nil
}

// hookSummary is one hook in a "show" line: its first line, how many
// more there are, and its timeout.
func hookSummary(h *apijson.Hook) string {
	if h == nil {
		return "none"
	}
	lines := strings.Split(strings.TrimRight(h.Command, "\n"), "\n")
	s := lines[0]
	if len(lines) > 1 {
		s += fmt.Sprintf(" … (+%d lines)", len(lines)-1)
	}
	return s + " (timeout " + h.Timeout + ")"
}

// writeHooks prints both hooks in full, each line of a command indented.
func writeHooks(w io.Writer, p hookPair) error {
	var b strings.Builder
	for _, x := range []struct {
		name string
		h    *apijson.Hook
	}{{"Pre-hook", p.PreHook}, {"Post-hook", p.PostHook}} {
		if x.h == nil {
			fmt.Fprintf(&b, "%s: none\n", x.name)
			continue
		}
		fmt.Fprintf(&b, "%s (timeout %s):\n", x.name, sanitize(x.h.Timeout))
		for _, l := range strings.Split(strings.TrimRight(x.h.Command, "\n"), "\n") {
			fmt.Fprintf(&b, "    %s\n", sanitize(strings.ReplaceAll(strings.TrimSuffix(l, "\r"), "\t", "    ")))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
