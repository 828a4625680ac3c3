package notify

import (
	"context"
	"sync"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Mock is a Notifier for tests. It records every configuration and
// notification it receives; its function fields, when set, decide the
// answers, and otherwise it answers like a well-behaved notifier: Notify
// fails with plugin.ErrNotConfigured before Configure and with ctx.Err()
// once ctx is done.
type Mock struct {
	InfoFunc      func(ctx context.Context) (plugin.Info, error)
	SchemaFunc    func(ctx context.Context) (plugin.Schema, error)
	ConfigureFunc func(ctx context.Context, config []byte) error
	NotifyFunc    func(ctx context.Context, n Notification) error

	mu            sync.Mutex
	configs       [][]byte
	notifications []Notification
}

var _ Notifier = (*Mock)(nil)

// MockInfo is what a Mock without InfoFunc reports.
var MockInfo = plugin.Info{
	Name:          "notify-mock",
	Kind:          plugin.KindNotify,
	APIVersion:    APIVersion,
	PluginVersion: "0.1.0",
}

// MockSchema is what a Mock without SchemaFunc reports.
var MockSchema = plugin.Schema{Attributes: []plugin.Attribute{
	{Name: "target", Type: plugin.TypeString, Required: true, Description: "Where notifications go."},
	{Name: "token", Type: plugin.TypeString, Sensitive: true, Description: "Credential for the target."},
}}

// Info implements plugin.Base.
func (m *Mock) Info(ctx context.Context) (plugin.Info, error) {
	if m.InfoFunc != nil {
		return m.InfoFunc(ctx)
	}
	return MockInfo, ctx.Err()
}

// ConfigSchema implements plugin.Base.
func (m *Mock) ConfigSchema(ctx context.Context) (plugin.Schema, error) {
	if m.SchemaFunc != nil {
		return m.SchemaFunc(ctx)
	}
	return MockSchema, ctx.Err()
}

// Configure implements plugin.Base; a configuration is recorded when it is
// accepted.
func (m *Mock) Configure(ctx context.Context, config []byte) error {
	var err error
	if m.ConfigureFunc != nil {
		err = m.ConfigureFunc(ctx, config)
	} else {
		err = ctx.Err()
	}
	if err == nil {
		m.mu.Lock()
		m.configs = append(m.configs, append([]byte(nil), config...))
		m.mu.Unlock()
	}
	return err
}

// Notify implements Notifier; a notification is recorded when it is
// delivered.
func (m *Mock) Notify(ctx context.Context, n Notification) error {
	var err error
	switch {
	case m.NotifyFunc != nil:
		err = m.NotifyFunc(ctx, n)
	case ctx.Err() != nil:
		err = ctx.Err()
	case len(m.Configs()) == 0:
		err = plugin.ErrNotConfigured
	}
	if err == nil {
		m.mu.Lock()
		m.notifications = append(m.notifications, n)
		m.mu.Unlock()
	}
	return err
}

// Configs returns the configurations accepted so far, oldest first.
func (m *Mock) Configs() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.configs...)
}

// Notifications returns the notifications delivered so far, oldest first.
func (m *Mock) Notifications() []Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Notification(nil), m.notifications...)
}
