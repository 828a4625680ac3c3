package api

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// ChannelService is what creating, changing and deleting channels needs:
// the server's PluginService implements it when it keeps stored channels.
type ChannelService interface {
	CreateChannel(ctx context.Context, spec channel.Spec) (channel.Info, error)
	UpdateChannel(ctx context.Context, name string, p channel.Patch) (channel.Info, error)
	DeleteChannel(ctx context.Context, name string) error
	// ChannelPlugins lists the plugins a channel can use.
	ChannelPlugins() []string
	// ChannelSchema is the config schema of a notify plugin; an unknown
	// plugin wraps pluginhost.ErrUnknownPlugin, another kind
	// channel.ErrNotNotify.
	ChannelSchema(ctx context.Context, pluginName string) (plugin.Schema, error)
}

// channelRoutes change the notification channels (the list and the test
// are pluginRoutes). Channel configurations hold credentials, so only
// admins change them.
func (a *API) channelRoutes() []route {
	return []route{
		{name: "channel.create", method: http.MethodPost, path: "/api/v1/channels", access: admin, handle: a.createChannel},
		{name: "channel.show", method: http.MethodGet, path: "/api/v1/channels/{id}", access: viewer, handle: a.showChannel},
		{name: "channel.update", method: http.MethodPatch, path: "/api/v1/channels/{id}", access: admin, handle: a.updateChannel},
		{name: "channel.delete", method: http.MethodDelete, path: "/api/v1/channels/{id}", access: admin, handle: a.deleteChannel},
		{name: "channel.plugins", method: http.MethodGet, path: "/api/v1/channel-plugins", access: admin, handle: a.channelPlugins},
		{name: "channel.plugin_schema", method: http.MethodGet, path: "/api/v1/channel-plugins/{id}", access: admin, handle: a.channelPluginSchema},
	}
}

// channelPluginJSON is a notify plugin with the settings a channel of it
// takes (its config schema); its id is its name.
type channelPluginJSON struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Attributes []plugin.Attribute `json:"attributes,omitempty"`
}

// channelPlugins lists the plugins a channel can use, without schemas
// (reading one starts the plugin).
func (a *API) channelPlugins(w http.ResponseWriter, _ *http.Request) error {
	out := []channelPluginJSON{}
	if svc, ok := a.opts.Plugins.(ChannelService); ok && a.opts.Plugins != nil {
		for _, name := range svc.ChannelPlugins() {
			out = append(out, channelPluginJSON{ID: name, Name: name})
		}
	}
	writeJSON(w, http.StatusOK, newList(out, ""))
	return nil
}

// channelPluginSchema is a notify plugin's config schema: the settings of
// a channel of it, which are secret, which are required.
func (a *API) channelPluginSchema(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["id"]
	svc, err := a.channelService()
	if err != nil {
		return err
	}
	schema, err := svc.ChannelSchema(r.Context(), name)
	switch {
	case errors.Is(err, pluginhost.ErrUnknownPlugin):
		return errorf(http.StatusNotFound, "not_found", "no plugin %q", name)
	case errors.Is(err, channel.ErrNotNotify):
		return errorf(http.StatusBadRequest, "bad_plugin", "plugin %q is not a notify plugin", name)
	case err != nil:
		return errorf(http.StatusBadGateway, "plugin_error", "plugin %s: %s", name, err.Error())
	}
	attrs := schema.Attributes
	if attrs == nil {
		attrs = []plugin.Attribute{}
	}
	writeJSON(w, http.StatusOK, channelPluginJSON{ID: name, Name: name, Attributes: attrs})
	return nil
}

