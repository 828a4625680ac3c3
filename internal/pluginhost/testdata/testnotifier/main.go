// Command testnotifier is a notify plugin for the plugin host's tests that
// misbehaves on demand. Its first argument picks how it starts:
//
//	good      a well-behaved notifier (the default)
//	garbage   prints a line to stdout before serving, breaking the handshake
//	exit      exits with status 3 before serving
//	backend   serves a backend instead of a notifier
//	api2      reports notify API version 2.0.0
//
// The body of a notification picks what Notify does: "hang" sleeps without
// looking at its context, "block" waits for its context, "exit" exits the
// process with status 2, "panic" panics; anything else appends the title
// to the file in the "log" attribute. Notify first writes the process id
// to the "pid_file" attribute's file and a line to the "calls_file"
// attribute's file, when set, so a test knows calls have arrived and which
// process to kill.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

type config struct {
	Log     string `json:"log"`
	PIDFile string `json:"pid_file"`
	Calls   string `json:"calls_file"`
	Reject  bool   `json:"reject"`
}

type notifier struct {
	mu  sync.Mutex
	cfg *config
}

func (n *notifier) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "testnotifier", PluginVersion: "1.2.3"}, nil
}

func (n *notifier) ConfigSchema(context.Context) (plugin.Schema, error) {
	return plugin.Schema{Attributes: []plugin.Attribute{
		{Name: "log", Type: plugin.TypeString, Required: true, Description: "File notifications are appended to."},
		{Name: "pid_file", Type: plugin.TypeString, Description: "File Notify writes the process id to."},
		{Name: "calls_file", Type: plugin.TypeString, Description: "File Notify appends a line to as it starts."},
		{Name: "reject", Type: plugin.TypeBool, Description: "Reject the configuration."},
	}}, nil
}

func (n *notifier) Configure(_ context.Context, raw []byte) error {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.Reject {
		return errors.New("reject is set, so this configuration is rejected")
	}
	n.mu.Lock()
	n.cfg = &c
	n.mu.Unlock()
	plugin.Logger().Info("configured", "log", c.Log)
	return nil
}

func (n *notifier) Notify(ctx context.Context, note notify.Notification) error {
	n.mu.Lock()
	c := n.cfg
	n.mu.Unlock()
	if c == nil {
		return plugin.ErrNotConfigured
	}
	if c.PIDFile != "" {
		if err := os.WriteFile(c.PIDFile, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return err
		}
	}
	if c.Calls != "" {
		if err := appendLine(c.Calls, "call"); err != nil {
			return err
		}
	}
	switch note.Body {
	case "hang":
		time.Sleep(time.Hour)
	case "block":
		<-ctx.Done()
		return ctx.Err()
	case "exit":
		os.Exit(2)
	case "panic":
		panic("asked to panic")
	}
	return appendLine(c.Log, note.Title)
}

var appendMu sync.Mutex

func appendLine(path, line string) error {
	appendMu.Lock()
	defer appendMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func main() {
	mode := "good"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	impl := &notifier{}
	switch mode {
	case "garbage":
		fmt.Println("hello from a plugin that prints to stdout")
	case "exit":
		os.Exit(3)
	case "backend":
		backend.Serve(&backend.Mock{})
		return
	case "api2":
		plugin.Serve(plugin.ServeConfig{
			Kind: plugin.KindNotify, APIVersion: "2.0.0", Impl: impl,
			Plugin: &notify.GRPCPlugin{Impl: impl},
		})
		return
	}
	notify.Serve(impl)
}
