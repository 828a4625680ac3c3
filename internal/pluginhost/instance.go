package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/auth"
	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// instance is one supervised process of a plugin, with its own
// configuration. It starts on first use and restarts after crashes.
type instance struct {
	host   *Host
	def    *definition
	key    string
	kind   plugin.Kind
	logger hclog.Logger
	// starting serialises starts: one caller starts the process, the
	// others wait for it (or for their context).
	starting chan struct{}

	mu          sync.Mutex
	proc        *process // nil while no process runs
	failed      error    // non-nil: calls fail with it until reset
	needRestart bool     // the process crashed; the next start is a restart
	retryAt     time.Time
	backoff     time.Duration
	crashes     []time.Time // within the restart window
	restarts    int
	lastErr     error
	lastErrAt   time.Time
	config      []byte // the last configuration the plugin accepted
	inflight    int
	lastUsed    time.Time
}

// process is one running plugin process and its dispensed clients.
type process struct {
	client  *goplugin.Client
	cmd     *exec.Cmd
	base    plugin.Base
	info    plugin.Info
	schema  plugin.Schema
	notify  notify.Notifier
	backend backend.Backend
	auth    auth.Authenticator
}

func newInstance(h *Host, d *definition, key string, kind plugin.Kind) *instance {
	logger := h.logger.Named("plugin_host").With("plugin", d.name)
	if key != "" {
		logger = logger.With("instance", key)
	}
	return &instance{
		host: h, def: d, key: key, kind: kind, logger: logger,
		starting: make(chan struct{}, 1),
		backoff:  h.opts.MinBackoff,
	}
}

// deadlineSlack is how far ahead of a call's deadline a deadline error is
// taken to be that deadline's.
const deadlineSlack = 250 * time.Millisecond

// errPanic marks an error made from a panic of the host-side client code.
var errPanic = errors.New("panic in the plugin client")

// call runs fn against a running process: it starts the process if need
// be, bounds the call by timeout (0: ctx alone), and sorts out what a
// failure means for the process. fn must not keep ctx or p beyond the call.
func (i *instance) call(ctx context.Context, timeout time.Duration, fn func(ctx context.Context, p *process) error) error {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	i.begin()
	defer i.end()

	p, err := i.ensure(cctx)
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			return fmt.Errorf("plugin %q did not start within %s: %w", i.def.name, timeout, err)
		}
		return err
	}
	err = i.safely(func() error { return fn(cctx, p) })
	if err == nil {
		i.succeeded()
		return nil
	}
	return i.failedCall(ctx, cctx, timeout, p, err)
}

// failedCall decides what a failed call says about the process: a crash
// (restart it), a hang (kill and restart it), or the plugin's own answer.
func (i *instance) failedCall(ctx, cctx context.Context, timeout time.Duration, p *process, err error) error {
	name := i.def.name
	// gRPC sends the deadline along, and the plugin's side may give up a
	// moment before the context here notices: wait for it to, so that the
	// call is blamed on the right deadline.
	if deadline, ok := cctx.Deadline(); ok && errors.Is(err, context.DeadlineExceeded) && time.Until(deadline) < deadlineSlack {
		t := time.NewTimer(deadlineSlack)
		select {
		case <-cctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	switch {
	case errors.Is(err, errPanic):
		return err
	case errors.Is(err, plugin.ErrUnavailable) || p.client.Exited():
		if !errors.Is(err, plugin.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", plugin.ErrUnavailable, err)
		}
		err = fmt.Errorf("plugin %q crashed during the call: %w", name, err)
		i.crashed(p, err, false)
		return err
	case ctx.Err() == nil && cctx.Err() != nil:
		err = fmt.Errorf("plugin %q did not answer within %s and was killed: %w", name, timeout, err)
		i.crashed(p, err, true)
		return err
	case ctx.Err() != nil:
		// The caller gave up. A healthy plugin has cancelled the call too;
		// one that no longer answers at all is hung and is killed.
		i.host.background(func() { i.probe(p) })
		return err
	}
	return err
}

// probe kills the process if it does not answer Info promptly.
func (i *instance) probe(p *process) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	err := i.safely(func() error {
		_, err := p.base.Info(ctx)
		return err
	})
	if err != nil && !errors.Is(err, errPanic) {
		i.crashed(p, fmt.Errorf("plugin %q stopped answering after a cancelled call and was killed: %w", i.def.name, err), true)
	}
}

// safely runs fn and turns a panic into an error: nothing a plugin sends
// back may bring the host down.
func (i *instance) safely(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			i.logger.Error("plugin client panicked", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w of plugin %q: %v", errPanic, i.def.name, v)
		}
	}()
	return fn()
}