func toChannelJSON(c channel.Info) channelJSON {
	out := channelJSON{
		ID: c.Name, Name: c.Name, Plugin: c.Plugin, ManagedBy: c.ManagedBy, Enabled: c.Enabled, Config: c.Config,
		Secrets: c.Secrets, Error: c.Error, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if c.ManagedBy == channel.ManagedByAPI {
		// Always present for stored channels; a channel of the
		// configuration file shows none of its configuration.
		if out.Config == nil {
			out.Config = map[string]any{}
		}
		if out.Secrets == nil {
			out.Secrets = map[string]bool{}
		}
	}
	return out
}

// channelService returns the channel service, or a 501 for a server that
// has none (no plugins, or no store for channels).
func (a *API) channelService() (ChannelService, error) {
	if svc, ok := a.opts.Plugins.(ChannelService); ok && a.opts.Plugins != nil {
		return svc, nil
	}
	return nil, errorf(http.StatusNotImplemented, "not_implemented", "this server cannot create or change channels (it runs without plugins); declare them in its configuration file")
}

// channelError maps the channel service's errors to API errors.
func channelError(name string, err error) error {
	var inUse *store.ChannelInUseError
	var rejected *channel.RejectedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inUse):
		return errorf(http.StatusConflict, "in_use", "channel %q is used by the alert rules %s; change or delete them first", name, strings.Join(inUse.Rules, ", "))
	case errors.Is(err, channel.ErrManagedByConfig):
		return errorf(http.StatusConflict, "managed_by_config", "channel %q is declared in the configuration file; change it there", name)
	case errors.Is(err, channel.ErrExists):
		return errorf(http.StatusConflict, "conflict", "a channel named %q exists already", name)
	case errors.Is(err, channel.ErrUnknown):
		return errorf(http.StatusNotFound, "not_found", "no channel %q", name)
	case errors.As(err, &rejected):
		return errorf(http.StatusBadRequest, "bad_config", "config: %s", rejected.Error())
	}
	if probs := channel.Problems(err); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = p.Error()
		}
		code := "bad_" + probs[0].Field
		if strings.HasPrefix(probs[0].Field, "config.") {
			code = "bad_config"
		}
		return errorf(http.StatusBadRequest, code, "%s", strings.Join(msgs, "; "))
	}
	return err
}

type createChannelRequest struct {
	Name    string         `json:"name"`
	Plugin  string         `json:"plugin"`
	Enabled *bool          `json:"enabled"`
	Config  map[string]any `json:"config"`
}

// createChannel makes a channel live at once and stores it, its
// configuration sealed. 201 with the channel (secrets shown only as set).
func (a *API) createChannel(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.channelService()
	if err != nil {
		return err
	}
	var req createChannelRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st := state(r)
	st.detail = map[string]any{"name": req.Name, "plugin": req.Plugin, "settings": settingNames(req.Config)}
	enabled := true
	if req.Enabled != nil {
		enabled = *req.Enabled
	}
	info, err := svc.CreateChannel(r.Context(), channel.Spec{Name: req.Name, Plugin: req.Plugin, Enabled: enabled, Config: req.Config})
	if err != nil {
		return channelError(req.Name, err)
	}
	setTarget(r, "channel", info.Name)
	writeJSON(w, http.StatusCreated, toChannelJSON(info))
	return nil
}

// settingNames are the names (never the values) of the settings a request
// sets, for the audit log.
func settingNames(cfg map[string]any) []string {
	return slices.Sorted(maps.Keys(cfg))
}

func (a *API) lookupChannel(r *http.Request) (channel.Info, error) {
	name := mux.Vars(r)["id"]
	setTarget(r, "channel", name)
	if a.opts.Plugins != nil {
		for _, c := range a.opts.Plugins.Channels() {
			if c.Name == name {
				return c, nil
			}
		}
	}
	return channel.Info{}, errorf(http.StatusNotFound, "not_found", "no channel %q", name)
}

func (a *API) showChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := a.lookupChannel(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toChannelJSON(c))
	return nil
}

type updateChannelRequest struct {
	Enabled *bool          `json:"enabled"`
	Config  map[string]any `json:"config"`
}

// updateChannel sets the settings it names ("" or null unsets one; secrets
// it does not name stay) and enables or disables the channel.
func (a *API) updateChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := a.lookupChannel(r)
	if err != nil {
		return err
	}
	var req updateChannelRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st := state(r)
	st.detail = map[string]any{"name": c.Name, "plugin": c.Plugin, "settings": settingNames(req.Config)}
	if req.Enabled != nil {
		st.detail["enabled"] = *req.Enabled
	}
	if c.ManagedBy == channel.ManagedByConfig {
		return channelError(c.Name, channel.ErrManagedByConfig)
	}
	svc, err := a.channelService()
	if err != nil {
		return err
	}
	info, err := svc.UpdateChannel(r.Context(), c.Name, channel.Patch{Config: req.Config, Enabled: req.Enabled})
	if err != nil {
		return channelError(c.Name, err)
	}
	writeJSON(w, http.StatusOK, toChannelJSON(info))
	return nil
}

// deleteChannel removes a stored channel; 409 while alert rules send to
// it, naming them.
func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := a.lookupChannel(r)
	if err != nil {
		return err
	}
	state(r).detail = map[string]any{"name": c.Name, "plugin": c.Plugin}
	if c.ManagedBy == channel.ManagedByConfig {
		return errorf(http.StatusConflict, "managed_by_config", "channel %q is declared in the configuration file; remove it there", c.Name)
	}
	svc, err := a.channelService()
	if err != nil {
		return err
	}
	if err := svc.DeleteChannel(r.Context(), c.Name); err != nil {
		return channelError(c.Name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
