package pluginhost

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/auth"
	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// kindPlugins is the go-plugin glue of every kind the host can dispense.
func kindPlugins() goplugin.PluginSet {
	return goplugin.PluginSet{
		notify.PluginName:  &notify.GRPCPlugin{},
		backend.PluginName: &backend.GRPCPlugin{},
		auth.PluginName:    &auth.GRPCPlugin{},
	}
}

// apiVersion is the host's API version of a kind.
func apiVersion(k plugin.Kind) string {
	switch k {
	case plugin.KindNotify:
		return notify.APIVersion
	case plugin.KindBackend:
		return backend.APIVersion
	case plugin.KindAuth:
		return auth.APIVersion
	}
	return ""
}

// binary returns what to run for the definition: its path, arguments and
// pinned checksum. An external plugin's command is resolved again at every
// start, so a symlink changed after registration cannot lead out of
// plugin_dir.
func (d *definition) binary(exe *executable) (path string, args []string, sum []byte, err error) {
	if d.source == SourceBuiltin {
		path, sum, err = exe.get()
		return path, d.args, sum, err
	}
	path, err = resolveCommand(d.dir, d.command)
	return path, d.args, d.sum, err
}

// start starts a process of the instance's plugin, checks what it is, and
// configures it with config (when not nil).
func (i *instance) start(ctx context.Context, config []byte) (*process, error) {
	name := i.def.name
	path, args, sum, err := i.def.binary(i.host.exe)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	pl := i.pluginLogger(path)
	cfg, err := plugin.NewClientConfig(plugin.ClientOptions{
		Path:         path,
		Args:         args,
		SHA256:       sum,
		Plugins:      kindPlugins(),
		Logger:       pl,
		StartTimeout: i.host.opts.StartTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	cfg.SyncStdout = &lineLogger{log: func(line string) { pl.Debug(line, "stream", "stdout") }}
	cfg.SyncStderr = &lineLogger{log: func(line string) { pl.Info(line, "stream", "stderr") }}
	client := goplugin.NewClient(cfg)
	p := &process{client: client, cmd: cfg.Cmd}

	rpc, err := i.handshake(ctx, client)
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			err = fmt.Errorf("%w: %s does not have the pinned sha256 %s; it was replaced or the pin is wrong",
				ErrChecksum, path, hex.EncodeToString(sum))
			if i.def.source == SourceBuiltin {
				err = fmt.Errorf("%w (the executable changed since this process started: restart it)", err)
			}
		}
		return nil, fmt.Errorf("starting plugin %q (%s): %w", name, path, err)
	}
	if err := i.inspect(ctx, p, rpc, config); err != nil {
		p.kill(true)
		if p.info.Kind.Valid() {
			i.def.setInfo(path, p.info) // what it is, even if not what was asked for
		}
		return nil, err
	}
	i.def.setInfo(path, p.info)
	i.logger.Info("plugin started", "pid", p.cmd.Process.Pid, "path", path,
		"plugin_version", p.info.PluginVersion, "api_version", p.info.APIVersion)
	return p, nil
}

// handshake waits for go-plugin's handshake, no longer than ctx allows.
func (i *instance) handshake(ctx context.Context, client *goplugin.Client) (goplugin.ClientProtocol, error) {
	type result struct {
		rpc goplugin.ClientProtocol
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := client.Client()
		done <- result{rpc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			client.Kill()
		}
		return r.rpc, r.err
	case <-ctx.Done():
		i.host.background(client.Kill)
		return nil, ctx.Err()
	}
}

// inspect asks a freshly started plugin what it is, checks that against
// the instance, dispenses its kind and configures it.
func (i *instance) inspect(ctx context.Context, p *process, rpc goplugin.ClientProtocol, config []byte) error {
	name := i.def.name
	raw, err := rpc.Dispense(plugin.BasePluginName)
	if err != nil {
		return fmt.Errorf("plugin %q: %w", name, err)
	}
	base, ok := raw.(plugin.Base)
	if !ok {
		return fmt.Errorf("plugin %q: unexpected base client %T", name, raw)
	}
	p.base = base
	if p.info, err = base.Info(ctx); err != nil {
		return fmt.Errorf("plugin %q: Info: %w", name, err)
	}
	if p.info.Kind != i.kind {
		return wrongKind(name, p.info.Kind, i.kind)
	}
	if err := plugin.CheckAPIVersion(apiVersion(i.kind), p.info.APIVersion); err != nil {
		return fmt.Errorf("%w: plugin %q: %w", ErrIncompatible, name, err)
	}
	if p.schema, err = base.ConfigSchema(ctx); err != nil {
		return fmt.Errorf("plugin %q: ConfigSchema: %w", name, err)
	}
	if raw, err = rpc.Dispense(string(i.kind)); err != nil {
		return fmt.Errorf("plugin %q: %w", name, err)
	}
	switch i.kind {
	case plugin.KindNotify:
		p.notify, ok = raw.(notify.Notifier)
	case plugin.KindBackend:
		p.backend, ok = raw.(backend.Backend)
	case plugin.KindAuth:
		p.auth, ok = raw.(auth.Authenticator)
	}
	if !ok {
		return fmt.Errorf("plugin %q: unexpected %s client %T", name, i.kind, raw)
	}
	if config != nil {
		if err := base.Configure(ctx, config); err != nil {
			return fmt.Errorf("plugin %q rejected the configuration it had accepted before: %w", name, err)
		}
	}
	return nil
}

// pluginLogger is the logger go-plugin gets for a process of the plugin:
// named "plugin.NAME" after the plugin, whatever the binary is called.
func (i *instance) pluginLogger(path string) hclog.Logger {
	l := i.host.logger.Named("plugin").Named(i.def.name)
	if i.key != "" {
		l = l.With("instance", i.key)
	}
	return &pluginLogger{Logger: l, binary: filepath.Base(path)}
}

// pluginLogger keeps go-plugin from adding the binary's file name to the
// plugin's logger name (it names the stderr logger after it), so that a
// built-in plugin, served by the host's own executable, logs as
// "plugin.NAME" like any other.
type pluginLogger struct {
	hclog.Logger
	binary string
}

// Named implements hclog.Logger.
func (l *pluginLogger) Named(name string) hclog.Logger {
	if name == l.binary {
		return l
	}
	return l.Logger.Named(name)
}

// maxLogLine is where lineLogger cuts a line that has no end.
const maxLogLine = 64 << 10

// lineLogger logs what a plugin writes to its redirected os.Stdout or
// os.Stderr, one log entry per line.
type lineLogger struct {
	log func(line string)
	mu  sync.Mutex
	buf []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		n := bytes.IndexByte(w.buf, '\n')
		if n < 0 {
			break
		}
		if line := bytes.TrimRight(w.buf[:n], "\r"); len(line) > 0 {
			w.log(string(line))
		}
		w.buf = w.buf[n+1:]
	}
	if len(w.buf) > maxLogLine {
		w.log(string(w.buf))
		w.buf = nil
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}
