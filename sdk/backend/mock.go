package backend

import (
	"context"
	"fmt"
	"sync"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Mock is a Backend for tests. Without RunFunc, Run refuses to run before
// Configure (plugin.ErrNotConfigured) and unknown kinds
// (plugin.ErrUnsupported), emits Events in order, stopping early with
// ctx.Err() when ctx is done, and returns Result and Err. Configurations and
// jobs are recorded.
type Mock struct {
	InfoFunc      func(ctx context.Context) (plugin.Info, error)
	SchemaFunc    func(ctx context.Context) (plugin.Schema, error)
	ConfigureFunc func(ctx context.Context, config []byte) error
	RunFunc       func(ctx context.Context, job Job, emit func(Event) error) (Result, error)

	// Events, Result and Err script Run when RunFunc is nil.
	Events []Event
	Result Result
	Err    error

	mu      sync.Mutex
	configs [][]byte
	jobs    []Job
}

var _ Backend = (*Mock)(nil)

// MockInfo is what a Mock without InfoFunc reports.
var MockInfo = plugin.Info{Name: "backend-mock", Kind: plugin.KindBackend, APIVersion: APIVersion, PluginVersion: "0.1.0"}

// MockSchema is what a Mock without SchemaFunc reports.
var MockSchema = plugin.Schema{Attributes: []plugin.Attribute{
	{Name: "restic_path", Type: plugin.TypeString, Description: "Path of the restic binary."},
	{Name: "env", Type: plugin.TypeMapString, Description: "Extra environment for restic."},
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

// Configure implements plugin.Base.
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

// Run implements Backend.
func (m *Mock) Run(ctx context.Context, job Job, emit func(Event) error) (Result, error) {
	m.mu.Lock()
	m.jobs = append(m.jobs, job)
	configured := len(m.configs) > 0
	m.mu.Unlock()
	if m.RunFunc != nil {
		return m.RunFunc(ctx, job, emit)
	}
	switch {
	case !configured:
		return Result{}, plugin.ErrNotConfigured
	case !job.Kind.Valid():
		return Result{}, fmt.Errorf("job kind %q: %w", job.Kind, plugin.ErrUnsupported)
	}
	for _, ev := range m.Events {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := emit(ev); err != nil {
			return Result{}, err
		}
	}
	return m.Result, m.Err
}

// Configs returns the configurations accepted so far, oldest first.
func (m *Mock) Configs() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.configs...)
}

// Jobs returns every job Run was given, oldest first.
func (m *Mock) Jobs() []Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Job(nil), m.jobs...)
}
