package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/restic-manager/restic-manager/core/cli"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/server"
)

// serverCommands are the commands that run the server or work on its data
// directory directly, rather than talking to the API.
func serverCommands() []cli.Command {
	return []cli.Command{
		{
			Name:     "server",
			Synopsis: "Run the restic-manager server",
			Usage: `Usage: restic-manager server [--config FILE]

  Runs the server: the web UI, the API under /api/v1, and the endpoint agents
  connect to. Without --config it runs on the embedded default: data in
  ./data, listening on 127.0.0.1:8080, with a secret key file generated in
  ./data/secret.key on first start.

  Until the first admin exists, every API route but bootstrap answers 503 and
  the server logs a one-time setup token (also written to
  <data_dir>/setup-token) for "restic-manager bootstrap".

  SIGINT or SIGTERM stops it gracefully: in-flight requests finish first.

Options:
  --config FILE   HCL configuration file (see config.hcl.example)

Example:
  restic-manager server --config /etc/restic-manager/config.hcl`,
			Run: runServer,
		},
		{
			Name:     "secrets rotate",
			Synopsis: "Re-seal every stored secret under a new key (server stopped)",
			Usage: `Usage: restic-manager secrets rotate [--config FILE] [--json]

  Generates a new secret key, re-seals every secret in the database with it
  in one transaction, and then drops the old key from the key file. Stop the
  server first: the command takes the data directory's lock. If it is
  interrupted at any point, every secret stays readable with the key file on
  disk; run it again to finish. Back up the new key file afterwards.

Options:
  --config FILE   HCL configuration file (default: the embedded default)
  --json          print the result as JSON

Example:
  systemctl stop restic-manager && restic-manager secrets rotate --config /etc/restic-manager/config.hcl`,
			Run: runRotate,
		},
	}
}

// loadConfig reads --config, or returns the embedded default. Diagnostics
// are printed with their source lines.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	cfg, files, diags := config.Load(path)
	if diags.HasErrors() {
		_ = config.WriteDiagnostics(stderr, files, diags)
		return nil, fmt.Errorf("%s: configuration has errors", path)
	}
	if len(diags) > 0 {
		_ = config.WriteDiagnostics(stderr, files, diags)
	}
	return cfg, nil
}

func parseFlags(name string, args []string, setup func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	setup(fs)
	rest, err := cli.ParseFlags(fs, args)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if len(rest) > 0 {
		return cli.Usagef("unexpected argument %q", rest[0])
	}
	return nil
}

func runServer(ctx context.Context, env *cli.Env, args []string) error {
	var path string
	if err := parseFlags("server", args, func(fs *flag.FlagSet) { fs.StringVar(&path, "config", "", "") }); err != nil {
		return err
	}
	cfg, err := loadConfig(path, env.Stderr)
	if err != nil {
		return err
	}
	return server.Run(ctx, cfg, server.NewLogger(cfg.Log, env.Stderr), server.WithBuiltinPlugins(builtinPlugins()))
}

func runRotate(ctx context.Context, env *cli.Env, args []string) error {
	var path string
	var asJSON bool
	if err := parseFlags("secrets rotate", args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", "")
		fs.BoolVar(&asJSON, "json", false, "")
	}); err != nil {
		return err
	}
	cfg, err := loadConfig(path, env.Stderr)
	if err != nil {
		return err
	}
	res, err := server.RotateSecrets(ctx, cfg, server.NewLogger(cfg.Log, env.Stderr))
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if len(res.OldKeys) == 0 {
		return errors.New("no keys were found")
	}
	_, err = fmt.Fprintf(env.Stdout, "Re-sealed %d secrets under the new key %s; back up %s now.\n",
		res.Resealed, res.NewKey, cfg.Server.SecretKeyFile)
	return err
}
