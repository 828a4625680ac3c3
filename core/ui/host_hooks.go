package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/api/apijson"
)

// A host's default hooks on its page (overview tab): the pre- and
// post-hook a backup schedule of the host runs when it has none of its
// own. They run commands on the host, so the API shows and changes them
// for admins only; others see a notice. Reads and writes go through
// GET/PUT /api/v1/hosts/{id}/hooks.

// hostHookRoutes is the form that saves a host's default hooks.
func (u *UI) hostHookRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.host.hooks", method: http.MethodPost, path: "/hosts/{id}/hooks", access: loggedIn, handler: u.hostHooksSave},
	}
}

// hostHooksForm is the hooks form: what the API holds, or what the admin
// typed when the API refused it.
type hostHooksForm struct {
	PreHook, PreTimeout, PostHook, PostTimeout string
}

// hostHooksView is the hooks section of the host page (admins only).
type hostHooksView struct {
	Action string
	CSRF   string // the form's token: the caller's session's
	Form   hostHooksForm
	Errors fieldErrors
	// Problems are refusals naming no field.
	Problems []string
}

// ErrTree is the problems of field and its parts (pre_hook.timeout).
func (v hostHooksView) ErrTree(field string) string {
	var out []string
	for k, errs := range v.Errors {
		if k == field || strings.HasPrefix(k, field+".") {
			out = append(out, errs...)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// hookText is a hook command as typed in a textarea: browsers send its
// line breaks as CRLF, which a POSIX shell would read as part of each
// command; the hook gets plain newlines, without surrounding blank space.
func hookText(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// hooksBody is the form as the API's PUT takes it: both hooks, an empty
// command being none (null).
func (f hostHooksForm) hooksBody() map[string]any {
	hook := func(cmd, timeout string) any {
		if cmd == "" {
			return nil
		}
		h := map[string]any{"command": cmd}
		if timeout != "" {
			h["timeout"] = timeout
		}
		return h
	}
	return map[string]any{"pre_hook": hook(f.PreHook, f.PreTimeout), "post_hook": hook(f.PostHook, f.PostTimeout)}
}

// hostHooksAPI is GET /api/v1/hosts/{id}/hooks.
type hostHooksAPI struct {
	PreHook  *apijson.Hook `json:"pre_hook"`
	PostHook *apijson.Hook `json:"post_hook"`
}

func hostHooksPath(id string) string { return "/api/v1/hosts/" + url.PathEscape(id) + "/hooks" }

// readHostHooks fills the hooks section from the API.
func (u *UI) readHostHooks(r *http.Request, c *api.Caller, hostID string) (*hostHooksView, error) {
	var got hostHooksAPI
	if err := u.call(r, c, http.MethodGet, hostHooksPath(hostID), nil, &got); err != nil {
		return nil, err
	}
	v := &hostHooksView{Action: "/hosts/" + url.PathEscape(hostID) + "/hooks", CSRF: c.CSRF}
	if h := got.PreHook; h != nil {
		v.Form.PreHook, v.Form.PreTimeout = h.Command, h.Timeout
	}
	if h := got.PostHook; h != nil {
		v.Form.PostHook, v.Form.PostTimeout = h.Command, h.Timeout
	}
	return v, nil
}

// hostHooksSave sends the form to PUT /api/v1/hosts/{id}/hooks; a refusal
// shows the host page again with what was typed and the problems next to
// the fields they name.
func (u *UI) hostHooksSave(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	id := mux.Vars(r)["id"]
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	form := hostHooksForm{
		PreHook: hookText(r.PostFormValue("pre_hook")), PreTimeout: v("pre_hook_timeout"),
		PostHook: hookText(r.PostFormValue("post_hook")), PostTimeout: v("post_hook_timeout"),
	}
	err := u.call(r, c, http.MethodPut, hostHooksPath(id), form.hooksBody(), nil)
	if err == nil {
		u.back(w, r, hostURL(id, ""), nil, "Default hooks saved: the host's agent has them now, or when it reconnects.")
		return
	}
	status, msg := u.userMessage(err)
	d, rerr := u.hostPageData(r, c, "overview")
	if rerr != nil {
		u.fail(w, r, c, rerr)
		return
	}
	view := &hostHooksView{Action: "/hosts/" + url.PathEscape(d.Host.ID) + "/hooks", CSRF: c.CSRF, Form: form, Errors: fieldErrors{}}
	var flashes []flash
	if status == http.StatusBadRequest {
		view.Errors, view.Problems = apiFieldErrors(msg)
		msg = "The hooks were not saved: see the problems below."
	}
	if d.IsAdmin {
		d.Hooks = view
	}
	flashes = append(flashes, flash{Kind: "error", Message: msg})
	u.renderHost(w, r, c, status, d, flashes)
}
