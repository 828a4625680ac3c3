// Package smtp is the notify-smtp channel: it mails each notification
// through an SMTP server (a submission port of a mail provider or a local
// relay), as a plain-text and HTML multipart/alternative message.
//
// The connection is encrypted with STARTTLS (the default) or implicit TLS,
// or not at all, for a relay on the same machine; the certificate is checked
// against the system's roots or a CA file. Credentials are sent with AUTH
// PLAIN or LOGIN, and only over an encrypted connection or to localhost.
//
// The server binary serves this package as the built-in plugin notify-smtp;
// plugins/notify-smtp is the same plugin as a standalone binary.
package smtp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Name is the plugin's name, reported in Info.
const Name = "notify-smtp"

// Version is the plugin's semantic version, reported in Info.
const Version = "0.1.0"

// Notifier mails notifications. Create it with New; it is safe for
// concurrent use, and every Notify is a connection of its own.
type Notifier struct {
	logger hclog.Logger
	// now is the clock of the Date header; tests set it.
	now func() time.Time

	mu       sync.RWMutex
	settings *settings // nil until a Configure succeeds
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns an unconfigured Notifier that logs to logger (nil discards
// the log).
func New(logger hclog.Logger) *Notifier {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Notifier{logger: logger, now: time.Now}
}

// Info implements plugin.Base.
func (*Notifier) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: Name, PluginVersion: Version}, nil
}

// ConfigSchema implements plugin.Base.
func (*Notifier) ConfigSchema(context.Context) (plugin.Schema, error) {
	return schema, nil
}

// Configure implements plugin.Base. It checks the configuration without
// connecting to the server (`restic-manager channel test` does that). A
// configuration that fails validation leaves the previous one in place.
func (n *Notifier) Configure(_ context.Context, raw []byte) error {
	s, err := parseConfig(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", plugin.ErrInvalidConfig, err)
	}
	n.mu.Lock()
	n.settings = s
	n.mu.Unlock()
	n.logger.Info("configured", "server", s.addr, "tls", s.mode, "auth", s.username != "",
		"from", s.from.Address, "recipients", len(s.to), "timeout", s.timeout)
	return nil
}

// Notify implements notify.Notifier: it mails one message to every
// recipient and returns once the server has accepted it.
func (n *Notifier) Notify(ctx context.Context, note notify.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.RLock()
	s := n.settings
	n.mu.RUnlock()
	if s == nil {
		return fmt.Errorf("smtp: %w", plugin.ErrNotConfigured)
	}
	if err := note.Validate(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	msg, err := buildMessage(s, note, n.now())
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := n.send(ctx, s, msg); err != nil {
		return fmt.Errorf("smtp: sending through %s: %w", s.addr, err)
	}
	n.logger.Debug("sent", "server", s.addr, "event", note.Event, "severity", note.Severity, "recipients", len(s.to))
	return nil
}
