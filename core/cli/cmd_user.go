package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// user is the API's user object, as far as tables need it.
type user struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	DisplayName  string     `json:"display_name"`
	Email        string     `json:"email"`
	Role         string     `json:"role"`
	Disabled     bool       `json:"disabled"`
	AuthProvider string     `json:"auth_provider"`
	ManagedBy    string     `json:"managed_by"`
	CreatedAt    *time.Time `json:"created_at"`
	UpdatedAt    *time.Time `json:"updated_at"`
	LastLoginAt  *time.Time `json:"last_login_at"`
}

// validRole reports whether role is one --role takes.
func validRole(role string) bool {
	switch role {
	case "admin", "operator", "viewer":
		return true
	}
	return false
}

func (u user) status() string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

func (u user) fields() [][2]string {
	return [][2]string{
		{"ID", u.ID},
		{"Username", u.Username},
		{"Display name", u.DisplayName},
		{"Email", u.Email},
		{"Role", u.Role},
		{"Status", u.status()},
		{"Auth provider", u.AuthProvider},
		{"Managed by", u.ManagedBy},
		{"Created", fmtTime(u.CreatedAt)},
		{"Updated", fmtTime(u.UpdatedAt)},
		{"Last login", fmtTime(u.LastLoginAt)},
	}
}

// userPath is the API path of one user, by id or username.
func userPath(idOrName string) string {
	return "/users/" + url.PathEscape(idOrName)
}

func userListCommand() Command {
	return Command{
		Name:     "user list",
		Synopsis: "List users",
		Usage: `Usage: restic-manager user list [--json]

  List every user account (all pages). Needs an admin token.

Flags:
  --json   Print a JSON array of user objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ RM_TOKEN=rmt_... restic-manager user list
  ID        USERNAME  DISPLAY NAME  ROLE   STATUS  LAST LOGIN
  01J9...   admin     -             admin  active  2026-01-02T15:04:05+01:00
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "user list", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			return list(ctx, a, "/users", nil, func(users []user) error {
				t := newTable(env.Stdout, "ID", "USERNAME", "DISPLAY NAME", "ROLE", "STATUS", "LAST LOGIN")
				for _, u := range users {
					t.row(u.ID, u.Username, u.DisplayName, u.Role, u.status(), fmtTime(u.LastLoginAt))
				}
				return t.flush()
			})
		},
	}
}

func userCreateCommand() Command {
	return Command{
		Name:     "user create",
		Synopsis: "Create a user with a password",
		Usage: `Usage: restic-manager user create --username U --password-file F [--role ROLE]
                                  [--display-name NAME] [--email ADDR] [--json]

  Create a user who logs in with a password, and print the new user's id.
  Needs an admin token.

Flags:
  --username U          Login name (required).
  --password-file F     File holding the password (required); "-" reads
                        standard input. One trailing newline is ignored.
  --role ROLE           admin, operator or viewer. Default: viewer.
  --display-name NAME   Name shown in the UI.
  --email ADDR          Email address.
  --json                Print the whole user object instead of the id.

` + apiFlagsHelp + `
Example:
  $ restic-manager user create --username alice --role operator --password-file alice.pw
  01J9ZQ...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "user create", true)
			var req struct {
				Username    string `json:"username"`
				Password    string `json:"password"`
				Role        string `json:"role"`
				DisplayName string `json:"display_name,omitempty"`
				Email       string `json:"email,omitempty"`
			}
			a.fs.StringVar(&req.Username, "username", "", "")
			passwordFile := a.fs.String("password-file", "", "")
			a.fs.StringVar(&req.Role, "role", "viewer", "")
			a.fs.StringVar(&req.DisplayName, "display-name", "", "")
			a.fs.StringVar(&req.Email, "email", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "username", "password-file"); err != nil {
				return err
			}
			if !validRole(req.Role) {
				return Usagef("--role %q: want admin, operator or viewer", req.Role)
			}
			// A missing token or bad address fails before the password,
			// perhaps standard input, is read.
			if _, err := a.client(); err != nil {
				return err
			}
			password, err := readSecretFile(env, *passwordFile)
			if err != nil {
				return err
			}
			req.Password = password
			return a.send(ctx, http.MethodPost, "/users", req)
		},
	}
}

