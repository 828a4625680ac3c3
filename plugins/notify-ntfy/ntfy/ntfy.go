// Package ntfy is the notify-ntfy channel: it publishes notifications to a
// topic of an ntfy server (https://ntfy.sh or a self-hosted one), which
// pushes them to phones and browsers subscribed to the topic.
//
// Messages are published as JSON to the server's root URL (ntfy's "publish
// as JSON"), so titles and bodies in any script arrive intact. The
// notification's severity sets the priority and an emoji tag, its first link
// becomes the click action and its links (up to three) action buttons.
//
// The server binary serves this package as the built-in plugin notify-ntfy;
// plugins/notify-ntfy is the same plugin as a standalone binary.
package ntfy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Name is the plugin's name, reported in Info.
const Name = "notify-ntfy"

// Version is the plugin's semantic version, reported in Info.
const Version = "0.1.0"

// Notifier publishes notifications to an ntfy topic. Create it with New; it
// is safe for concurrent use.
type Notifier struct {
	logger hclog.Logger
	client *http.Client

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
	return &Notifier{logger: logger, client: newHTTPClient()}
}

// newHTTPClient returns the client every publish goes through. It does not
// follow redirects: a redirected POST turns into a GET, which ntfy would
// answer with its web app and a 200, so a redirect is reported instead.
func newHTTPClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Info implements plugin.Base.
func (*Notifier) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: Name, PluginVersion: Version}, nil
}

// ConfigSchema implements plugin.Base.
func (*Notifier) ConfigSchema(context.Context) (plugin.Schema, error) {
	return schema, nil
}

// Configure implements plugin.Base. A configuration that fails validation
// leaves the previous one in place.
func (n *Notifier) Configure(_ context.Context, raw []byte) error {
	s, err := parseConfig(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", plugin.ErrInvalidConfig, err)
	}
	n.mu.Lock()
	n.settings = s
	n.mu.Unlock()
	n.logger.Info("configured", "server", s.server, "topic", s.topic, "auth", s.authKind, "timeout", s.timeout)
	return nil
}

// Notify implements notify.Notifier: it publishes one message and returns
// once the server has accepted it.
func (n *Notifier) Notify(ctx context.Context, note notify.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.RLock()
	s := n.settings
	n.mu.RUnlock()
	if s == nil {
		return fmt.Errorf("ntfy: %w", plugin.ErrNotConfigured)
	}
	if err := note.Validate(); err != nil {
		return fmt.Errorf("ntfy: %w", err)
	}
	msg := buildMessage(s, note)
	if err := n.publish(ctx, s, msg); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// The channel's own timeout, not the caller's deadline: not
			// reported as context.DeadlineExceeded.
			return fmt.Errorf("ntfy: publish to %s: no answer within %s", s.server, s.timeout)
		}
		return fmt.Errorf("ntfy: publish to %s: %w", s.server, err)
	}
	n.logger.Debug("published", "topic", s.topic, "event", note.Event, "severity", note.Severity, "priority", msg.Priority)
	return nil
}
