package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// repository is the API's repository object. It never holds a secret: the
// server returns only whether there is a password and the names of the
// backend variables.
type repository struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	URL         string     `json:"url"`
	Description string     `json:"description"`
	EnvKeys     []string   `json:"env_keys"`
	HasPassword bool       `json:"has_password"`
	HasAdmin    bool       `json:"has_admin_password"`
	ManagedBy   string     `json:"managed_by"`
	CreatedAt   *time.Time `json:"created_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
}

func (r repository) fields() [][2]string {
	stored := "no"
	if r.HasPassword {
		stored = "yes (not shown)"
	}
	return [][2]string{
		{"ID", r.ID},
		{"Name", r.Name},
		{"URL", r.URL},
		{"Description", r.Description},
		{"Password", stored},
		{"Admin password", adminStored(r.HasAdmin)},
		{"Env", strings.Join(r.EnvKeys, ", ")},
		{"Managed by", r.ManagedBy},
		{"Created", fmtTime(r.CreatedAt)},
		{"Updated", fmtTime(r.UpdatedAt)},
	}
}

// repoPath is the API path of one repository, by id or name.
func repoPath(idOrName string) string {
	return "/repositories/" + url.PathEscape(idOrName)
}

// envFlagsHelp documents --env for repo add and repo update.
const envFlagsHelp = `  --env K=V           A backend variable such as AWS_ACCESS_KEY_ID or
                      B2_ACCOUNT_KEY; repeat for several. "--env K" alone
                      takes the value of K from this command's own
                      environment, which keeps it off the command line
                      (other users of the machine can see arguments).
`

// parseEnvFlags turns --env values into a map: "K=V" as given, a bare "K"
// from the CLI's environment. A variable named twice is an error.
func parseEnvFlags(env *Env, vals []string) (map[string]string, error) {
	out := make(map[string]string, len(vals))
	for _, kv := range vals {
		k, v, hasValue := strings.Cut(kv, "=")
		if k == "" {
			return nil, Usagef("--env needs K=V or K, with a variable name before the '='")
		}
		if !hasValue {
			v = env.Getenv(k)
			if v == "" {
				return nil, Usagef("--env %s: the variable is not set in this command's environment; give K=V or export %s", k, k)
			}
		}
		if _, dup := out[k]; dup {
			return nil, Usagef("--env %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func repoListCommand() Command {
	return Command{
		Name:     "repo list",
		Synopsis: "List restic repositories",
		Usage: `Usage: restic-manager repo list [--json]

  List every repository the server knows (all pages). Secrets are never
  shown: a password in a URL reads "***", and only the names of backend
  variables are listed.

Flags:
  --json   Print a JSON array of repository objects instead of a table.

` + apiFlagsHelp + `
Example:
  $ restic-manager repo list
  ID        NAME     URL                           ENV                                      DESCRIPTION
  0c7e...   offsite  s3:s3.amazonaws.com/bucket    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  -
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "repo list", true)
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			return list(ctx, a, "/repositories", nil, func(repos []repository) error {
				t := newTable(env.Stdout, "ID", "NAME", "URL", "ENV", "DESCRIPTION")
				for _, r := range repos {
					t.row(r.ID, r.Name, r.URL, strings.Join(r.EnvKeys, ", "), r.Description)
				}
				return t.flush()
			})
		},
	}
}

func repoShowCommand() Command {
	return Command{
		Name:     "repo show",
		Synopsis: "Show one repository",
		Usage: `Usage: restic-manager repo show ID|NAME [--json]

  Show one repository. Its password and the values of its backend
  variables are never shown.

Flags:
  --json   Print the repository object as JSON.

` + apiFlagsHelp + `
Example:
  $ restic-manager repo show offsite
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "repo show", true)
			pos, err := a.parse(args, 1, "the repository's ID or NAME")
			if err != nil {
				return err
			}
			return get(ctx, a, repoPath(pos[0]), func(r repository) error {
				return writeFields(env.Stdout, r.fields())
			})
		},
	}
}

func repoAddCommand() Command {
	return Command{
		Name:     "repo add",
		Synopsis: "Add a restic repository with its password and backend variables",
		Usage: `Usage: restic-manager repo add --name N --url URL --password-file F
                              [--admin-password-file F | --admin-password-env VAR]
                              [--env K=V]... [--description D] [--json]

  Add a restic repository and print its id. The password and the backend
  variables are sealed on the server and never shown again. This does not
  run "restic init"; the repository may exist already. Needs an admin token.

Flags:
  --name N            Name (1-64 letters, digits, '.', '_', '-'), used as
                      --repo N by other commands. Required.
  --url URL           restic repository: an absolute path, or sftp:, s3:,
                      rest:, b2:, azure:, gs:, swift:, rclone: ... Required.
                      Prefer --env over a password inside the URL: the URL
                      is stored as given (it is shown with "***").
  --password-file F   File holding the repository password (required); "-"
                      reads standard input. One trailing newline is ignored.
` + adminPasswordFlagsHelp + envFlagsHelp + `  --description D     Free text.
  --json              Print the whole repository object instead of the id.

` + apiFlagsHelp + `
Example:
  $ export AWS_SECRET_ACCESS_KEY=...
  $ restic-manager repo add --name offsite --url s3:s3.amazonaws.com/bucket \
      --password-file repo.pw --env AWS_ACCESS_KEY_ID=AKIA... --env AWS_SECRET_ACCESS_KEY
  0c7e2b4a-...
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "repo add", true)
			var req struct {
				Name        string            `json:"name"`
				URL         string            `json:"url"`
				Password    string            `json:"password"`
				Env         map[string]string `json:"env,omitempty"`
				Description string            `json:"description,omitempty"`
				Admin       *string           `json:"admin_password,omitempty"`
			}
			var envFlags StringSlice
			a.fs.StringVar(&req.Name, "name", "", "")
			a.fs.StringVar(&req.URL, "url", "", "")
			passwordFile := a.fs.String("password-file", "", "")
			var admin adminPasswordFlags
			admin.register(a.fs)
			a.fs.Var(&envFlags, "env", "")
			a.fs.StringVar(&req.Description, "description", "", "")
			if _, err := a.parse(args, 0, ""); err != nil {
				return err
			}
			set := setFlags(a.fs)
			if err := admin.check(set, *passwordFile); err != nil {
				return err
			}
			if err := requireFlags(a.fs, "name", "url", "password-file"); err != nil {
				return err
			}
			vars, err := parseEnvFlags(env, envFlags)
			if err != nil {
				return err
			}
			req.Env = vars
			// A missing token or bad address fails before the password,
			// perhaps standard input, is read.
			if _, err := a.client(); err != nil {
				return err
			}
			if req.Password, err = readSecretFile(env, *passwordFile); err != nil {
				return err
			}
			if req.Admin, err = admin.read(env, set); err != nil {
				return err
			}
			return a.send(ctx, http.MethodPost, "/repositories", req)
		},
	}
}

