package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

func userPasswdCommand() Command {
	return Command{
		Name:     "user passwd",
		Synopsis: "Change your own password",
		Usage: `Usage: restic-manager user passwd --current-password-file F --new-password-file F

  Change your own password: that of the user the API token belongs to. Any
  role may. Your browser sessions end (log in again with the new password);
  API tokens keep working. Prints nothing on standard output. Passwords are
  read from files or standard input, never from the command line.

  Wrong current passwords count against the same limits as failed logins.
  Admins reset someone else's password in the web UI's Users page or with
  PATCH /api/v1/users/{id}.

Flags:
  --current-password-file F   File holding your current password; "-" reads
                              standard input. One trailing newline is ignored.
  --new-password-file F       File holding the new password (at least 12
                              characters); "-" reads standard input.

  With both set to "-", standard input holds the current password on its
  first line and the new one on its second.

` + apiFlagsHelp + `
Example:
  $ printf '%s\n%s\n' "$OLD" "$NEW" | restic-manager user passwd \
      --current-password-file - --new-password-file -
  Password changed. Your browser sessions have ended; log in again with the new password.
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "user passwd", false)
			currentFile := a.fs.String("current-password-file", "", "")
			newFile := a.fs.String("new-password-file", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "current-password-file", "new-password-file"); err != nil {
				return err
			}
			// A missing token or bad address fails before the passwords,
			// perhaps standard input, are read.
			c, err := a.client()
			if err != nil {
				return err
			}
			var req struct {
				CurrentPassword string `json:"current_password"`
				NewPassword     string `json:"new_password"`
			}
			if *currentFile == "-" && *newFile == "-" {
				req.CurrentPassword, req.NewPassword, err = readTwoSecrets(env)
			} else {
				if req.CurrentPassword, err = readSecretFile(env, *currentFile); err == nil {
					req.NewPassword, err = readSecretFile(env, *newFile)
				}
			}
			if err != nil {
				return err
			}
			if err := c.do(ctx, http.MethodPost, "/account/password", nil, req, nil); err != nil {
				return err
			}
			fmt.Fprintln(env.Stderr, "Password changed. Your browser sessions have ended; log in again with the new password.")
			return nil
		},
	}
}

// readTwoSecrets reads the current password from the first line of
// standard input and the new one from the second.
func readTwoSecrets(env *Env) (current, next string, err error) {
	b, err := io.ReadAll(io.LimitReader(env.Stdin, 2*maxSecretFile+4))
	if err != nil {
		return "", "", fmt.Errorf("read passwords from standard input: %w", err)
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		return "", "", fmt.Errorf("read passwords from standard input: want exactly two lines, the current password and then the new one")
	}
	if len(lines[0]) > maxSecretFile || len(lines[1]) > maxSecretFile {
		return "", "", fmt.Errorf("read passwords from standard input: a line is longer than %d bytes", maxSecretFile)
	}
	return lines[0], lines[1], nil
}
