package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// LogNotifier appends notifications to a file as JSON lines.
type LogNotifier struct {
	Version string
	Logger  hclog.Logger

	mu     sync.Mutex // serialises Configure and the writes
	config *config
}

var _ notify.Notifier = (*LogNotifier)(nil)

// config is the decoded config block; its JSON names are the schema's.
type config struct {
	Path        string          `json:"path"`
	MinSeverity notify.Severity `json:"min_severity"`
}

var schema = plugin.Schema{Attributes: []plugin.Attribute{
	{
		Name:        "path",
		Type:        plugin.TypeString,
		Required:    true,
		Description: "Absolute path of the file notifications are appended to; its directory must exist.",
	},
	{
		Name:        "min_severity",
		Type:        plugin.TypeString,
		Description: `Least severity written: "info" (the default), "warning" or "critical".`,
	},
}}

// Info implements plugin.Base.
func (l *LogNotifier) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "notify-log", PluginVersion: l.Version}, nil
}

// ConfigSchema implements plugin.Base.
func (l *LogNotifier) ConfigSchema(context.Context) (plugin.Schema, error) {
	return schema, nil
}

// Configure implements plugin.Base.
func (l *LogNotifier) Configure(_ context.Context, raw []byte) error {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.MinSeverity == "" {
		c.MinSeverity = notify.SeverityInfo
	}
	var errs []error
	if !filepath.IsAbs(c.Path) {
		errs = append(errs, fmt.Errorf("path %q is not absolute", c.Path))
	} else if fi, err := os.Stat(filepath.Dir(c.Path)); err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Errorf("path %q: directory %s does not exist", c.Path, filepath.Dir(c.Path)))
	}
	if !c.MinSeverity.Valid() {
		errs = append(errs, fmt.Errorf(`min_severity %q is not "info", "warning" or "critical"`, c.MinSeverity))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.mu.Lock()
	l.config = &c
	l.mu.Unlock()
	l.Logger.Info("configured", "path", c.Path, "min_severity", c.MinSeverity)
	return nil
}

// Notify implements notify.Notifier.
func (l *LogNotifier) Notify(ctx context.Context, n notify.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(n)
	if err != nil {
		return err
	}
	line = append(line, '\n')

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.config == nil {
		return plugin.ErrNotConfigured
	}
	if n.Severity.Rank() < l.config.MinSeverity.Rank() {
		l.Logger.Debug("below min_severity, skipped", "event", n.Event, "severity", n.Severity)
		return nil
	}
	f, err := os.OpenFile(l.config.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
