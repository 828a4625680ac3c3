package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
)

// PluginService is what the plugin and channel endpoints need: the plugin
// host's view of its plugins and the notification channels. Nil means a
// server without plugins or channels.
type PluginService interface {
	Plugins() []pluginhost.Status
	Channels() []channel.Info
	// TestChannel sends a test notification through the channel name; an
	// unknown name is an error wrapping channel.ErrUnknown.
	TestChannel(ctx context.Context, name string) error
}

// pluginRoutes are the plugins and the notification channels.
func (a *API) pluginRoutes() []route {
	return []route{
		{name: "plugin.list", method: http.MethodGet, path: "/api/v1/plugins", access: admin, handle: a.listPlugins},
		{name: "channel.list", method: http.MethodGet, path: "/api/v1/channels", access: viewer, handle: a.listChannels},
		{name: "channel.test", method: http.MethodPost, path: "/api/v1/channels/{id}/test", access: operator, handle: a.testChannel},
	}
}

// pluginJSON is a plugin as `restic-manager plugin list` shows it; its id
// is its name.
type pluginJSON struct {
	ID string `json:"id"`
	pluginhost.Status
}

// channelJSON is a channel; its id is its name. Its configuration is
// shown without its secret attributes (Secrets says which are set); a
// channel of the configuration file shows none of it.
type channelJSON struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Plugin    string          `json:"plugin"`
	ManagedBy string          `json:"managed_by"`
	Enabled   bool            `json:"enabled"`
	Config    map[string]any  `json:"config,omitempty"`
	Secrets   map[string]bool `json:"secrets,omitempty"`
	Error     string          `json:"error,omitempty"`
	CreatedAt *time.Time      `json:"created_at,omitempty"`
	UpdatedAt *time.Time      `json:"updated_at,omitempty"`
}

func (a *API) listPlugins(w http.ResponseWriter, _ *http.Request) error {
	out := []pluginJSON{}
	if a.opts.Plugins != nil {
		for _, st := range a.opts.Plugins.Plugins() {
			out = append(out, pluginJSON{ID: st.Name, Status: st})
		}
	}
	writeJSON(w, http.StatusOK, newList(out, ""))
	return nil
}

func (a *API) listChannels(w http.ResponseWriter, _ *http.Request) error {
	out := []channelJSON{}
	if a.opts.Plugins != nil {
		for _, c := range a.opts.Plugins.Channels() {
			out = append(out, toChannelJSON(c))
		}
	}
	writeJSON(w, http.StatusOK, newList(out, ""))
	return nil
}

// testChannel sends a test notification: 200 {"ok":true} when the plugin
// delivered it, 502 with the plugin's error when it did not.
func (a *API) testChannel(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["id"]
	setTarget(r, "channel", name)
	svc := a.opts.Plugins
	if svc == nil {
		return errorf(http.StatusNotFound, "not_found", "no channel %q", name)
	}
	for _, c := range svc.Channels() {
		if c.Name == name {
			state(r).detail = map[string]any{"plugin": c.Plugin}
		}
	}
	err := svc.TestChannel(r.Context(), name)
	switch {
	case errors.Is(err, channel.ErrUnknown):
		return errorf(http.StatusNotFound, "not_found", "no channel %q", name)
	case errors.Is(err, channel.ErrDisabled):
		return errorf(http.StatusConflict, "disabled", "channel %q is disabled; enable it to test it", name)
	case err != nil:
		a.logger.Warn("channel test failed", "channel", name, "error", err)
		return errorf(http.StatusBadGateway, "plugin_error", "%s", err.Error())
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}
