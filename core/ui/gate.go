package ui

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
)

// preSessionCookie carries the CSRF token of forms shown before a session
// exists (login, setup): the form must echo it (double submit), so another
// site cannot log a browser in to an account of its choosing.
const preSessionCookie = "rm_csrf"

// preSessionToken returns the browser's pre-session CSRF token, setting a
// new one when it has none.
func (u *UI) preSessionToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preSessionCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	// A hash of a fresh random token: 64 hex characters, 256 random bits.
	raw, err := auth.NewToken(auth.KindSession)
	if err != nil {
		u.logger.Error("making a CSRF token failed", "error", err)
		return ""
	}
	tok := auth.HashToken(raw)
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure under TLS or an https public_url, as the session cookie
		Name: preSessionCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: u.secure, SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// formCSRF is the CSRF token a request carries: the form field, or the
// X-CSRF-Token header htmx sends.
func formCSRF(r *http.Request) string {
	if h := r.Header.Get("X-CSRF-Token"); h != "" {
		return h
	}
	return r.PostFormValue("csrf_token")
}

// checkCSRF accepts a state-changing request only with the caller's
// session CSRF token, or before a session with the pre-session token.
func checkCSRF(r *http.Request, c *api.Caller) bool {
	got := formCSRF(r)
	if c != nil {
		return c.CheckCSRF(got)
	}
	ck, err := r.Cookie(preSessionCookie)
	if err != nil || ck.Value == "" || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(got)) == 1
}

// maxForm bounds a form body; the UI's forms are a few fields.
const maxForm = 64 << 10

// wrap runs the gates of every page, in order: setup pending (every page
// but setup leads to /setup), session, login required, CSRF on POST.
func (u *UI) wrap(rt uiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pending, err := u.api.SetupPending(r.Context())
		if err != nil {
			u.logger.Error("checking setup state failed", "error", err)
			u.renderError(w, r, nil, http.StatusInternalServerError, "The server could not read its database; see the server log.")
			return
		}
		isSetup := rt.path == "/setup"
		switch {
		case pending && !isSetup:
			http.Redirect(w, r, "/setup", http.StatusSeeOther)
			return
		case !pending && isSetup:
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		c, err := u.api.BrowserCaller(r)
		if err != nil {
			u.logger.Error("reading the session failed", "error", err)
			u.renderError(w, r, nil, http.StatusInternalServerError, "The server could not read the session; see the server log.")
			return
		}
		if rt.access == loggedIn && c == nil {
			if r.Method != http.MethodGet {
				u.setFlash(w, "error", "Your session has ended; log in again.")
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				u.renderError(w, r, c, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !checkCSRF(r, c) {
				u.renderError(w, r, c, http.StatusForbidden,
					"The form's security token is missing or out of date. Reload the page and try again.")
				return
			}
		}
		rt.handler(w, r, c)
	})
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
