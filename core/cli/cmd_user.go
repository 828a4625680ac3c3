package cli

import (
	"context"
	"encoding/json"
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
			fs := newFlagSet("user list")
			api := addAPIFlags(fs, env)
			asJSON := fs.Bool("json", false, "")
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 0, ""); err != nil {
				return err
			}
			c, err := api.client(true)
			if err != nil {
				return err
			}
			raw, err := c.listAll(ctx, "/users", nil)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(env.Stdout, raw)
			}
			users, err := decodeItems[user](raw)
			if err != nil {
				return err
			}
			t := newTable(env.Stdout, "ID", "USERNAME", "DISPLAY NAME", "ROLE", "STATUS", "LAST LOGIN")
			for _, u := range users {
				t.row(u.ID, u.Username, u.DisplayName, u.Role, u.status(), fmtTime(u.LastLoginAt))
			}
			return t.flush()
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
			fs := newFlagSet("user create")
			api := addAPIFlags(fs, env)
			var req struct {
				Username    string `json:"username"`
				Password    string `json:"password"`
				Role        string `json:"role"`
				DisplayName string `json:"display_name,omitempty"`
				Email       string `json:"email,omitempty"`
			}
			fs.StringVar(&req.Username, "username", "", "")
			passwordFile := fs.String("password-file", "", "")
			fs.StringVar(&req.Role, "role", "viewer", "")
			fs.StringVar(&req.DisplayName, "display-name", "", "")
			fs.StringVar(&req.Email, "email", "", "")
			asJSON := fs.Bool("json", false, "")
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 0, ""); err != nil {
				return err
			}
			if err := requireFlags(fs, "username", "password-file"); err != nil {
				return err
			}
			if !validRole(req.Role) {
				return Usagef("--role %q: want admin, operator or viewer", req.Role)
			}
			c, err := api.client(true)
			if err != nil {
				return err
			}
			if req.Password, err = readSecretFile(env, *passwordFile); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(ctx, http.MethodPost, "/users", nil, req, &raw); err != nil {
				return err
			}
			return printCreated(env, raw, *asJSON)
		},
	}
}

// printCreated prints what a create or update returned: the whole object
// with --json, else its id.
func printCreated(env *Env, raw json.RawMessage, asJSON bool) error {
	if asJSON {
		return writeJSON(env.Stdout, raw)
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := decodeObject(raw, &obj); err != nil {
		return err
	}
	_, err := fmt.Fprintln(env.Stdout, obj.ID)
	return err
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
			fs := newFlagSet(name)
			api := addAPIFlags(fs, env)
			asJSON := fs.Bool("json", false, "")
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 1, "the user's ID or USERNAME"); err != nil {
				return err
			}
			c, err := api.client(true)
			if err != nil {
				return err
			}
			req := struct {
				Disabled bool `json:"disabled"`
			}{disabled}
			var raw json.RawMessage
			if err := c.do(ctx, http.MethodPatch, userPath(pos[0]), nil, req, &raw); err != nil {
				return err
			}
			return printCreated(env, raw, *asJSON)
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
			fs := newFlagSet("user delete")
			api := addAPIFlags(fs, env)
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 1, "the user's ID or USERNAME"); err != nil {
				return err
			}
			c, err := api.client(true)
			if err != nil {
				return err
			}
			if err := c.do(ctx, http.MethodDelete, userPath(pos[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "Deleted user %q.\n", pos[0])
			return nil
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
			fs := newFlagSet("user show")
			api := addAPIFlags(fs, env)
			asJSON := fs.Bool("json", false, "")
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 1, "the user's ID or USERNAME"); err != nil {
				return err
			}
			c, err := api.client(true)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(ctx, http.MethodGet, userPath(pos[0]), nil, nil, &raw); err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(env.Stdout, raw)
			}
			var u user
			if err := decodeObject(raw, &u); err != nil {
				return err
			}
			return writeFields(env.Stdout, u.fields())
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
			fs := newFlagSet("whoami")
			api := addAPIFlags(fs, env)
			asJSON := fs.Bool("json", false, "")
			pos, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 0, ""); err != nil {
				return err
			}
			c, err := api.client(true)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(ctx, http.MethodGet, "/me", nil, nil, &raw); err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(env.Stdout, raw)
			}
			var me struct {
				User       user   `json:"user"`
				AuthMethod string `json:"auth_method"`
			}
			if err := decodeObject(raw, &me); err != nil {
				return err
			}
			return writeFields(env.Stdout, append(me.User.fields(), [2]string{"Auth method", me.AuthMethod}))
		},
	}
}
