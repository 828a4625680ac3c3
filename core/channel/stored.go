package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

var (
	// ErrManagedByConfig is the error of changing a channel of the
	// configuration file through the API.
	ErrManagedByConfig = errors.New("channel is declared in the configuration file")
	// ErrExists is the error of creating a channel whose name is taken.
	ErrExists = errors.New("a channel of this name exists")
)

// RejectedError is a configuration the channel's plugin refused; its
// message is the plugin's.
type RejectedError struct {
	Plugin string
	Err    error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("plugin %s rejected the configuration: %s", e.Plugin, strings.TrimSuffix(e.Err.Error(), "."))
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Store is what stored channels need of the store.
type Store interface {
	CreateChannel(ctx context.Context, c store.Credential) error
	GetChannel(ctx context.Context, name string) (store.Credential, error)
	ListChannels(ctx context.Context) ([]store.Credential, error)
	UpdateChannel(ctx context.Context, c store.Credential) error
	DeleteChannel(ctx context.Context, name string) error
}

// Sealer seals and opens values (the server's keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

var _ Sealer = (*secrets.Keyring)(nil)

// Stored manages the channels created through the API: each is one sealed
// credential row in the store (its whole configuration sealed at rest,
// like a repository password) and an entry of the registry, live as soon
// as it is created. Changes are serialized.
type Stored struct {
	reg    *Registry
	host   *pluginhost.Host
	db     Store
	sealer Sealer
	logger hclog.Logger
	mu     sync.Mutex
}

// NewStored manages stored channels in reg, with plugins of host.
func NewStored(reg *Registry, host *pluginhost.Host, db Store, sealer Sealer, logger hclog.Logger) *Stored {
	return &Stored{reg: reg, host: host, db: db, sealer: sealer, logger: logger.Named("channels")}
}

// sealedChannel is the sealed plaintext of a stored channel.
type sealedChannel struct {
	Plugin  string         `json:"plugin"`
	Enabled bool           `json:"enabled"`
	Config  map[string]any `json:"config"`
}

// Spec is a channel to create.
type Spec struct {
	Name    string
	Plugin  string
	Enabled bool
	Config  map[string]any
}

// Patch changes a stored channel: Config's settings are set (an empty
// string or null unsets one; settings it does not name stay, so secrets
// need not be sent again); Enabled, when not nil, enables or disables it.
type Patch struct {
	Config  map[string]any
	Enabled *bool
}

// namePattern is what a channel's name looks like (as in the
// configuration file): it appears in URLs and CLI arguments.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Load reads every stored channel and configures its plugin. A channel
// whose name the configuration file now declares is taken over by the file
// (its row is deleted, with a warning); one that cannot be configured is
// kept with its error (alerts to it fail, and say why) rather than
// stopping the server.
func (s *Stored) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.db.ListChannels(ctx)
	if err != nil {
		return fmt.Errorf("read the stored channels: %w", err)
	}
	for _, c := range rows {
		name := store.ChannelName(c.ID)
		if info, ok := s.reg.Get(name); ok && info.ManagedBy == ManagedByConfig {
			s.logger.Warn("a channel made through the API is now declared in the configuration file, which takes it over; the stored one is deleted",
				"channel", name)
			if err := s.db.DeleteChannel(ctx, name); err != nil && !errors.Is(err, store.ErrInUse) {
				return fmt.Errorf("delete channel %q: %w", name, err)
			}
			continue
		}
		sc, err := s.open(c)
		if err != nil {
			return fmt.Errorf("stored channel %q: %w", name, err)
		}
		e, err := s.configure(ctx, name, sc)
		if err != nil {
			s.logger.Error("a stored channel cannot be configured; alerts to it fail until it is fixed", "channel", name, "error", err)
			e = &entry{info: Info{Name: name, Plugin: sc.Plugin, ManagedBy: ManagedByAPI, Enabled: sc.Enabled, Config: map[string]any{}}, err: err}
		}
		e.info.CreatedAt, e.info.UpdatedAt = stamp(c.CreatedAt), stamp(c.UpdatedAt)
		s.reg.put(e)
	}
	return nil
}

func stamp(t time.Time) *time.Time { t = t.UTC(); return &t }

