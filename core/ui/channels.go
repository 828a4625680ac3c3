package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// The notification channels: the list (everyone), a send-test button
// (operators), and the create/edit form and delete step (admins: a
// channel's settings hold credentials). The form's fields are the
// plugin's config schema as GET /api/v1/channel-plugins/{name} reports it;
// secret settings are write-only.

// channelRoutes are the channel pages; routes() includes them.
func (u *UI) channelRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.channels", method: http.MethodGet, path: "/channels", access: loggedIn, handler: u.channelsPage},
		{name: "ui.channels.new", method: http.MethodGet, path: "/channels/new", access: loggedIn, handler: u.channelNew},
		{name: "ui.channels.create", method: http.MethodPost, path: "/channels", access: loggedIn, handler: u.channelCreate},
		{name: "ui.channels.show", method: http.MethodGet, path: "/channels/{id}", access: loggedIn, handler: u.channelPage},
		{name: "ui.channels.update", method: http.MethodPost, path: "/channels/{id}", access: loggedIn, handler: u.channelUpdate},
		{name: "ui.channels.test", method: http.MethodPost, path: "/channels/{id}/test", access: loggedIn, handler: u.channelTest},
		{name: "ui.channels.delete.confirm", method: http.MethodGet, path: "/channels/{id}/delete", access: loggedIn, handler: u.channelDeleteConfirm},
		{name: "ui.channels.delete", method: http.MethodPost, path: "/channels/{id}/delete", access: loggedIn, handler: u.channelDelete},
	}
}

// channelItem is a notification channel as the API answers it.
type channelItem struct {
	Name      string          `json:"name"`
	Plugin    string          `json:"plugin"`
	ManagedBy string          `json:"managed_by"`
	Enabled   bool            `json:"enabled"`
	Config    map[string]any  `json:"config"`
	Secrets   map[string]bool `json:"secrets"`
	Error     string          `json:"error"`
}

// setting is one shown setting of a channel.
type setting struct{ Name, Value string }

