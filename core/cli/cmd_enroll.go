package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// enrollSecretPrefix starts every enrollment token secret.
const enrollSecretPrefix = "rme_"

// enrollToken is the API's enrollment token object.
type enrollToken struct {
	ID             string     `json:"id"`
	Token          string     `json:"token"`
	Command        string     `json:"command"`
	CommandWindows string     `json:"command_windows"`
	Status         string     `json:"status"`
	Uses           int        `json:"uses"`
	UsesLeft       int        `json:"uses_left"`
	Tags           []string   `json:"tags"`
	CreatedAt      *time.Time `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
}

func enrollTokenCreateCommand() Command {
	return Command{
		Name:     "enroll-token create",
		Synopsis: "Create a host enrollment token and the command that uses it",
		Usage: `Usage: restic-manager enroll-token create [--ttl 1h] [--uses 1] [--tag T]... [--json]

  Create a token that enrolls hosts, and print it with the command to run on
  the host, for Linux and for Windows (PowerShell, as Administrator). The
  token is shown only once and stored only as a hash. Each enrolled host
  gets its own credential; the token itself is good for --uses hosts until
  it expires. Needs an admin token.

Flags:
  --ttl DURATION   How long the token works, such as 1h, 90m or 7d (at most
                   30d). Default: 1h.
  --uses N         How many hosts it may enroll (1 to 1000). Default: 1.
  --tag T          A tag every host enrolled with it gets; repeatable.
  --json           Print the whole object: {"id", "token", "command",
                   "command_windows", "expires_at", "uses", ...}.

` + apiFlagsHelp + `
Example:
  $ restic-manager enroll-token create --ttl 2h
  rme_...

  Linux:
    restic-manager-agent enroll --server https://backup.example.com --token rme_...

  Windows (PowerShell, as Administrator):
    & "C:\Program Files\restic-manager\restic-manager-agent.exe" enroll --server https://backup.example.com --token rme_...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "enroll-token create", true)
			ttl := a.fs.String("ttl", "1h", "")
			uses := a.fs.Int("uses", 1, "")
			var tags StringSlice
			a.fs.Var(&tags, "tag", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			d, err := parseDuration(*ttl)
			if err != nil || d <= 0 || d > 30*24*time.Hour {
				return Usagef("--ttl %q: want a positive duration of at most 30 days, such as 1h, 90m or 7d", *ttl)
			}
			if *uses < 1 || *uses > 1000 {
				return Usagef("--uses %d: want a number from 1 to 1000", *uses)
			}
			req := struct {
				TTL  string   `json:"ttl"`
				Uses int      `json:"uses"`
				Tags []string `json:"tags,omitempty"`
			}{TTL: d.String(), Uses: *uses, Tags: tags}
			raw, err := a.call(ctx, http.MethodPost, "/enrollment-tokens", req)
			if err != nil {
				return err
			}
			var t enrollToken
			if err := decodeObject(raw, &t); err != nil {
				return err
			}
			if t.Token == "" {
				return errors.New("the server's answer has no token")
			}
			fmt.Fprintf(env.Stderr, "Created enrollment token %s: %s, expires %s. It is shown only once.\n",
				sanitize(t.ID), plural(t.Uses, "use"), fmtTime(t.ExpiresAt))
			if a.asJSON {
				return writeJSON(env.Stdout, raw)
			}
			_, err = fmt.Fprintf(env.Stdout, "%s\n\nLinux:\n  %s\n\nWindows (PowerShell, as Administrator):\n  %s\n",
				sanitize(t.Token), sanitize(t.Command), sanitize(t.CommandWindows))
			return err
		},
	}
}

func enrollTokenListCommand() Command {
	return Command{
		Name:     "enroll-token list",
		Synopsis: "List host enrollment tokens",
		Usage: `Usage: restic-manager enroll-token list [--json]

  List enrollment tokens (all pages), newest first, with their status
  (active, used, expired, revoked) and uses left. Secrets are never shown
  again. Needs an admin token.

Flags:
  --json   Print a JSON array of token objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager enroll-token list
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "enroll-token list", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			return list(ctx, a, "/enrollment-tokens", nil, func(tokens []enrollToken) error {
				t := newTable(env.Stdout, "ID", "STATUS", "USES LEFT", "EXPIRES", "CREATED", "LAST USED", "TAGS")
				for _, tok := range tokens {
					t.row(tok.ID, tok.Status, strconv.Itoa(tok.UsesLeft)+"/"+strconv.Itoa(tok.Uses), fmtTime(tok.ExpiresAt),
						fmtTime(tok.CreatedAt), fmtTime(tok.LastUsedAt), strings.Join(tok.Tags, ","))
				}
				return t.flush()
			})
		},
	}
}

func enrollTokenRevokeCommand() Command {
	return Command{
		Name:     "enroll-token revoke",
		Synopsis: "Revoke a host enrollment token",
		Usage: `Usage: restic-manager enroll-token revoke ID

  Revoke an enrollment token so no more hosts can enroll with it. Hosts it
  already enrolled keep their own credentials (remove those with "host
  remove"). ID is the token's id from "enroll-token list", not the secret.
  Prints nothing on standard output. Needs an admin token.

` + apiFlagsHelp + `
Example:
  $ restic-manager enroll-token revoke 3f1c...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "enroll-token revoke", false)
			pos, err := a.parse(args, 1, "the token's ID")
			if err != nil {
				return err
			}
			if strings.HasPrefix(pos[0], enrollSecretPrefix) {
				// Sending it would put the secret in the server's logs.
				return Usagef("that looks like a token secret, not its ID; find the ID with \"enroll-token list\"")
			}
			return a.remove(ctx, "/enrollment-tokens/"+url.PathEscape(pos[0]), fmt.Sprintf("Revoked enrollment token %s.", sanitize(pos[0])))
		},
	}
}
