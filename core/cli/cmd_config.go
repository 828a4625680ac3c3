package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/config"
)

func configValidateCommand() Command { return ConfigValidateCommand(nil) }

// ConfigCheck checks a configuration that loaded without errors further,
// such as by decoding each channel's config block against the schema of its
// plugin (which starts the plugins).
type ConfigCheck func(ctx context.Context, cfg *config.Config) hcl.Diagnostics

// ConfigValidateCommand is "config validate" with check run after a
// successful load; the server binary passes one that knows its built-in
// plugins, replacing the command of the same name.
func ConfigValidateCommand(check ConfigCheck) Command {
	return Command{
		Name:     "config validate",
		Synopsis: "Check a server configuration file",
		Usage: `Usage: restic-manager config validate FILE

  Parse and validate a server configuration file without starting the
  server or touching its data. Each channel's config block is checked
  against the schema its plugin reports, and handed to the plugin to
  accept, which starts the plugin for a moment (a plugin block's binary
  only when it matches its sha256). Problems are printed to standard error as
  "Error: FILE:LINE:COL: summary" with the offending line and a caret under
  it. Exits 0 and prints "FILE: valid" when the file has no errors (warnings
  are printed but do not fail), 1 otherwise. Needs no server.

Example:
  $ restic-manager config validate /etc/restic-manager/config.hcl
  /etc/restic-manager/config.hcl: valid
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			return runConfigValidate(ctx, env, args, check)
		},
	}
}

func runConfigValidate(ctx context.Context, env *Env, args []string, check ConfigCheck) error {
	fs := newFlagSet("config validate")
	pos, err := parseArgs(fs, args, 1, "the configuration FILE")
	if err != nil {
		return err
	}
	path := pos[0]
	cfg, files, diags := config.Load(path)
	if cfg != nil && check != nil {
		diags = append(diags, check(ctx, cfg)...)
	}
	if len(diags) > 0 {
		if err := config.WriteDiagnostics(env.Stderr, files, diags); err != nil {
			return err
		}
	}
	errs, warns := countDiagnostics(diags)
	if errs > 0 {
		summary := fmt.Sprintf("%s: %s", path, plural(errs, "error"))
		if warns > 0 {
			summary += ", " + plural(warns, "warning")
		}
		return errors.New(summary)
	}
	if warns > 0 {
		_, err = fmt.Fprintf(env.Stdout, "%s: valid (%s)\n", path, plural(warns, "warning"))
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s: valid\n", path)
	return err
}

func countDiagnostics(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

// plural writes "1 error", "2 errors".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
