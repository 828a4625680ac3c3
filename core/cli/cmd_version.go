package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/restic-manager/restic-manager/internal/version"
)

func versionCommand() Command {
	return Command{
		Name:     "version",
		Synopsis: "Print the version of this binary",
		Usage: `Usage: restic-manager version [--json]

  Print which build of restic-manager this is. "restic-manager --version"
  does the same. Needs no server.

Flags:
  --json   Print {"version": ..., "go": ..., "os": ..., "arch": ...}.

Example:
  $ restic-manager version
  restic-manager v1.2.3 (go1.26.0 linux/amd64)
`,
		Run: func(_ context.Context, env *Env, args []string) error {
			fs := newFlagSet("version")
			asJSON := fs.Bool("json", false, "")
			if _, err := parseArgs(fs, args, 0, ""); err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(env.Stdout, map[string]string{
					"version": version.Version,
					"go":      runtime.Version(),
					"os":      runtime.GOOS,
					"arch":    runtime.GOARCH,
				})
			}
			_, err := fmt.Fprintln(env.Stdout, version.String())
			return err
		},
	}
}