func userDisableCommand() Command {
	return userSetDisabledCommand("disable", true, `Usage: restic-manager user disable ID|USERNAME [--json]

  Disable a user: they can no longer log in, and their API tokens stop
  working until the user is enabled again. Prints the user's id. Needs an
  admin token.

Flags:
  --json   Print the updated user object instead of the id.

`+apiFlagsHelp+`
Example:
  $ restic-manager user disable alice
  01J9ZQ...
`)
}

func userEnableCommand() Command {
	return userSetDisabledCommand("enable", false, `Usage: restic-manager user enable ID|USERNAME [--json]

  Enable a disabled user again. Prints the user's id. Needs an admin token.

Flags:
  --json   Print the updated user object instead of the id.

`+apiFlagsHelp+`
Example:
  $ restic-manager user enable alice
  01J9ZQ...
`)
}

func userSetDisabledCommand(verb string, disabled bool, usage string) Command {
	name := "user " + verb
	return Command{
		Name:     name,
		Synopsis: map[bool]string{true: "Disable a user", false: "Enable a disabled user"}[disabled],
		Usage:    usage,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, name, true)
			pos, err := a.parse(args, 1, "the user's ID or USERNAME")
			if err != nil {
				return err
			}
			req := struct {
				Disabled bool `json:"disabled"`
			}{disabled}
			return a.send(ctx, http.MethodPatch, userPath(pos[0]), req)
		},
	}
}

func userDeleteCommand() Command {
	return Command{
		Name:     "user delete",
		Synopsis: "Delete a user",
		Usage: `Usage: restic-manager user delete ID|USERNAME

  Delete a user account. Prints nothing on standard output. Needs an admin
  token. To keep the account but stop its access, use "user disable".

` + apiFlagsHelp + `
Example:
  $ restic-manager user delete alice
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "user delete", false)
			pos, err := a.parse(args, 1, "the user's ID or USERNAME")
			if err != nil {
				return err
			}
			return a.remove(ctx, userPath(pos[0]), fmt.Sprintf("Deleted user %q.", pos[0]))
		},
	}
}

func userShowCommand() Command {
	return Command{
		Name:     "user show",
		Synopsis: "Show one user",
		Usage: `Usage: restic-manager user show ID|USERNAME [--json]

  Show one user's account. Needs an admin token.

Flags:
  --json   Print the user object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager user show alice
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "user show", true)
			pos, err := a.parse(args, 1, "the user's ID or USERNAME")
			if err != nil {
				return err
			}
			return get(ctx, a, userPath(pos[0]), func(u user) error {
				return writeFields(env.Stdout, u.fields())
			})
		},
	}
}

func whoamiCommand() Command {
	return Command{
		Name:     "whoami",
		Synopsis: "Show the user the API token belongs to",
		Usage: `Usage: restic-manager whoami [--json]

  Show the account the API token authenticates as: a quick check that
  RM_ADDR and RM_TOKEN are right.

Flags:
  --json   Print the API's answer: {"user": {...}, "auth_method": "token"}.

` + apiFlagsHelp + `
Example:
  $ RM_TOKEN=rmt_... restic-manager whoami
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "whoami", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			// The type stays anonymous: a decode error prints it.
			return get(ctx, a, "/me", func(me struct {
				User       user   `json:"user"`
				AuthMethod string `json:"auth_method"`
			},
			) error {
				return writeFields(env.Stdout, append(me.User.fields(), [2]string{"Auth method", me.AuthMethod}))
			})
		},
	}
}