func (i *instance) begin() {
	i.mu.Lock()
	i.inflight++
	i.lastUsed = time.Now()
	i.mu.Unlock()
}

func (i *instance) end() {
	i.mu.Lock()
	i.inflight--
	i.lastUsed = time.Now()
	i.mu.Unlock()
}

func (i *instance) succeeded() {
	i.mu.Lock()
	i.backoff = i.host.opts.MinBackoff
	i.mu.Unlock()
}

// usable reports why calls cannot go ahead, if they cannot. Call with i.mu
// held.
func (i *instance) usable() error {
	if i.failed != nil {
		return i.failed
	}
	if i.host.isClosed() {
		return ErrClosed
	}
	return nil
}

// ensure returns the running process, starting it if there is none: after
// a crash, once the backoff has passed.
func (i *instance) ensure(ctx context.Context) (*process, error) {
	i.mu.Lock()
	if err := i.usable(); err != nil {
		i.mu.Unlock()
		return nil, err
	}
	if p := i.proc; p != nil {
		if !p.client.Exited() {
			i.mu.Unlock()
			return p, nil
		}
		i.mu.Unlock()
		i.crashed(p, fmt.Errorf("%w: plugin %q exited", plugin.ErrUnavailable, i.def.name), false)
	} else {
		i.mu.Unlock()
	}

	select {
	case i.starting <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for plugin %q to start: %w", i.def.name, ctx.Err())
	}
	defer func() { <-i.starting }()

	i.mu.Lock()
	if err := i.usable(); err != nil {
		i.mu.Unlock()
		return nil, err
	}
	if i.proc != nil { // another caller started it meanwhile
		p := i.proc
		i.mu.Unlock()
		return p, nil
	}
	restart, wait, config, lastErr := i.needRestart, time.Until(i.retryAt), i.config, i.lastErr
	i.mu.Unlock()

	if restart {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%w: plugin %q is restarting (next attempt in %s): %w",
					plugin.ErrUnavailable, i.def.name, wait.Round(time.Millisecond), ctx.Err())
			}
		}
		i.mu.Lock()
		i.restarts++
		n := i.restarts
		i.mu.Unlock()
		i.logger.Warn("restarting plugin", "restart", n, "after", wait.Round(time.Millisecond), "last_error", errString(lastErr))
	}

	var p *process
	err := i.safely(func() error {
		var err error
		p, err = i.start(ctx, config)
		return err
	})
	if err != nil {
		switch {
		case errors.Is(err, ErrChecksum), errors.Is(err, ErrOutsideDir),
			errors.Is(err, ErrWrongKind), errors.Is(err, ErrIncompatible):
			i.fail(err)
		case ctx.Err() != nil:
			// The caller gave up while the plugin was starting: not the
			// plugin's fault.
		default:
			i.crashed(nil, err, false)
		}
		return nil, err
	}

	i.mu.Lock()
	if err := i.usable(); err != nil { // closed or reset while starting
		i.mu.Unlock()
		p.kill(false)
		return nil, err
	}
	i.proc = p
	i.needRestart = false
	i.mu.Unlock()
	return p, nil
}