// Settings are the channel's settings that may be shown, by name; secret
// ones say only whether they are set.
func (c channelItem) Settings() []setting {
	var out []setting
	for _, k := range slices.Sorted(maps.Keys(c.Config)) {
		out = append(out, setting{Name: k, Value: settingText(c.Config[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Secrets)) {
		v := "not set"
		if c.Secrets[k] {
			v = "set (hidden)"
		}
		out = append(out, setting{Name: k, Value: v})
	}
	return out
}

// Stored reports whether the channel was made through the API (and can be
// changed here).
func (c channelItem) Stored() bool { return c.ManagedBy == "api" }

// settingText shows a setting's value as the form takes it back: lists
// comma-separated, maps as JSON.
func settingText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, it := range x {
			parts = append(parts, fmt.Sprint(it))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

type channelsData struct {
	Items   []channelItem
	IsAdmin bool
	CanTest bool
}

func (u *UI) channelsPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	var list itemsPage[channelItem]
	if err := u.call(r, c, http.MethodGet, "/api/v1/channels", nil, &list); err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.render(w, r, c, http.StatusOK, "channels", view{Title: "Notification channels", Nav: "alerts", Data: channelsData{
		Items: list.Items, IsAdmin: callerIsAdmin(c), CanTest: canRun(c),
	}})
}

// schemaAttr is one setting of a plugin's config schema.
type schemaAttr struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Sensitive   bool   `json:"sensitive"`
	Description string `json:"description"`
}

// channelEditor is what channel-form.html shows: the plugin choice for a
// new channel, then the plugin's settings.
type channelEditor struct {
	Channel *channelItem // nil for a new one
	Name    string
	Plugin  string
	Plugins []string
	Attrs   []schemaAttr
	// Values are the settings as typed (or stored); secrets are never
	// filled in.
	Values   map[string]string
	Enabled  bool
	Errors   fieldErrors
	Problems []string
}

// Value is the typed value of setting name.
func (e channelEditor) Value(name string) string { return e.Values[name] }

// Err is the problem of a field ("name", "config.url"), "" for none.
func (e channelEditor) Err(field string) string { return strings.Join(e.Errors[field], " ") }

// IsSet reports whether the stored channel has the secret setting name.
func (e channelEditor) IsSet(name string) bool { return e.Channel != nil && e.Channel.Secrets[name] }

// Action is where the form posts.
func (e channelEditor) Action() string {
	if e.Channel != nil {
		return "/channels/" + url.PathEscape(e.Channel.Name)
	}
	return "/channels"
}

func (u *UI) adminOnly(w http.ResponseWriter, r *http.Request, c *api.Caller) bool {
	if callerIsAdmin(c) {
		return true
	}
	u.renderError(w, r, c, http.StatusForbidden, "Only admins create and change channels: their settings hold credentials.")
	return false
}

// renderChannelEditor reads the plugins (and the chosen one's schema) and
// shows the form.
func (u *UI) renderChannelEditor(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, e channelEditor, flashes []flash) {
	var plugins itemsPage[struct {
		Name string `json:"name"`
	}]
	if err := u.call(r, c, http.MethodGet, "/api/v1/channel-plugins", nil, &plugins); err != nil {
		u.fail(w, r, c, err)
		return
	}
	for _, p := range plugins.Items {
		e.Plugins = append(e.Plugins, p.Name)
	}
	if e.Plugin != "" {
		var schema struct {
			Attributes []schemaAttr `json:"attributes"`
		}
		if err := u.call(r, c, http.MethodGet, "/api/v1/channel-plugins/"+url.PathEscape(e.Plugin), nil, &schema); err != nil {
			st, msg := u.userMessage(err)
			if e.Errors == nil {
				e.Errors = fieldErrors{}
			}
			e.Errors["plugin"] = append(e.Errors["plugin"], msg)
			e.Plugin, status = "", st
		}
		e.Attrs = schema.Attributes
	}
	if e.Values == nil {
		e.Values = map[string]string{}
	}
	title := "New notification channel"
	if e.Channel != nil {
		title = "Channel " + e.Channel.Name
	}
	u.render(w, r, c, status, "channel-form", view{Title: title, Nav: "alerts", Data: e, Flashes: flashes})
}

func (u *UI) channelNew(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	if !u.adminOnly(w, r, c) {
		return
	}
	q := r.URL.Query()
	u.renderChannelEditor(w, r, c, http.StatusOK, channelEditor{Name: strings.TrimSpace(q.Get("name")), Plugin: q.Get("plugin"), Enabled: true}, nil)
}

func (u *UI) readChannel(r *http.Request, c *api.Caller) (channelItem, error) {
	var ch channelItem
	err := u.call(r, c, http.MethodGet, "/api/v1/channels/"+url.PathEscape(mux.Vars(r)["id"]), nil, &ch)
	return ch, err
}

func (u *UI) channelPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	ch, err := u.readChannel(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if !u.adminOnly(w, r, c) {
		return
	}
	if !ch.Stored() {
		u.renderError(w, r, c, http.StatusConflict, fmt.Sprintf("Channel %q is declared in the configuration file; change it there.", ch.Name))
		return
	}
	values := map[string]string{}
	for k, v := range ch.Config {
		values[k] = settingText(v)
	}
	u.renderChannelEditor(w, r, c, http.StatusOK, channelEditor{Channel: &ch, Name: ch.Name, Plugin: ch.Plugin, Values: values, Enabled: ch.Enabled}, nil)
}

// readChannelForm reads the posted settings: "cfg.NAME" fields, and
// "clear.NAME" boxes that remove a secret setting.
func readChannelForm(r *http.Request) (values map[string]string, cleared []string) {
	_ = r.ParseForm()
	values = map[string]string{}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "cfg."); ok && len(v) > 0 {
			values[name] = strings.TrimSpace(v[0])
		}
		if name, ok := strings.CutPrefix(k, "clear."); ok {
			cleared = append(cleared, name)
		}
	}
	return values, cleared
}

// channelBody is the form as the API's config object: on create only what
// was filled in; on update every shown setting (empty unsets it), secrets
// only when typed (or cleared).
func channelBody(e channelEditor, cleared []string) map[string]any {
	cfg := map[string]any{}
	for _, a := range e.Attrs {
		v := e.Values[a.Name]
		switch {
		case a.Sensitive && slices.Contains(cleared, a.Name):
			cfg[a.Name] = nil
		case a.Sensitive || e.Channel == nil:
			if v != "" {
				cfg[a.Name] = v
			}
		default:
			cfg[a.Name] = v
		}
	}
	return cfg
}

