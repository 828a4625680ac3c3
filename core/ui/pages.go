package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/restic-manager/restic-manager/core/api"
)

// userMessage is the reason a failed action shows: the API's own message
// for errors it classifies, a generic one for the rest (logged).
func (u *UI) userMessage(err error) (int, string) {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status, e.Message
	}
	u.logger.Error("action failed", "error", err)
	return http.StatusInternalServerError, "Something went wrong on the server; see the server log."
}

type setupData struct{ Username string }

func (u *UI) setupPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	u.render(w, r, c, http.StatusOK, "setup", view{Title: "Set up", Data: setupData{Username: "admin"}})
}

func (u *UI) setupSubmit(w http.ResponseWriter, r *http.Request, _ *api.Caller) {
	username := strings.TrimSpace(r.PostFormValue("username"))
	err := u.api.Setup(w, r, r.PostFormValue("setup_token"), username, r.PostFormValue("password"))
	if err != nil {
		status, msg := u.userMessage(err)
		u.render(w, r, nil, status, "setup", view{
			Title: "Set up", Data: setupData{Username: username},
			Flashes: []flash{{Kind: "error", Message: msg}},
		})
		return
	}
	u.setFlash(w, "ok", "Welcome, "+username+": you are the admin. Add your first host next.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type loginData struct{ Username, Next string }

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	next := safeNext(r.URL.Query().Get("next"))
	if c != nil {
		http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps it a path on this site
		return
	}
	u.render(w, r, nil, http.StatusOK, "login", view{Title: "Log in", Data: loginData{Next: next}})
}

func (u *UI) loginSubmit(w http.ResponseWriter, r *http.Request, _ *api.Caller) {
	username := strings.TrimSpace(r.PostFormValue("username"))
	next := safeNext(r.PostFormValue("next"))
	if err := u.api.Login(w, r, username, r.PostFormValue("password")); err != nil {
		status, msg := u.userMessage(err)
		var e *api.Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			w.Header().Set("Retry-After", itoa(e.RetryAfter))
		}
		u.render(w, r, nil, status, "login", view{
			Title: "Log in", Data: loginData{Username: username, Next: next},
			Flashes: []flash{{Kind: "error", Message: msg}},
		})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps it a path on this site
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	if err := u.api.Logout(w, r, c); err != nil {
		_, msg := u.userMessage(err)
		u.setFlash(w, "error", msg)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	u.setFlash(w, "ok", "You are logged out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// notFound is the 404 page for every path neither the UI nor the API has.
func (u *UI) notFound(w http.ResponseWriter, r *http.Request) {
	if pending, err := u.api.SetupPending(r.Context()); err == nil && pending {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	c, err := u.api.BrowserCaller(r)
	if err != nil {
		c = nil
	}
	u.renderError(w, r, c, http.StatusNotFound, "There is no page at this address.")
}

// call runs one JSON API request for c in process (see api.Call): pages read
// and change everything through the API's own routes, gates and audit.
func (u *UI) call(r *http.Request, c *api.Caller, method, path string, body, out any) error {
	return u.api.Call(r, c, method, path, body, out)
}

// fail shows the error page for a failed read: the API's status and
// message (404 for an unknown id, 403 for a role too low, …).
func (u *UI) fail(w http.ResponseWriter, r *http.Request, c *api.Caller, err error) {
	status, msg := u.userMessage(err)
	u.renderError(w, r, c, status, msg)
}

// back redirects a form post to target with a flash message: "ok" with
// okMsg when err is nil, else "error" with the reason.
func (u *UI) back(w http.ResponseWriter, r *http.Request, target string, err error, okMsg string) {
	if err != nil {
		_, msg := u.userMessage(err)
		u.setFlash(w, "error", msg)
	} else if okMsg != "" {
		u.setFlash(w, "ok", okMsg)
	}
	http.Redirect(w, r, safeNext(target), http.StatusSeeOther) //nolint:gosec // safeNext keeps only a local path
}
