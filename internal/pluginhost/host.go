package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Defaults of Options.
const (
	DefaultCallTimeout   = time.Minute
	DefaultStartTimeout  = 30 * time.Second
	DefaultMinBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRestarts   = 5
	DefaultRestartWindow = 10 * time.Minute
)

// probeTimeout bounds the liveness check of a plugin whose call was
// abandoned by its caller.
const probeTimeout = 5 * time.Second

// Options configure a Host. Zero values mean the defaults.
type Options struct {
	// Builtins are the plugins compiled into this binary.
	Builtins []Builtin
	// PluginDir is where external plugins live; required when Externals is
	// not empty. A relative path is relative to the working directory.
	PluginDir string
	// Externals are the registered plugin binaries in PluginDir.
	Externals []External
	// Logger is the host's logger; plugins log under its "plugin.NAME".
	Logger hclog.Logger
	// Executable is the binary that serves the built-in plugins; empty
	// means the running executable (os.Executable).
	Executable string

	// CallTimeout bounds every call that has no earlier deadline of its
	// own, except Backend.Run (a backup may run for hours; its context
	// bounds it). A plugin that does not answer in time is killed and
	// restarted. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// StartTimeout bounds a plugin's start-up handshake. Default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// MinBackoff is the wait before the first restart after a crash; it
	// doubles with every further crash up to MaxBackoff, and is back at
	// MinBackoff after a successful call. Defaults DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxRestarts crashes within RestartWindow are restarted; one more and
	// the plugin is failed until Reset. Defaults DefaultMaxRestarts and
	// DefaultRestartWindow.
	MaxRestarts   int
	RestartWindow time.Duration
	// IdleTimeout stops a plugin process that has had no call for that
	// long; the next call starts it again, configured as before. Zero
	// keeps idle plugins running.
	IdleTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.MaxRestarts <= 0 {
		o.MaxRestarts = DefaultMaxRestarts
	}
	if o.RestartWindow <= 0 {
		o.RestartWindow = DefaultRestartWindow
	}
}

// PluginError is why New refused one plugin.
type PluginError struct {
	Name string
	// Field is what is wrong: "name", "command" or "sha256" of an external
	// plugin; empty for a built-in's declaration.
	Field string
	Err   error
}

func (e *PluginError) Error() string { return fmt.Sprintf("plugin %q: %v", e.Name, e.Err) }

func (e *PluginError) Unwrap() error { return e.Err }

// Host knows the built-in and external plugins and supervises their
// processes. Its methods are safe for concurrent use.
type Host struct {
	opts   Options
	logger hclog.Logger
	exe    *executable
	defs   map[string]*definition
	names  []string // sorted

	mu        sync.Mutex
	instances map[instanceKey]*instance
	closed    bool
	bg        sync.WaitGroup // kills and probes in the background
	stop      chan struct{}  // ends the idle reaper
}

type instanceKey struct{ name, instance string }

// New checks the plugins of opts and returns a host that starts none of
// them yet. Every external plugin's command must resolve to a file inside
// PluginDir and carry a well-formed SHA-256 (the checksum itself is checked
// at every start). On error the host is nil and the error joins one
// *PluginError per refused plugin.
func New(opts Options) (*Host, error) {
	opts.setDefaults()
	h := &Host{
		opts:      opts,
		logger:    opts.Logger,
		exe:       &executable{override: opts.Executable},
		defs:      map[string]*definition{},
		instances: map[instanceKey]*instance{},
		stop:      make(chan struct{}),
	}
	var errs []error
	refuse := func(name, field string, err error) {
		errs = append(errs, &PluginError{Name: name, Field: field, Err: err})
	}
	for _, b := range opts.Builtins {
		if err := validateBuiltin(b); err != nil {
			refuse(b.Name, "", err)
			continue
		}
		if _, dup := h.defs[b.Name]; dup {
			refuse(b.Name, "", errors.New("two built-in plugins have this name"))
			continue
		}
		h.defs[b.Name] = &definition{name: b.Name, source: SourceBuiltin, kind: b.Kind, args: ServeArgs(b.Name)}
	}
	dir := opts.PluginDir
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("plugin_dir %q: %w", dir, err)
		}
		dir = abs
	}
	for _, e := range opts.Externals {
		d, field, err := newExternal(dir, e)
		if err != nil {
			refuse(e.Name, field, err)
			continue
		}
		if old, dup := h.defs[e.Name]; dup {
			if old.source == SourceBuiltin {
				refuse(e.Name, "name", errors.New("a built-in plugin has this name; choose another"))
			} else {
				refuse(e.Name, "name", errors.New("registered twice"))
			}
			continue
		}
		h.defs[e.Name] = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for name := range h.defs {
		h.names = append(h.names, name)
	}
	slices.Sort(h.names)
	if opts.IdleTimeout > 0 {
		h.bg.Add(1)
		go h.reapIdle()
	}
	return h, nil
}