// channelRefused shows the form again with the API's problems by field.
func (u *UI) channelRefused(w http.ResponseWriter, r *http.Request, c *api.Caller, e channelEditor, err error) {
	status, msg := u.userMessage(err)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		var rest []string
		e.Errors, rest = apiFieldErrors(ae.Message)
		for _, field := range slices.Sorted(maps.Keys(e.Errors)) {
			for _, p := range e.Errors[field] {
				e.Problems = append(e.Problems, field+": "+p)
			}
		}
		e.Problems = append(e.Problems, rest...)
		msg = "The channel was not saved: fix the fields marked below."
	} else if errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Code == "conflict" {
		e.Errors = fieldErrors{"name": {sentence(ae.Message) + "."}}
	}
	u.renderChannelEditor(w, r, c, status, e, []flash{{Kind: "error", Message: msg}})
}

func (u *UI) channelCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	values, cleared := readChannelForm(r)
	e := channelEditor{
		Name: strings.TrimSpace(r.PostFormValue("name")), Plugin: r.PostFormValue("plugin"),
		Values: values, Enabled: r.PostFormValue("enabled") == "on",
	}
	if !u.adminOnly(w, r, c) {
		return
	}
	if err := u.channelSchema(r, c, &e); err != nil {
		u.channelRefused(w, r, c, e, err)
		return
	}
	body := map[string]any{"name": e.Name, "plugin": e.Plugin, "enabled": e.Enabled, "config": channelBody(e, cleared)}
	var out channelItem
	if err := u.call(r, c, http.MethodPost, "/api/v1/channels", body, &out); err != nil {
		u.channelRefused(w, r, c, e, err)
		return
	}
	u.back(w, r, "/channels", nil, fmt.Sprintf("Channel %q created: alert rules can send to it now.", out.Name))
}

// channelSchema fills e.Attrs with the schema of e.Plugin.
func (u *UI) channelSchema(r *http.Request, c *api.Caller, e *channelEditor) error {
	if e.Plugin == "" {
		return &api.Error{Status: http.StatusBadRequest, Code: "bad_plugin", Message: "plugin: choose the plugin that delivers the channel"}
	}
	var schema struct {
		Attributes []schemaAttr `json:"attributes"`
	}
	if err := u.call(r, c, http.MethodGet, "/api/v1/channel-plugins/"+url.PathEscape(e.Plugin), nil, &schema); err != nil {
		return err
	}
	e.Attrs = schema.Attributes
	return nil
}

func (u *UI) channelUpdate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	ch, err := u.readChannel(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	values, cleared := readChannelForm(r)
	e := channelEditor{Channel: &ch, Name: ch.Name, Plugin: ch.Plugin, Values: values, Enabled: r.PostFormValue("enabled") == "on"}
	if !u.adminOnly(w, r, c) {
		return
	}
	if err := u.channelSchema(r, c, &e); err != nil {
		u.channelRefused(w, r, c, e, err)
		return
	}
	body := map[string]any{"enabled": e.Enabled, "config": channelBody(e, cleared)}
	var out channelItem
	if err := u.call(r, c, http.MethodPatch, "/api/v1/channels/"+url.PathEscape(ch.Name), body, &out); err != nil {
		u.channelRefused(w, r, c, e, err)
		return
	}
	u.back(w, r, "/channels", nil, fmt.Sprintf("Channel %q saved.", out.Name))
}

func (u *UI) channelTest(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	name := mux.Vars(r)["id"]
	err := u.call(r, c, http.MethodPost, "/api/v1/channels/"+url.PathEscape(name)+"/test", nil, nil)
	u.back(w, r, "/channels", err, fmt.Sprintf("Sent a test notification through channel %q.", name))
}

type channelDeleteData struct{ Channel channelItem }

func (u *UI) channelDeleteConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	ch, err := u.readChannel(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if !u.adminOnly(w, r, c) {
		return
	}
	u.render(w, r, c, http.StatusOK, "channel-delete", view{Title: "Delete channel " + ch.Name, Nav: "alerts", Data: channelDeleteData{Channel: ch}})
}

func (u *UI) channelDelete(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	name := mux.Vars(r)["id"]
	err := u.call(r, c, http.MethodDelete, "/api/v1/channels/"+url.PathEscape(name), nil, nil)
	u.back(w, r, "/channels", err, fmt.Sprintf("Channel %q deleted.", name))
}