// Create checks spec against its plugin's schema, configures the plugin,
// stores the channel sealed and makes it live.
func (s *Stored) Create(ctx context.Context, spec Spec) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if !namePattern.MatchString(spec.Name) {
		errs = append(errs, fieldErr("name", "%q is not a valid name: lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters, such as \"ops-mail\"", spec.Name))
	}
	if spec.Plugin == "" {
		errs = append(errs, fieldErr("plugin", "is required: a notify plugin, such as %s", s.notifyPlugins()))
	}
	if err := errors.Join(errs...); err != nil {
		return Info{}, err
	}
	if info, ok := s.reg.Get(spec.Name); ok {
		if info.ManagedBy == ManagedByConfig {
			return Info{}, fmt.Errorf("%w: %q", ErrManagedByConfig, spec.Name)
		}
		return Info{}, fmt.Errorf("%w: %q", ErrExists, spec.Name)
	}
	n, schema, err := s.plugin(ctx, spec.Name, spec.Plugin)
	if err != nil {
		return Info{}, err
	}
	cfg, err := coerce(schema, spec.Plugin, spec.Config)
	if err == nil {
		err = missing(schema, cfg)
	}
	if err != nil {
		return Info{}, err
	}
	sc := sealedChannel{Plugin: spec.Plugin, Enabled: spec.Enabled, Config: cfg}
	if err := configure(ctx, n, sc); err != nil {
		return Info{}, err
	}
	now := time.Now()
	c, err := s.seal(spec.Name, sc, now)
	if err != nil {
		return Info{}, err
	}
	if err := s.db.CreateChannel(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Info{}, fmt.Errorf("%w: %q", ErrExists, spec.Name)
		}
		return Info{}, err
	}
	e := newEntry(spec.Name, sc, schema, n)
	e.info.CreatedAt, e.info.UpdatedAt = stamp(c.CreatedAt), stamp(c.UpdatedAt)
	s.reg.put(e)
	s.logger.Info("channel created", "channel", spec.Name, "plugin", spec.Plugin)
	return e.info, nil
}

// Update applies p to the stored channel name: the merged configuration is
// checked and configured before it is stored; if the plugin refuses it the
// channel keeps working as before.
func (s *Stored) Update(ctx context.Context, name string, p Patch) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, sc, err := s.read(ctx, name)
	if err != nil {
		return Info{}, err
	}
	n, schema, err := s.plugin(ctx, name, sc.Plugin)
	if err != nil {
		return Info{}, err
	}
	changes, err := coerce(schema, sc.Plugin, p.Config)
	if err != nil {
		return Info{}, err
	}
	merged := maps.Clone(sc.Config)
	if merged == nil {
		merged = map[string]any{}
	}
	for k, v := range p.Config {
		if nv, ok := changes[k]; ok {
			merged[k] = nv
		} else if s, isStr := v.(string); v == nil || (isStr && s == "") {
			delete(merged, k)
		}
	}
	if err := missing(schema, merged); err != nil {
		return Info{}, err
	}
	next := sealedChannel{Plugin: sc.Plugin, Enabled: sc.Enabled, Config: merged}
	if p.Enabled != nil {
		next.Enabled = *p.Enabled
	}
	if err := configure(ctx, n, next); err != nil {
		if old := configure(ctx, n, sc); old != nil {
			s.logger.Warn("restoring a channel's configuration after a refused change failed", "channel", name, "error", old)
		}
		return Info{}, err
	}
	now := time.Now()
	sealed, err := s.seal(name, next, now)
	if err != nil {
		return Info{}, err
	}
	if err := s.db.UpdateChannel(ctx, sealed); err != nil {
		return Info{}, err
	}
	e := newEntry(name, next, schema, n)
	e.info.CreatedAt, e.info.UpdatedAt = stamp(c.CreatedAt), stamp(now)
	s.reg.put(e)
	s.logger.Info("channel updated", "channel", name)
	return e.info, nil
}

// Delete removes the stored channel name; while alert rules send to it the
// error is the store's *store.ChannelInUseError.
func (s *Stored) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info, ok := s.reg.Get(name); !ok {
		return fmt.Errorf("%w %q", ErrUnknown, name)
	} else if info.ManagedBy == ManagedByConfig {
		return fmt.Errorf("%w: %q", ErrManagedByConfig, name)
	}
	if err := s.db.DeleteChannel(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w %q", ErrUnknown, name)
		}
		return err
	}
	s.reg.remove(name)
	s.logger.Info("channel deleted", "channel", name)
	return nil
}

// read returns the stored row of a channel made through the API and its
// opened content.
func (s *Stored) read(ctx context.Context, name string) (store.Credential, sealedChannel, error) {
	if info, ok := s.reg.Get(name); !ok {
		return store.Credential{}, sealedChannel{}, fmt.Errorf("%w %q", ErrUnknown, name)
	} else if info.ManagedBy == ManagedByConfig {
		return store.Credential{}, sealedChannel{}, fmt.Errorf("%w: %q", ErrManagedByConfig, name)
	}
	c, err := s.db.GetChannel(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, sealedChannel{}, fmt.Errorf("%w %q", ErrUnknown, name)
	} else if err != nil {
		return store.Credential{}, sealedChannel{}, err
	}
	sc, err := s.open(c)
	return c, sc, err
}