// crashed records that p crashed (or, with p nil, that a start failed) and
// schedules the restart, or fails the instance once it has crashed too
// often. force kills p at once rather than asking it to exit.
func (i *instance) crashed(p *process, cause error, force bool) {
	i.mu.Lock()
	if p != nil {
		if i.proc != p { // already handled
			i.mu.Unlock()
			return
		}
		i.proc = nil
		defer i.host.background(func() { p.kill(force) })
	}
	if i.failed != nil {
		i.mu.Unlock()
		return
	}
	opts := i.host.opts
	now := time.Now()
	i.setErr(cause, now)
	i.crashes = slices.DeleteFunc(i.crashes, func(t time.Time) bool { return now.Sub(t) > opts.RestartWindow })
	i.crashes = append(i.crashes, now)
	if len(i.crashes) > opts.MaxRestarts {
		i.failed = fmt.Errorf("%w: plugin %q crashed %d times within %s and is not restarted again until it is reset; last error: %w",
			ErrFailed, i.def.name, len(i.crashes), opts.RestartWindow, cause)
		i.needRestart = false
		i.mu.Unlock()
		i.logger.Error("plugin failed: too many crashes; calls fail until it is reset", "crashes", len(i.crashes), "window", opts.RestartWindow, "error", cause)
		return
	}
	i.needRestart = true
	i.retryAt = now.Add(i.backoff)
	backoff := i.backoff
	i.backoff = min(2*i.backoff, opts.MaxBackoff)
	i.mu.Unlock()
	i.logger.Warn("plugin crashed; it restarts on its next call", "backoff", backoff, "error", cause)
}

// fail marks the instance failed for a reason a restart will not fix.
func (i *instance) fail(cause error) {
	i.mu.Lock()
	i.setErr(cause, time.Now())
	i.failed = fmt.Errorf("%w: %w", ErrFailed, cause)
	i.needRestart = false
	i.mu.Unlock()
	i.logger.Error("plugin cannot run; calls fail until it is reset", "error", cause)
}

func (i *instance) setErr(err error, at time.Time) {
	i.lastErr, i.lastErrAt = err, at
}

// reset clears a failed state and the crash history.
func (i *instance) reset() {
	i.mu.Lock()
	wasFailed := i.failed != nil
	i.failed = nil
	i.crashes = nil
	i.needRestart = false
	i.backoff = i.host.opts.MinBackoff
	i.mu.Unlock()
	if wasFailed {
		i.logger.Info("plugin reset; the next call starts it")
	}
}

// stopIdle stops the process if no call is in flight.
func (i *instance) stopIdle() {
	i.mu.Lock()
	p := i.proc
	if p == nil || i.inflight > 0 {
		i.mu.Unlock()
		return
	}
	i.proc = nil
	i.mu.Unlock()
	i.logger.Debug("stopping idle plugin")
	p.kill(false)
}

// stop stops the process, whatever it is doing.
func (i *instance) stop(force bool) {
	i.mu.Lock()
	p := i.proc
	i.proc = nil
	i.mu.Unlock()
	if p != nil {
		p.kill(force)
	}
}

// idleSince returns how long the instance has had no call, or 0 while one
// is in flight or no process runs.
func (i *instance) idleSince(now time.Time) time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc == nil || i.inflight > 0 {
		return 0
	}
	return now.Sub(i.lastUsed)
}

func (i *instance) setConfig(config []byte) {
	i.mu.Lock()
	i.config = slices.Clone(config)
	i.mu.Unlock()
}

func (i *instance) status() InstanceStatus {
	i.mu.Lock()
	defer i.mu.Unlock()
	st := InstanceStatus{Instance: i.key, Restarts: i.restarts, LastError: errString(i.lastErr), lastErrAt: i.lastErrAt}
	switch {
	case i.failed != nil:
		st.State = StateFailed
		st.LastError = i.failed.Error()
	case i.proc != nil:
		st.State = StateRunning
		if i.proc.cmd.Process != nil {
			st.PID = i.proc.cmd.Process.Pid
		}
	case i.needRestart:
		st.State = StateRestarting
	default:
		st.State = StateStopped
	}
	return st
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// kill ends the process: force sends SIGKILL at once (a hung plugin),
// otherwise go-plugin asks it to exit first.
func (p *process) kill(force bool) {
	if force && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	p.client.Kill()
}
