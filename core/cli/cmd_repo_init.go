package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

func repoInitCommand() Command {
	return Command{
		Name:     "repo init",
		Synopsis: "Initialize a repository through a host's agent",
		Usage: `Usage: restic-manager repo init NAME --host H [--timeout D] [--json]

  Create the restic repository NAME ("restic init") by running an init job
  on host H, whose agent must reach the repository's URL. Prints the job's
  id, waits for the job and prints how it ended; exits 0 only if the
  repository was initialized. An offline host runs the job when its agent
  connects (within an hour).

Flags:
  --host H      The host whose agent runs restic, by id or name. Required.
  --timeout D   Give up waiting after D (the job keeps going).
  --json        Print the ended job object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager repo init offsite --host web1
  6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11
  job 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11 succeeded (exit code 0)
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "repo init", true)
			host := a.fs.String("host", "", "")
			timeout := a.fs.Duration("timeout", 0, "")
			pos, err := a.parse(args, 1, "the repository's NAME")
			if err != nil {
				return err
			}
			if err := requireFlags(a.fs, "host"); err != nil {
				return err
			}
			raw, err := a.call(ctx, http.MethodPost, hostPath(*host)+"/jobs", map[string]any{"kind": "init", "repository": pos[0]})
			if err != nil {
				return err
			}
			var j job
			if err := json.Unmarshal(raw, &j); err != nil {
				return fmt.Errorf("the server's answer is not the JSON expected: %w", err)
			}
			if !a.asJSON {
				fmt.Fprintln(env.Stdout, j.ID)
			}
			return waitAndReport(ctx, a, j.ID, *timeout)
		},
	}
}
