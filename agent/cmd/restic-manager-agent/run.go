package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/agent/config"
	"github.com/restic-manager/restic-manager/agent/runner"
	"github.com/restic-manager/restic-manager/agent/service"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
)

const runUsage = `Usage: restic-manager-agent run [--config PATH]

  Run the agent: keep a connection to the server (outbound only), run the
  jobs it dispatches with restic, and report every line restic prints.
  Events wait in the state dir until the server has them, so a server that
  is away loses nothing. SIGINT or SIGTERM stops the agent gracefully: it
  interrupts running jobs, reports them, and exits; a second signal exits at
  once.

Options:
  --config PATH   The agent configuration written by "enroll". Default:
                  ` + "/etc/restic-manager-agent/agent.hcl" + ` (Linux),
                  %ProgramData%\restic-manager-agent\agent.hcl (Windows).`

// runRun is "restic-manager-agent run".
func runRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", config.DefaultPath(), "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("run: %w; run \"restic-manager-agent run --help\"", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("run: unexpected argument %q; run \"restic-manager-agent run --help\"", fs.Arg(0))
	}
	cfg, files, diags := config.Load(*configPath)
	if diags.HasErrors() {
		_ = config.WriteDiagnostics(os.Stderr, files, diags)
		return fmt.Errorf("run: cannot use the agent configuration %s", *configPath)
	}
	credential, err := cfg.ReadCredential()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "agent",
		Level:      hclog.LevelFromString(cfg.Log.Level),
		JSONFormat: cfg.Log.Format == "json",
		Output:     os.Stderr,
	})
	agent := func(ctx context.Context) error { return runAgent(ctx, cfg, credential, logger) }

	if handled, err := service.RunIfService(service.DefaultName, agent); handled || err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	return agent(ctx)
}

// runAgent starts the plugin host with the built-in restic backend and runs
// the agent until ctx ends.
func runAgent(ctx context.Context, cfg *config.Config, credential string, logger hclog.Logger) error {
	host, err := pluginhost.New(pluginhost.Options{Builtins: builtins, Logger: logger})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer host.Close()
	be, err := host.Backend(ctx, resticPlugin)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	a, err := runner.New(runner.Config{
		ServerURL:         cfg.ServerURL,
		Credential:        credential,
		ServerFingerprint: cfg.ServerFingerprint,
		AllowInsecure:     cfg.AllowInsecure,
		StateDir:          cfg.StateDir,
		Backend:           be,
		BackendConfig:     resticBackendConfig(cfg.ResticBinary),
		HookShell:         cfg.HookShell,
		Logger:            logger,
	})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if err := a.Run(ctx); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// resticBackendConfig is backend-restic's configuration block as JSON.
func resticBackendConfig(resticBinary string) []byte {
	c := map[string]any{}
	if resticBinary != "" {
		c["restic_binary"] = resticBinary
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(errors.New("encoding a map of strings cannot fail"))
	}
	return b
}
