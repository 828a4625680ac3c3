// Package backend is the backend-restic plugin: an sdk/backend.Backend that
// runs each job with the restic binary through the restic package's Runner
// and streams what restic reports as SDK events.
//
// The plugin binary (plugins/backend-restic) serves New's Backend with
// sdk/backend.Serve; the agent re-executes itself to serve the same one as
// a built-in plugin. README.md in plugins/backend-restic documents the
// config block, how each job kind and its Extra keys map to restic's
// command line, how restic's messages become events and Result.Output, and
// how exit codes are reported.
package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/version"
	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Name is the plugin's name in Info.
const Name = "backend-restic"

// Backend runs restic jobs for the agent. It is safe for concurrent use:
// the agent may run several jobs at once and reconfigure it meanwhile; a
// job keeps the configuration it started with.
type Backend struct {
	log hclog.Logger

	mu    sync.Mutex
	state *state // nil until a successful Configure
}

// state is what a successful Configure established.
type state struct {
	runner   *restic.Runner
	cacheDir string
}

var _ sdk.Backend = (*Backend)(nil)

// New returns an unconfigured Backend that logs to logger (nil logs
// nothing).
func New(logger hclog.Logger) *Backend {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Backend{log: logger}
}

// Info implements plugin.Base.
func (b *Backend) Info(ctx context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name:          Name,
		Kind:          plugin.KindBackend,
		APIVersion:    sdk.APIVersion,
		PluginVersion: pluginVersion(),
	}, ctx.Err()
}

// ConfigSchema implements plugin.Base.
func (b *Backend) ConfigSchema(ctx context.Context) (plugin.Schema, error) {
	return schema, ctx.Err()
}

// Configure implements plugin.Base: it checks the block, finds restic and
// asks its version, so that a missing or too old restic is reported when
// the agent starts rather than at the first backup. A failed Configure
// keeps the previous configuration.
func (b *Backend) Configure(ctx context.Context, raw []byte) error {
	cfg, rcfg, err := parseConfig(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", plugin.ErrInvalidConfig, err)
	}
	rcfg.Logger = b.log.Named("restic")
	runner, err := restic.New(rcfg)
	if err != nil {
		return fmt.Errorf("%w: %w", plugin.ErrInvalidConfig, err)
	}
	v, err := runner.Version(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("check restic version: %w", ctxErr)
		}
		return fmt.Errorf("%w: %w", plugin.ErrInvalidConfig, err)
	}
	b.mu.Lock()
	b.state = &state{runner: runner, cacheDir: cfg.CacheDir}
	b.mu.Unlock()
	b.log.Info("configured", "restic", runner.Binary(), "restic_version", v.String())
	return nil
}

func (b *Backend) current() *state {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Run implements sdk.Backend: it runs job with restic and streams its
// events. See README.md for what each kind emits and returns.
//
// Exit code 3 of a backup (snapshot made, some files unreadable) is a
// success: Result.ExitCode is 3, the error is nil, and Error events name
// the files. Any other failure returns restic's Result (its exit code) and
// an error saying what the code means (wrong password, no repository,
// locked) with restic's own message.
func (b *Backend) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) (sdk.Result, error) {
	st := b.current()
	if st == nil {
		return sdk.Result{}, plugin.ErrNotConfigured
	}
	log := b.log.With("job_id", job.ID, "kind", string(job.Kind))
	rjob, err := resticJob(job)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("restic %s: %w", job.Kind, err)
	}
	if emit == nil {
		emit = func(sdk.Event) error { return nil }
	}
	conv := newConverter(rjob.Kind(), maxOutputBytes)
	forward := func(ev restic.Event) error {
		for _, out := range conv.convert(ev) {
			if err := emit(out); err != nil {
				return err
			}
		}
		return nil
	}

	// restic opens the destination of a copy as its repository; the
	// source travels in the CopyJob.
	repo := job.Repository
	if job.Kind == sdk.JobCopy && job.ToRepository != nil {
		repo = *job.ToRepository
	}
	log.Debug("job started")
	if sj, ok := rjob.(restic.StatsJob); ok && sj.Mode == statsRepository {
		return repositoryStats(ctx, st, resticRepository(repo, st.cacheDir), sj, emit, log)
	}
	res, err := st.runner.Run(ctx, resticRepository(repo, st.cacheDir), rjob, forward)
	out := sdk.Result{ExitCode: res.ExitCode, SnapshotID: res.SnapshotID}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// Whatever failed first (often emit, as the host is gone), the
			// job was cancelled.
			err = fmt.Errorf("restic %s cancelled: %w", rjob.Kind(), ctxErr)
		}
		log.Debug("job failed", "exit_code", res.ExitCode, "error", err)
		return out, runError(err)
	}
	out.Output = conv.output()
	log.Debug("job finished", "exit_code", res.ExitCode, "duration", res.Duration)
	return out, nil
}

// runError gives the runner's errors the SDK identity the host can match
// across the process boundary, keeping their message: a feature the
// installed restic lacks is plugin.ErrUnsupported.
func runError(err error) error {
	var unsupported *restic.ErrUnsupported
	if errors.As(err, &unsupported) && !errors.Is(err, plugin.ErrUnsupported) {
		return fmt.Errorf("%w: %w", err, plugin.ErrUnsupported)
	}
	return err
}

// pluginVersion is the restic-manager release as a semantic version, which
// Info must report; development builds ("dev") report 0.0.0-dev.
func pluginVersion() string {
	if v := version.Version; plugin.ValidVersion(v) {
		if v[0] == 'v' {
			return v[1:]
		}
		return v
	}
	return "0.0.0-dev"
}
