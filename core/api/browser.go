package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// This file is the API's surface for the server-rendered UI (core/ui): the
// same sessions, CSRF tokens, setup and login checks, rate limits and audit
// entries as the JSON endpoints, so the UI has no second path for any of
// them. The UI renders HTML; everything that decides lives here.

// Caller is a user logged in with a browser session.
type Caller struct {
	User store.User
	// CSRF is the session's CSRF token: the UI puts it in every form and
	// htmx request, and the JSON API takes it as X-CSRF-Token.
	CSRF string

	who *principal
}

// CheckCSRF reports whether token is the caller's CSRF token.
func (c *Caller) CheckCSRF(token string) bool {
	return token != "" && auth.EqualHash(auth.HashToken(token), c.who.csrfHash)
}

// SetupPending reports whether the first admin is still to be created.
func (a *API) SetupPending(ctx context.Context) (bool, error) {
	done, err := a.setupComplete(ctx)
	return !done, err
}

// BrowserCaller returns the caller of r's session cookie, or nil when there
// is none or it has ended (expired, logged out, user disabled): the UI then
// asks for a login. An Authorization header is ignored: pages are for
// browsers.
func (a *API) BrowserCaller(r *http.Request) (*Caller, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	r2.Header.Del("Authorization")
	who, err := a.authenticate(r2)
	var e *Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
		return nil, nil
	case err != nil:
		return nil, err
	case who == nil:
		return nil, nil
	}
	return &Caller{User: who.user, CSRF: csrfToken(c.Value), who: who}, nil
}

// Setup creates the first admin with the one-time setup token, as
// POST /api/v1/bootstrap does, and logs the new admin in with a browser
// session. The API token bootstrap makes is revoked at once: a browser user
// is never shown it.
func (a *API) Setup(w http.ResponseWriter, r *http.Request, setupToken, username, password string) error {
	return a.browserAction(r, "bootstrap", func(r *http.Request) error {
		addrKey := "addr:" + auth.ClientNet(auth.ClientIP(r.RemoteAddr))
		if err := a.limited(r, addrKey); err != nil {
			return err
		}
		u, t, _, err := a.createFirstAdmin(r, addrKey, setupToken, username, password)
		if err != nil {
			return err
		}
		if err := a.store.RevokeAPIToken(r.Context(), t.ID, a.now()); err != nil {
			a.logger.Warn("revoking the unused bootstrap token failed", "token_id", t.ID, "error", err)
		}
		if _, _, err := a.startSession(w, r, u); err != nil {
			return err
		}
		setTarget(r, "user", u.ID)
		return nil
	})
}

// Login checks a local password as POST /api/v1/login does and starts a
// browser session.
func (a *API) Login(w http.ResponseWriter, r *http.Request, username, password string) error {
	return a.browserAction(r, "login", func(r *http.Request) error {
		_, _, _, err := a.passwordLogin(w, r, username, password)
		return err
	})
}

// Logout ends c's session as POST /api/v1/logout does.
func (a *API) Logout(w http.ResponseWriter, r *http.Request, c *Caller) error {
	return a.browserAction(r, "logout", func(r *http.Request) error {
		state(r).who = c.who
		return a.endSession(w, r, c.who)
	})
}

// browserAction runs a state change from the UI under the name of the API
// route that makes the same change, and writes its audit entry (marked
// "via": "ui") exactly as that route's would be.
func (a *API) browserAction(r *http.Request, name string, fn func(*http.Request) error) error {
	st := &reqState{route: route{name: name, method: http.MethodPost}}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	err := fn(r)
	st.status = http.StatusOK
	if err != nil {
		st.status = http.StatusInternalServerError
		var e *Error
		if errors.As(err, &e) {
			st.status = e.Status
		}
	}
	if st.detail == nil {
		st.detail = map[string]any{}
	}
	st.detail["via"] = "ui"
	a.audit(r, st)
	return err
}

// viaUIKey marks a request the UI made through Call, so its audit entry
// says "via": "ui".
type viaUIKey struct{}

// Call runs one JSON API request in process on behalf of the browser
// session c: the UI reads and changes everything through the same routes,
// gates (role, CSRF, rate limits), validation and audit entries as API
// clients. The caller must have checked the form's CSRF token already. body
// (if not nil) is sent as JSON; a 2xx answer is decoded into out (if not
// nil); any other answer is returned as an *Error with the API's code and
// message.
func (a *API) Call(r *http.Request, c *Caller, method, path string, body, out any) error {
	if c == nil {
		return errUnauthenticated
	}
	// A change only on behalf of a POST, which the UI checked for CSRF: a
	// page (GET) must never change anything through the back door.
	if mutating(method) && r.Method != http.MethodPost {
		return fmt.Errorf("ui: %s %s on behalf of a %s request refused: changes need a CSRF-checked POST", method, path, r.Method)
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	ctx := context.WithValue(r.Context(), viaUIKey{}, true)
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.TLS = r.TLS
	if ck, err := r.Cookie(sessionCookie); err == nil {
		req.AddCookie(ck)
	}
	req.Header.Set("X-CSRF-Token", c.CSRF)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &callRecorder{header: http.Header{}}
	a.router.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		var eb errorBody
		if err := json.Unmarshal(rec.body.Bytes(), &eb); err != nil || eb.Error.Message == "" {
			return errorf(rec.status, "internal", "%s %s answered %d", method, path, rec.status)
		}
		e := &Error{Status: rec.status, Code: eb.Error.Code, Message: eb.Error.Message}
		if ra, err := strconv.Atoi(rec.header.Get("Retry-After")); err == nil {
			e.RetryAfter = ra
		}
		return e
	}
	if out == nil || rec.status == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// callRecorder keeps the answer of an in-process API call.
type callRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *callRecorder) Header() http.Header { return c.header }

func (c *callRecorder) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *callRecorder) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}
