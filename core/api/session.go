package api

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

type bootstrapRequest struct {
	SetupToken string `json:"setup_token"`
	Username   string `json:"username"`
	Password   string `json:"password"`
}

type bootstrapResponse struct {
	Token string   `json:"token"`
	User  userJSON `json:"user"`
}

// bootstrap creates the first admin with the one-time setup token and
// returns an admin API token. Of concurrent attempts exactly one wins.
func (a *API) bootstrap(w http.ResponseWriter, r *http.Request) error {
	addrKey := "addr:" + auth.ClientNet(auth.ClientIP(r.RemoteAddr))
	if err := a.limited(r, addrKey); err != nil {
		return err
	}
	var req bootstrapRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, t, secret, err := a.createFirstAdmin(r, addrKey, req.SetupToken, req.Username, req.Password)
	if err != nil {
		return err
	}
	st := state(r)
	st.who = &principal{user: u, method: "token", tokenID: t.ID}
	setTarget(r, "user", u.ID)
	writeJSON(w, http.StatusCreated, bootstrapResponse{Token: secret, User: toUserJSON(u)})
	return nil
}

// createFirstAdmin checks the setup token and creates the first admin with
// an API token; the JSON bootstrap and the UI's setup page both use it. Of
// concurrent attempts exactly one wins.
func (a *API) createFirstAdmin(r *http.Request, addrKey, setupToken, username, password string) (store.User, store.APIToken, string, error) {
	state(r).actorName = username
	setupHash := *a.setupHash.Load()
	if done, err := a.setupComplete(r.Context()); err != nil {
		return store.User{}, store.APIToken{}, "", err
	} else if done || setupHash == "" {
		return store.User{}, store.APIToken{}, "", errorf(http.StatusConflict, "setup_complete", "setup is already complete; log in instead")
	}
	if setupToken == "" || !auth.EqualHash(auth.HashToken(setupToken), setupHash) {
		a.addrLimit.Fail(addrKey, a.now())
		return store.User{}, store.APIToken{}, "", errorf(http.StatusUnauthorized, "bad_setup_token", "setup token is wrong; use the one in <data_dir>/setup-token or the server log")
	}
	if err := validUsername(username); err != nil {
		return store.User{}, store.APIToken{}, "", err
	}
	if err := auth.CheckPasswordPolicy(password); err != nil {
		return store.User{}, store.APIToken{}, "", errorf(http.StatusBadRequest, "bad_password", "%v", err)
	}
	hash, err := auth.HashPassword(password, a.opts.PasswordParams)
	if err != nil {
		return store.User{}, store.APIToken{}, "", err
	}
	secret, err := auth.NewToken(auth.KindAPIToken)
	if err != nil {
		return store.User{}, store.APIToken{}, "", err
	}
	now := a.now()
	u := store.User{
		ID: auth.NewID(), Username: username, PasswordHash: hash, Role: store.RoleAdmin,
		CreatedAt: now, UpdatedAt: now,
	}
	t := store.APIToken{ID: auth.NewID(), UserID: u.ID, Name: "bootstrap", TokenHash: auth.HashToken(secret), CreatedAt: now}
	switch err := a.store.Bootstrap(r.Context(), u, t); {
	case errors.Is(err, store.ErrAlreadyBootstrapped):
		return store.User{}, store.APIToken{}, "", errorf(http.StatusConflict, "setup_complete", "setup is already complete; log in instead")
	case err != nil:
		return store.User{}, store.APIToken{}, "", err
	}
	a.setupDone.Store(true)
	empty := ""
	a.setupHash.Store(&empty)
	if a.opts.OnBootstrap != nil {
		a.opts.OnBootstrap()
	}
	a.logger.Info("first admin created; setup is complete", "username", u.Username)
	return u, t, secret, nil
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	User      userJSON  `json:"user"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// limited answers 429 with Retry-After when any of keys is out of attempts.
// Such requests are not audited: a flood of them must not fill the log.
func (a *API) limited(r *http.Request, keys ...string) error {
	for _, k := range keys {
		l := a.addrLimit
		if strings.HasPrefix(k, "user:") {
			l = a.userLimit
		}
		if ok, wait := l.Allow(k, a.now()); !ok {
			state(r).skipAudit = true
			secs := int(math.Ceil(wait.Seconds()))
			a.logger.Warn("login attempt rate limited", "key", k, "retry_after", secs)
			return &Error{
				Status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: "too many failed attempts; try again later", RetryAfter: max(secs, 1),
			}
		}
	}
	return nil
}

// login checks a local password and starts a browser session.
func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, s, csrf, err := a.passwordLogin(w, r, req.Username, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, loginResponse{User: toUserJSON(u), CSRFToken: csrf, ExpiresAt: s.ExpiresAt})
	return nil
}

// passwordLogin checks a local password, rate limited per user name and
// source network, and starts a session (the JSON login and the UI's login
// page both use it).
func (a *API) passwordLogin(w http.ResponseWriter, r *http.Request, username, password string) (store.User, store.Session, string, error) {
	st := state(r)
	st.actorName = username
	ip := auth.ClientIP(r.RemoteAddr)
	userKey, addrKey := "user:"+strings.ToLower(username), "addr:"+auth.ClientNet(ip)
	if err := a.limited(r, userKey, addrKey); err != nil {
		return store.User{}, store.Session{}, "", err
	}
	bad := errorf(http.StatusUnauthorized, "bad_credentials", "wrong username or password")
	fail := func() (store.User, store.Session, string, error) {
		now := a.now()
		a.userLimit.Fail(userKey, now)
		a.addrLimit.Fail(addrKey, now)
		return store.User{}, store.Session{}, "", bad
	}
	u, err := a.store.GetUserByName(r.Context(), username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.PasswordHash == "") {
		// Spend what a real check costs, so timing does not tell which
		// usernames exist.
		_, _ = auth.HashPassword(password, a.opts.PasswordParams)
		return fail()
	}
	if err != nil {
		return store.User{}, store.Session{}, "", err
	}
	ok, rehash, err := auth.VerifyPassword(password, u.PasswordHash)
	if err != nil {
		a.logger.Error("stored password hash is unreadable", "user_id", u.ID, "error", err)
		return fail()
	}
	if !ok {
		return fail()
	}
	if u.Disabled {
		return store.User{}, store.Session{}, "", errorf(http.StatusForbidden, "user_disabled", "this user is disabled")
	}
	a.userLimit.Reset(userKey)
	if rehash && a.opts.PasswordParams == auth.DefaultParams {
		if h, err := auth.HashPassword(password, a.opts.PasswordParams); err == nil {
			if _, err := a.store.UpdateUser(r.Context(), u.ID, store.UserPatch{PasswordHash: &h}, a.now()); err != nil {
				a.logger.Warn("upgrading password hash failed", "user_id", u.ID, "error", err)
			}
		}
	}
	s, csrf, err := a.startSession(w, r, u)
	if err != nil {
		return store.User{}, store.Session{}, "", err
	}
	return u, s, csrf, nil
}

// csrfToken is the CSRF token of the session whose cookie is given: a hash
// of the cookie under its own label. Deriving it (rather than drawing it at
// random) lets the server-rendered UI put it in every page it renders while
// the store keeps only its hash; without the HttpOnly cookie nobody can
// compute it, and the hash does not give the cookie back.
func csrfToken(cookie string) string {
	return auth.HashToken("csrf:" + cookie)
}

// startSession creates a session for u, sets the session cookie and
// returns the session and its CSRF token.
func (a *API) startSession(w http.ResponseWriter, r *http.Request, u store.User) (store.Session, string, error) {
	now := a.now()
	cookie, err := auth.NewToken(auth.KindSession)
	if err != nil {
		return store.Session{}, "", err
	}
	csrf := csrfToken(cookie)
	s := store.Session{
		ID: auth.NewID(), TokenHash: auth.HashToken(cookie), CSRFHash: auth.HashToken(csrf), UserID: u.ID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(a.opts.SessionMax),
		SourceAddr: auth.ClientIP(r.RemoteAddr), UserAgent: truncate(r.UserAgent(), 256),
	}
	if err := a.store.CreateSession(r.Context(), s); err != nil {
		return store.Session{}, "", err
	}
	if err := a.store.RecordLogin(r.Context(), u.ID, now); err != nil {
		a.logger.Warn("recording login time failed", "error", err)
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure is set under TLS or an https public_url; plain HTTP is the loopback default
		Name: sessionCookie, Value: cookie, Path: "/", Expires: s.ExpiresAt,
		HttpOnly: true, Secure: a.opts.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	state(r).who = &principal{user: u, method: "session", sessionID: s.ID}
	setTarget(r, "session", s.ID)
	return s, csrf, nil
}

// logout ends the current session (for API tokens it only clears the cookie).
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.endSession(w, r, state(r).who); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSession deletes who's session, if it is one, and clears the cookie.
func (a *API) endSession(w http.ResponseWriter, r *http.Request, who *principal) error {
	if who.method == "session" {
		if err := a.store.DeleteSession(r.Context(), who.sessionID); err != nil {
			return err
		}
		setTarget(r, "session", who.sessionID)
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: clears the cookie; same attributes as at login
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.opts.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

type meResponse struct {
	User       userJSON `json:"user"`
	AuthMethod string   `json:"auth_method"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	who := state(r).who
	writeJSON(w, http.StatusOK, meResponse{User: toUserJSON(who.user), AuthMethod: who.method})
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changeOwnPassword lets any user change their own password with the
// current one. Wrong current passwords count against the same limits as
// failed logins. The caller's other sessions end; the session that asked
// (if it is one) stays.
func (a *API) changeOwnPassword(w http.ResponseWriter, r *http.Request) error {
	var req changePasswordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	who := state(r).who
	setTarget(r, "user", who.user.ID)
	switch {
	case req.CurrentPassword == "":
		return errorf(http.StatusBadRequest, "bad_request", "current_password is required")
	case req.NewPassword == "":
		return errorf(http.StatusBadRequest, "bad_request", "new_password is required")
	}
	userKey := "user:" + strings.ToLower(who.user.Username)
	addrKey := "addr:" + auth.ClientNet(auth.ClientIP(r.RemoteAddr))
	if err := a.limited(r, userKey, addrKey); err != nil {
		return err
	}
	u, err := a.store.GetUser(r.Context(), who.user.ID)
	if err != nil {
		return err
	}
	switch {
	case u.ManagedBy == "config":
		return errorf(http.StatusConflict, "managed_by_config", "user %q is declared in the configuration file; change the password there", u.Username)
	case u.PasswordHash == "":
		return errorf(http.StatusConflict, "no_local_password", "user %q logs in through %s and has no password here", u.Username, u.AuthProvider)
	}
	ok, _, err := auth.VerifyPassword(req.CurrentPassword, u.PasswordHash)
	if err != nil {
		a.logger.Error("stored password hash is unreadable", "user_id", u.ID, "error", err)
	}
	if !ok {
		now := a.now()
		a.userLimit.Fail(userKey, now)
		a.addrLimit.Fail(addrKey, now)
		return errorf(http.StatusForbidden, "wrong_password", "current_password is wrong")
	}
	a.userLimit.Reset(userKey)
	if err := auth.CheckPasswordPolicy(req.NewPassword); err != nil {
		return errorf(http.StatusBadRequest, "bad_password", "new_password: %v", err)
	}
	if req.NewPassword == req.CurrentPassword {
		return errorf(http.StatusBadRequest, "bad_password", "new_password must differ from the current password")
	}
	hash, err := auth.HashPassword(req.NewPassword, a.opts.PasswordParams)
	if err != nil {
		return err
	}
	if _, err := a.store.UpdateUser(r.Context(), u.ID, store.UserPatch{PasswordHash: &hash}, a.now()); err != nil {
		return err
	}
	if err := a.store.DeleteOtherSessions(r.Context(), u.ID, who.sessionID); err != nil {
		return err
	}
	state(r).detail = map[string]any{"password_changed": true, "other_sessions_ended": true}
	a.logger.Info("user changed their password", "user_id", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