func repoUpdateCommand() Command {
	return Command{
		Name:     "repo update",
		Synopsis: "Change a repository's URL, description, password or backend variables",
		Usage: `Usage: restic-manager repo update ID|NAME [--url URL] [--password-file F]
                                     [--admin-password-file F | --admin-password-env VAR |
                                      --clear-admin-password]
                                     [--env K=V]... [--clear-env] [--description D] [--json]

  Change what the flags name and print the repository's id. --env replaces
  the whole set of backend variables with the ones given; --clear-env
  removes them all. A new password replaces the stored one: it does not
  change the key inside the restic repository (that is "restic key passwd").
  The name cannot change. Needs an admin token.

Flags:
  --url URL           New restic repository URL.
  --password-file F   File holding the new password; "-" reads standard
                      input. One trailing newline is ignored.
` + adminPasswordFlagsHelp + `  --clear-admin-password
                      Remove the admin password: prunes use the password.
` + envFlagsHelp + `  --clear-env         Remove every backend variable.
  --description D     New description ("" clears it).
  --json              Print the updated repository object instead of the id.

` + apiFlagsHelp + `
Example:
  $ restic-manager repo update offsite --env AWS_ACCESS_KEY_ID=AKIA... --env AWS_SECRET_ACCESS_KEY
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "repo update", true)
			var envFlags StringSlice
			urlFlag := a.fs.String("url", "", "")
			passwordFile := a.fs.String("password-file", "", "")
			var admin adminPasswordFlags
			admin.register(a.fs)
			a.fs.BoolVar(&admin.clear, "clear-admin-password", false, "")
			a.fs.Var(&envFlags, "env", "")
			clearEnv := a.fs.Bool("clear-env", false, "")
			description := a.fs.String("description", "", "")
			pos, err := a.parse(args, 1, "the repository's ID or NAME")
			if err != nil {
				return err
			}
			set := map[string]bool{}
			a.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
			pwFile := ""
			if set["password-file"] {
				pwFile = *passwordFile
			}
			if err := admin.check(set, pwFile); err != nil {
				return err
			}
			req := map[string]any{}
			if set["url"] {
				req["url"] = *urlFlag
			}
			if set["description"] {
				req["description"] = *description
			}
			switch {
			case set["env"] && *clearEnv:
				return Usagef("--env and --clear-env exclude each other")
			case set["env"]:
				vars, err := parseEnvFlags(env, envFlags)
				if err != nil {
					return err
				}
				req["env"] = vars
			case *clearEnv:
				req["env"] = map[string]string{}
			}
			if !set["password-file"] && !admin.given(set) && len(req) == 0 {
				return Usagef("nothing to change: give --url, --password-file, --admin-password-file, --env, --clear-env or --description")
			}
			if _, err := a.client(); err != nil {
				return err
			}
			if set["password-file"] {
				if req["password"], err = readSecretFile(env, *passwordFile); err != nil {
					return err
				}
			}
			adminPW, err := admin.read(env, set)
			if err != nil {
				return err
			}
			if adminPW != nil {
				req["admin_password"] = *adminPW
			}
			return a.send(ctx, http.MethodPatch, repoPath(pos[0]), req)
		},
	}
}

func repoRemoveCommand() Command {
	return Command{
		Name:     "repo remove",
		Synopsis: "Remove a repository from the server",
		Usage: `Usage: restic-manager repo remove ID|NAME

  Remove a repository and its stored credentials from the server. The
  restic repository itself and its snapshots are not touched. Refused while
  schedules use the repository; jobs keep their history. Prints nothing on
  standard output. Needs an admin token.

` + apiFlagsHelp + `
Example:
  $ restic-manager repo remove offsite
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "repo remove", false)
			pos, err := a.parse(args, 1, "the repository's ID or NAME")
			if err != nil {
				return err
			}
			return a.remove(ctx, repoPath(pos[0]), fmt.Sprintf("Removed repository %q.", pos[0]))
		},
	}
}
