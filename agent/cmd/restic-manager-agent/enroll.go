package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/restic-manager/restic-manager/agent/config"
	"github.com/restic-manager/restic-manager/agent/enroll"
)

const enrollUsage = `Usage: restic-manager-agent enroll --server URL --token T [--config PATH] [--force]
                                   [--ca-file FILE] [--name NAME] [--state-dir DIR]
                                   [--allow-insecure]

  Exchange a one-time enrollment token for this host's agent credential and
  write the agent configuration (mode 0600). Get the token, and this exact
  command, from "restic-manager enroll-token create" on the server.

  Under https the server is verified with the system's CA certificates (or
  --ca-file), and the fingerprint of its certificate is pinned in the
  configuration for every later connection.

Options:
  --server URL       The server's address, such as https://backup.example.com.
  --token T          The enrollment token (rme_...).
  --config PATH      Where to write the configuration. Default:
                     ` + "/etc/restic-manager-agent/agent.hcl" + ` (Linux),
                     %ProgramData%\restic-manager-agent\agent.hcl (Windows).
  --force            Replace an existing configuration: the host is enrolled
                     again as a new host, with a new credential.
  --ca-file FILE     PEM CA certificate(s), or the server's own certificate,
                     to verify the server with instead of the system's.
  --name NAME        The host's name on the server. Default: this machine's
                     hostname.
  --state-dir DIR    Where the agent keeps its spool and schedules. Default:
                     /var/lib/restic-manager-agent (Linux),
                     %ProgramData%\restic-manager-agent (Windows).
  --allow-insecure   Allow plain http:// to a server that is not on this
                     machine (the token and credential travel unencrypted).

Example:
  restic-manager-agent enroll --server https://backup.example.com --token rme_...`

// runEnroll is "restic-manager-agent enroll".
func runEnroll(args []string) error {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server := fs.String("server", "", "")
	token := fs.String("token", "", "")
	configPath := fs.String("config", config.DefaultPath(), "")
	var opts enroll.Options
	fs.BoolVar(&opts.Force, "force", false, "")
	fs.StringVar(&opts.CAFile, "ca-file", "", "")
	fs.StringVar(&opts.Hostname, "name", "", "")
	fs.BoolVar(&opts.AllowInsecure, "allow-insecure", false, "")
	fs.StringVar(&opts.StateDir, "state-dir", "", "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("enroll: %w; run \"restic-manager-agent enroll --help\"", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("enroll: unexpected argument %q; run \"restic-manager-agent enroll --help\"", fs.Arg(0))
	}
	if *server == "" || *token == "" {
		return errors.New("enroll: --server and --token are required; run \"restic-manager-agent enroll --help\"")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := enroll.Enroll(ctx, *server, *token, *configPath, opts)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	fmt.Printf("Enrolled this host as %q (host id %s).\n", res.HostName, res.HostID)
	fmt.Printf("Wrote the agent configuration to %s (readable only by its owner).\n", res.ConfigPath)
	if res.ServerFingerprint != "" {
		fmt.Printf("Pinned the server's certificate, SHA-256 %s.\n", res.ServerFingerprint)
	}
	fmt.Printf("Start the agent: restic-manager-agent run --config %s\n", res.ConfigPath)
	return nil
}
