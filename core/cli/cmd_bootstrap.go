package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

func bootstrapCommand() Command {
	return Command{
		Name:     "bootstrap",
		Synopsis: "Create the first admin on a new server and print an admin API token",
		Usage: `Usage: restic-manager bootstrap --setup-token T --username U --password-file F [--json]

  Create the first admin account on a server that has no users yet and
  print an API token for it. A server without users logs a one-time setup
  token at start-up and writes it to <data_dir>/setup-token; bootstrap
  uses it up. Needs no API token.

  Only the token goes to standard output, so a script can capture it. It is
  shown once: store it, or create another later with "token create".

Flags:
  --setup-token T     The setup token the server printed. Default: $RM_SETUP_TOKEN.
  --username U        Name of the admin account to create.
  --password-file F   File holding the admin's password; "-" reads standard
                      input. One trailing newline is ignored.
  --json              Print {"token": "..."} instead of the bare token.

API flags:
` + addrFlagHelp + `
Example:
  $ printf '%s\n' "$ADMIN_PASSWORD" | restic-manager bootstrap \
      --setup-token "$(cat ./data/setup-token)" --username admin --password-file -
  rmt_...
  $ export RM_TOKEN=rmt_...
  $ restic-manager user list
`,
		Run: runBootstrap,
	}
}

func runBootstrap(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("bootstrap")
	api := addAddrFlag(fs, env)
	setupToken := fs.String("setup-token", env.Getenv(envSetupToken), "")
	username := fs.String("username", "", "")
	passwordFile := fs.String("password-file", "", "")
	asJSON := fs.Bool("json", false, "")
	if _, err := parseArgs(fs, args, 0, ""); err != nil {
		return err
	}
	if err := requireFlags(fs, "setup-token", "username", "password-file"); err != nil {
		return err
	}
	c, err := api.client(false)
	if err != nil {
		return err
	}
	password, err := readSecretFile(env, *passwordFile)
	if err != nil {
		return err
	}

	req := struct {
		SetupToken string `json:"setup_token"`
		Username   string `json:"username"`
		Password   string `json:"password"`
	}{strings.TrimSpace(*setupToken), *username, password}
	var resp struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/bootstrap", nil, req, &resp); err != nil {
		return err
	}
	if resp.Token == "" {
		return errors.New("the server's answer has no token")
	}
	fmt.Fprintf(env.Stderr, "Created admin %q. The token is shown only once: store it now.\n", *username)
	if *asJSON {
		return writeJSON(env.Stdout, map[string]string{"token": resp.Token})
	}
	_, err = fmt.Fprintln(env.Stdout, resp.Token)
	return err
}
