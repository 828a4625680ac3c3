package pluginhost

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/sdk/auth"
	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Notifier returns a handle on the notify plugin name. The plugin starts on
// the handle's first call (an external plugin that has never run starts
// now, to check its kind). Every call goes through supervision, and a
// restarted plugin is configured again with the last configuration it
// accepted through any handle of the same instance.
func (h *Host) Notifier(ctx context.Context, name string, opts ...HandleOption) (notify.Notifier, error) {
	inst, err := h.instance(ctx, name, plugin.KindNotify, opts)
	if err != nil {
		return nil, err
	}
	return &notifierHandle{base{inst}}, nil
}

// Backend returns a handle on the backend plugin name; see Notifier.
// Backend.Run has no default timeout: its context bounds it.
func (h *Host) Backend(ctx context.Context, name string, opts ...HandleOption) (backend.Backend, error) {
	inst, err := h.instance(ctx, name, plugin.KindBackend, opts)
	if err != nil {
		return nil, err
	}
	return &backendHandle{base{inst}}, nil
}

// Authenticator returns a handle on the auth plugin name; see Notifier.
func (h *Host) Authenticator(ctx context.Context, name string, opts ...HandleOption) (auth.Authenticator, error) {
	inst, err := h.instance(ctx, name, plugin.KindAuth, opts)
	if err != nil {
		return nil, err
	}
	return &authHandle{base{inst}}, nil
}

// base implements plugin.Base for every handle. Info and ConfigSchema
// answer what the running process reported when it started.
type base struct{ inst *instance }

var _ plugin.Base = base{}

func (b base) timeout() time.Duration { return b.inst.host.opts.CallTimeout }

// Info implements plugin.Base.
func (b base) Info(ctx context.Context) (plugin.Info, error) {
	var info plugin.Info
	err := b.inst.call(ctx, b.timeout(), func(_ context.Context, p *process) error {
		info = p.info
		return nil
	})
	return info, err
}

// ConfigSchema implements plugin.Base.
func (b base) ConfigSchema(ctx context.Context) (plugin.Schema, error) {
	var s plugin.Schema
	err := b.inst.call(ctx, b.timeout(), func(_ context.Context, p *process) error {
		s = p.schema
		return nil
	})
	return s, err
}

// Configure implements plugin.Base. A configuration the plugin accepts is
// the one a restarted process gets.
func (b base) Configure(ctx context.Context, config []byte) error {
	err := b.inst.call(ctx, b.timeout(), func(ctx context.Context, p *process) error {
		return p.base.Configure(ctx, config)
	})
	if err == nil {
		b.inst.setConfig(config)
	}
	return err
}

type notifierHandle struct{ base }

var _ notify.Notifier = (*notifierHandle)(nil)

// Notify implements notify.Notifier.
func (h *notifierHandle) Notify(ctx context.Context, n notify.Notification) error {
	return h.inst.call(ctx, h.timeout(), func(ctx context.Context, p *process) error {
		return p.notify.Notify(ctx, n)
	})
}

type backendHandle struct{ base }

var _ backend.Backend = (*backendHandle)(nil)

// Run implements backend.Backend.
func (h *backendHandle) Run(ctx context.Context, job backend.Job, emit func(backend.Event) error) (backend.Result, error) {
	var res backend.Result
	err := h.inst.call(ctx, 0, func(ctx context.Context, p *process) error {
		var err error
		res, err = p.backend.Run(ctx, job, emit)
		return err
	})
	return res, err
}

type authHandle struct{ base }

var _ auth.Authenticator = (*authHandle)(nil)

// BeginLogin implements auth.Authenticator.
func (h *authHandle) BeginLogin(ctx context.Context, req auth.BeginRequest) (auth.BeginResponse, error) {
	var resp auth.BeginResponse
	err := h.inst.call(ctx, h.timeout(), func(ctx context.Context, p *process) error {
		var err error
		resp, err = p.auth.BeginLogin(ctx, req)
		return err
	})
	return resp, err
}

// CompleteLogin implements auth.Authenticator.
func (h *authHandle) CompleteLogin(ctx context.Context, req auth.CompleteRequest) (auth.Identity, error) {
	var id auth.Identity
	err := h.inst.call(ctx, h.timeout(), func(ctx context.Context, p *process) error {
		var err error
		id, err = p.auth.CompleteLogin(ctx, req)
		return err
	})
	return id, err
}
