package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenSecretPrefix starts every API token secret.
const tokenSecretPrefix = "rmt_"

// apiToken is the API's token object.
type apiToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	UserID     string     `json:"user_id"`
	Token      string     `json:"token"`
	CreatedAt  *time.Time `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func (t apiToken) status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	default:
		return "active"
	}
}

func tokenCreateCommand() Command {
	return Command{
		Name:     "token create",
		Synopsis: "Create an API token for yourself",
		Usage: `Usage: restic-manager token create --name N [--ttl DURATION] [--json]

  Create an API token for the user the current token belongs to, with the
  same role. The secret token goes to standard output and is shown only
  once; a reminder goes to standard error.

Flags:
  --name N         A label for the token, such as "ci" (required).
  --ttl DURATION   Lifetime, such as 720h, 90m or 30d. Default: no expiry.
  --json           Print the whole token object, secret included.

` + apiFlagsHelp + `
Example:
  $ restic-manager token create --name ci --ttl 30d
  rmt_...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "token create", true)
			name := a.fs.String("name", "", "")
			ttl := a.fs.String("ttl", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "name"); err != nil {
				return err
			}
			req := struct {
				Name      string `json:"name"`
				ExpiresIn string `json:"expires_in,omitempty"`
			}{Name: *name}
			if *ttl != "" {
				d, err := parseDuration(*ttl)
				if err != nil || d <= 0 {
					return Usagef("--ttl %q: want a positive duration such as 720h or 30d", *ttl)
				}
				req.ExpiresIn = d.String()
			}
			raw, err := a.call(ctx, http.MethodPost, "/tokens", req)
			if err != nil {
				return err
			}
			var t apiToken
			if err := decodeObject(raw, &t); err != nil {
				return err
			}
			if t.Token == "" {
				return errors.New("the server's answer has no token")
			}
			fmt.Fprintf(env.Stderr, "Created token %q (id %s). It is shown only once: store it now.\n", sanitize(t.Name), sanitize(t.ID))
			if a.asJSON {
				return writeJSON(env.Stdout, raw)
			}
			_, err = fmt.Fprintln(env.Stdout, t.Token)
			return err
		},
	}
}

func tokenListCommand() Command {
	return Command{
		Name:     "token list",
		Synopsis: "List API tokens",
		Usage: `Usage: restic-manager token list [--all] [--json]

  List your API tokens (all pages), including revoked and expired ones.
  Secrets are never shown again.

Flags:
  --all    Everyone's tokens, not just yours. Needs an admin token.
  --json   Print a JSON array of token objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager token list --all
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "token list", true)
			all := a.fs.Bool("all", false, "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			query := url.Values{}
			if *all {
				query.Set("all", "true")
			}
			return list(ctx, a, "/tokens", query, func(tokens []apiToken) error {
				now := time.Now()
				t := newTable(env.Stdout, "ID", "NAME", "USER ID", "STATUS", "CREATED", "EXPIRES", "LAST USED")
				for _, tok := range tokens {
					t.row(tok.ID, tok.Name, tok.UserID, tok.status(now), fmtTime(tok.CreatedAt), fmtTime(tok.ExpiresAt), fmtTime(tok.LastUsedAt))
				}
				return t.flush()
			})
		},
	}
}

func tokenRevokeCommand() Command {
	return Command{
		Name:     "token revoke",
		Synopsis: "Revoke an API token",
		Usage: `Usage: restic-manager token revoke ID

  Revoke an API token at once; requests with it fail from then on. You can
  revoke your own tokens; admins can revoke anyone's. Prints nothing on
  standard output. ID is the token's id from "token list", not the secret.

` + apiFlagsHelp + `
Example:
  $ restic-manager token revoke 01J9ZR...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "token revoke", false)
			pos, err := a.parse(args, 1, "the token's ID")
			if err != nil {
				return err
			}
			if strings.HasPrefix(pos[0], tokenSecretPrefix) {
				// Sending it would put the secret in the server's logs.
				return Usagef("that looks like a token secret, not its ID; find the ID with \"token list\"")
			}
			return a.remove(ctx, "/tokens/"+url.PathEscape(pos[0]), fmt.Sprintf("Revoked token %s.", sanitize(pos[0])))
		},
	}
}
