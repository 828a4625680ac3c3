// Package webhook is the notify-webhook channel: it sends each
// notification as an HTTP request to a URL, as JSON in a documented schema
// or as the body a Go template makes (for chat services, incident tools and
// anything else that takes webhooks).
//
// With a secret configured, every request carries an HMAC-SHA256 of its
// exact body bytes in the X-Restic-Manager-Signature header, so the
// receiver can tell it came from this server. Failed deliveries (network
// errors, 5xx, 408 and 429) are retried with exponential backoff, honouring
// Retry-After; other 4xx answers are not retried.
//
// The server binary serves this package as the built-in plugin
// notify-webhook; plugins/notify-webhook is the same plugin as a standalone
// binary.
package webhook

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Name is the plugin's name, reported in Info.
const Name = "notify-webhook"

// Version is the plugin's semantic version, reported in Info.
const Version = "0.1.0"

// Notifier delivers notifications to a webhook. Create it with New; it is
// safe for concurrent use.
type Notifier struct {
	logger hclog.Logger
	client *http.Client
	// retryBase is the wait before the first retry; each further retry
	// waits twice as long, up to maxBackoff. Tests shorten it.
	retryBase time.Duration

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
	transport := http.DefaultTransport.(*http.Transport).Clone()
	return &Notifier{
		logger: logger,
		client: &http.Client{
			Transport: transport,
			// A redirected POST turns into a GET without a body; report
			// the redirect instead of following it.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		retryBase: defaultRetryBase,
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
	n.logger.Info("configured", "target", s.target, "method", s.method,
		"custom_template", s.template != nil, "signed", len(s.secret) > 0,
		"header_names", s.headerNames(), "timeout", s.timeout, "retries", s.retries)
	return nil
}

// Notify implements notify.Notifier: it sends one request, retrying as
// described in the package documentation while ctx allows, and returns
// once the receiver has answered 2xx.
func (n *Notifier) Notify(ctx context.Context, note notify.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.RLock()
	s := n.settings
	n.mu.RUnlock()
	if s == nil {
		return fmt.Errorf("webhook: %w", plugin.ErrNotConfigured)
	}
	if err := note.Validate(); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	body, err := s.render(note)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if err := n.deliver(ctx, s, note, body); err != nil {
		return fmt.Errorf("webhook: %s %s: %w", s.method, s.target, err)
	}
	return nil
}
