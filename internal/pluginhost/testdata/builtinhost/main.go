// Command builtinhost is a host binary with one built-in plugin, for the
// plugin host's tests: "builtinhost plugin serve echo" serves the built-in
// (the host re-executes itself so), and "builtinhost run LOGFILE" starts a
// host, sends one notification through the built-in and prints the
// plugin's status as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

var builtins = []pluginhost.Builtin{{
	Name:  "echo",
	Kind:  plugin.KindNotify,
	Serve: func() { notify.Serve(&echo{}) },
}}

// echo appends each notification's title to the file in its config.
type echo struct {
	mu   sync.Mutex
	path string
}

func (e *echo) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "echo", PluginVersion: "0.0.1"}, nil
}

func (e *echo) ConfigSchema(context.Context) (plugin.Schema, error) {
	return plugin.Schema{Attributes: []plugin.Attribute{
		{Name: "path", Type: plugin.TypeString, Required: true, Description: "File to append to."},
	}}, nil
}

func (e *echo) Configure(_ context.Context, raw []byte) error {
	var c struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	e.mu.Lock()
	e.path = c.Path
	e.mu.Unlock()
	return nil
}

func (e *echo) Notify(_ context.Context, n notify.Notification) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	plugin.Logger().Info("echoing", "title", n.Title)
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "%s pid=%d\n", n.Title, os.Getpid())
	return f.Close()
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if err := pluginhost.ServeBuiltin(builtins, os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 3 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: builtinhost run LOGFILE | plugin serve NAME")
		os.Exit(2)
	}
	if err := run(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(logFile string) error {
	logger := hclog.New(&hclog.LoggerOptions{Name: "builtinhost", Level: hclog.Debug, Output: os.Stderr})
	h, err := pluginhost.New(pluginhost.Options{Builtins: builtins, Logger: logger})
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := h.Notifier(ctx, "echo")
	if err != nil {
		return err
	}
	cfg, _ := json.Marshal(map[string]string{"path": logFile})
	if err := n.Configure(ctx, cfg); err != nil {
		return err
	}
	if err := n.Notify(ctx, notify.Notification{Event: notify.EventTest, Severity: notify.SeverityInfo, Title: "hello", Time: time.Now()}); err != nil {
		return err
	}
	out, err := json.Marshal(h.List())
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(out))
	return err
}