// newExternal checks one registration; on error it says which field is
// wrong.
func newExternal(dir string, e External) (*definition, string, error) {
	if !ValidName(e.Name) {
		return nil, "name", fmt.Errorf("name %q is not lower-case letters, digits and dashes", e.Name)
	}
	sum, err := ParseSHA256(e.SHA256)
	if err != nil {
		return nil, "sha256", err
	}
	path, err := resolveCommand(dir, e.Command)
	if err != nil {
		return nil, "command", err
	}
	return &definition{
		name: e.Name, source: SourceExternal, command: e.Command, dir: dir,
		args: slices.Clone(e.Args), sum: sum, path: path,
	}, "", nil
}

// Names returns the names of every plugin the host knows, sorted.
func (h *Host) Names() []string { return slices.Clone(h.names) }

// Kind returns the kind of the plugin name: declared for a built-in, as
// reported for an external plugin that has started, "" before that.
func (h *Host) Kind(name string) (plugin.Kind, error) {
	d, ok := h.defs[name]
	if !ok {
		return "", h.unknown(name)
	}
	return d.knownKind(), nil
}

func (h *Host) unknown(name string) error {
	return fmt.Errorf("%w %q", ErrUnknownPlugin, name)
}

// HandleOption adjusts what Notifier, Backend and Authenticator return.
type HandleOption func(*handleOptions)

type handleOptions struct{ instance string }

// Instance selects the instance of the plugin a handle talks to. Handles of
// the same plugin and instance share one process and its configuration;
// the default instance is "".
func Instance(key string) HandleOption {
	return func(o *handleOptions) { o.instance = key }
}

// instance returns the instance (name, key) for a handle of kind, creating
// it on first use. A plugin whose kind is not known yet is started to learn
// it, so a kind mismatch is reported here.
func (h *Host) instance(ctx context.Context, name string, kind plugin.Kind, opts []HandleOption) (*instance, error) {
	var o handleOptions
	for _, opt := range opts {
		opt(&o)
	}
	d, ok := h.defs[name]
	if !ok {
		return nil, h.unknown(name)
	}
	if known := d.knownKind(); known != "" && known != kind {
		return nil, wrongKind(name, known, kind)
	}
	key := instanceKey{name: name, instance: o.instance}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	inst, ok := h.instances[key]
	if !ok {
		inst = newInstance(h, d, o.instance, kind)
		h.instances[key] = inst
	}
	h.mu.Unlock()
	if inst.kind != kind {
		return nil, wrongKind(name, inst.kind, kind)
	}
	if d.knownKind() == "" {
		if err := inst.call(ctx, h.opts.CallTimeout, func(context.Context, *process) error { return nil }); err != nil {
			if errors.Is(err, ErrWrongKind) {
				h.forget(key, inst)
			}
			return nil, err
		}
	}
	return inst, nil
}

func wrongKind(name string, is, want plugin.Kind) error {
	return fmt.Errorf("%w: plugin %q is a %s plugin, not a %s plugin", ErrWrongKind, name, is, want)
}

// forget drops an instance that will never work, such as one created for
// the wrong kind.
func (h *Host) forget(key instanceKey, inst *instance) {
	h.mu.Lock()
	if h.instances[key] == inst {
		delete(h.instances, key)
	}
	h.mu.Unlock()
	inst.stop(true)
}

func (h *Host) instancesOf(name string) []*instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*instance
	for k, inst := range h.instances {
		if k.name == name {
			out = append(out, inst)
		}
	}
	return out
}

func (h *Host) allInstances() []*instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*instance, 0, len(h.instances))
	for _, inst := range h.instances {
		out = append(out, inst)
	}
	return out
}

// Reset clears the failed state of every instance of the plugin name, so
// that the next call starts it afresh (with a new restart budget).
func (h *Host) Reset(name string) error {
	if _, ok := h.defs[name]; !ok {
		return h.unknown(name)
	}
	for _, inst := range h.instancesOf(name) {
		inst.reset()
	}
	return nil
}

// StopIdle stops every plugin process that has no call in flight. The
// server calls it after start-up, which starts each channel's plugin to
// check its configuration, so that plugins run only once they are used;
// the next call starts a process again, configured as before.
func (h *Host) StopIdle() {
	h.stopWhere(func(*instance) bool { return true })
}

func (h *Host) stopWhere(pick func(*instance) bool) {
	var wg sync.WaitGroup
	for _, inst := range h.allInstances() {
		if !pick(inst) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst.stopIdle()
		}()
	}
	wg.Wait()
}

func (h *Host) reapIdle() {
	defer h.bg.Done()
	every := min(max(h.opts.IdleTimeout/2, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.stopWhere(func(inst *instance) bool { return inst.idleSince(now) >= h.opts.IdleTimeout })
		}
	}
}

// Close stops every plugin process and waits for them to exit. Calls after
// Close fail with ErrClosed.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stop)
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, inst := range h.allInstances() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst.stop(false)
		}()
	}
	wg.Wait()
	h.bg.Wait()
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// background runs fn on its own goroutine, which Close waits for; once the
// host is closed it runs fn at once instead.
func (h *Host) background(fn func()) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		fn()
		return
	}
	h.bg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.bg.Done()
		fn()
	}()
}