// plugin returns the notifier instance of the channel name and the
// schema its plugin reports.
func (s *Stored) plugin(ctx context.Context, name, pluginName string) (notify.Notifier, plugin.Schema, error) {
	n, err := s.host.Notifier(ctx, pluginName, pluginhost.Instance(instanceKey(name)))
	switch {
	case errors.Is(err, pluginhost.ErrUnknownPlugin):
		return nil, plugin.Schema{}, fieldErr("plugin", "no plugin is named %q; the notify plugins are %s", pluginName, s.notifyPlugins())
	case errors.Is(err, pluginhost.ErrWrongKind):
		return nil, plugin.Schema{}, fieldErr("plugin", "%q is not a notify plugin; the notify plugins are %s", pluginName, s.notifyPlugins())
	case err != nil:
		return nil, plugin.Schema{}, fmt.Errorf("start plugin %s: %w", pluginName, err)
	}
	schema, err := n.ConfigSchema(ctx)
	if err != nil {
		return nil, plugin.Schema{}, fmt.Errorf("plugin %s did not report its config schema: %w", pluginName, err)
	}
	return n, schema, nil
}

// ErrNotNotify is the error of Schema for a plugin of another kind.
var ErrNotNotify = errors.New("not a notify plugin")

// Schema returns the config schema of the notify plugin pluginName, as a
// channel's settings must follow it. It asks a plugin instance of its own,
// so that no channel's configuration is touched.
func (s *Stored) Schema(ctx context.Context, pluginName string) (plugin.Schema, error) {
	n, err := s.host.Notifier(ctx, pluginName, pluginhost.Instance("schema"))
	switch {
	case errors.Is(err, pluginhost.ErrUnknownPlugin):
		return plugin.Schema{}, fmt.Errorf("%w: no plugin is named %q", pluginhost.ErrUnknownPlugin, pluginName)
	case errors.Is(err, pluginhost.ErrWrongKind):
		return plugin.Schema{}, fmt.Errorf("%w: %w", ErrNotNotify, err)
	case err != nil:
		return plugin.Schema{}, fmt.Errorf("start plugin %s: %w", pluginName, err)
	}
	return n.ConfigSchema(ctx)
}

// NotifyPlugins lists the plugins a channel can use (notify plugins, and
// external ones whose kind is not known until they first start).
func (s *Stored) NotifyPlugins() []string {
	var out []string
	for _, name := range s.host.Names() {
		if k, err := s.host.Kind(name); err == nil && (k == plugin.KindNotify || k == "") {
			out = append(out, name)
		}
	}
	return out
}

// notifyPlugins is NotifyPlugins as text for errors.
func (s *Stored) notifyPlugins() string {
	out := s.NotifyPlugins()
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// configure hands sc's configuration to the plugin; a refusal is a
// *RejectedError.
func configure(ctx context.Context, n notify.Notifier, sc sealedChannel) error {
	js, err := json.Marshal(sc.Config)
	if err != nil {
		return err
	}
	if err := n.Configure(ctx, js); err != nil {
		return &RejectedError{Plugin: sc.Plugin, Err: err}
	}
	return nil
}

// configure binds a loaded channel to its plugin.
func (s *Stored) configure(ctx context.Context, name string, sc sealedChannel) (*entry, error) {
	n, schema, err := s.plugin(ctx, name, sc.Plugin)
	if err != nil {
		return nil, err
	}
	if err := configure(ctx, n, sc); err != nil {
		return nil, err
	}
	return newEntry(name, sc, schema, n), nil
}

func newEntry(name string, sc sealedChannel, schema plugin.Schema, n notify.Notifier) *entry {
	public, secretSet := split(schema, sc.Config)
	return &entry{
		info:     Info{Name: name, Plugin: sc.Plugin, ManagedBy: ManagedByAPI, Enabled: sc.Enabled, Config: public, Secrets: secretSet},
		notifier: n,
	}
}

func (s *Stored) seal(name string, sc sealedChannel, now time.Time) (store.Credential, error) {
	if s.sealer == nil {
		return store.Credential{}, errors.New("the server has no secret key to seal channel configurations with")
	}
	plain, err := json.Marshal(sc)
	if err != nil {
		return store.Credential{}, err
	}
	id := store.ChannelCredentialID(name)
	sealed, err := s.sealer.Seal(plain, store.CredentialAAD(id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("seal channel: %w", err)
	}
	keyID, err := secrets.KeyID(sealed)
	if err != nil {
		return store.Credential{}, fmt.Errorf("seal channel: %w", err)
	}
	return store.Credential{ID: id, Kind: store.CredentialChannel, KeyID: keyID, Sealed: sealed, CreatedAt: now, UpdatedAt: now}, nil
}

func (s *Stored) open(c store.Credential) (sealedChannel, error) {
	if s.sealer == nil {
		return sealedChannel{}, errors.New("the server has no secret key to open channel configurations with")
	}
	plain, err := s.sealer.Open(c.Sealed, store.CredentialAAD(c.ID))
	if err != nil {
		return sealedChannel{}, fmt.Errorf("open: %w", err)
	}
	var sc sealedChannel
	if err := json.Unmarshal(plain, &sc); err != nil {
		return sealedChannel{}, fmt.Errorf("decode: %w", err)
	}
	return sc, nil
}
