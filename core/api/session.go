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
	state(r).actorName = req.Username
	setupHash := *a.setupHash.Load()
	if done, err := a.setupComplete(r.Context()); err != nil {
		return err
	} else if done || setupHash == "" {
		return errorf(http.StatusConflict, "setup_complete", "setup is already complete; log in instead")
	}
	if req.SetupToken == "" || !auth.EqualHash(auth.HashToken(req.SetupToken), setupHash) {
		a.addrLimit.Fail(addrKey, a.now())
		return errorf(http.StatusUnauthorized, "bad_setup_token", "setup token is wrong; use the one in <data_dir>/setup-token or the server log")
	}
	if err := validUsername(req.Username); err != nil {
		return err
	}
	if err := auth.CheckPasswordPolicy(req.Password); err != nil {
		return errorf(http.StatusBadRequest, "bad_password", "%v", err)
	}
	hash, err := auth.HashPassword(req.Password, a.opts.PasswordParams)
	if err != nil {
		return err
	}
	secret, err := auth.NewToken(auth.KindAPIToken)
	if err != nil {
		return err
	}
	now := a.now()
	u := store.User{
		ID: auth.NewID(), Username: req.Username, PasswordHash: hash, Role: store.RoleAdmin,
		CreatedAt: now, UpdatedAt: now,
	}
	t := store.APIToken{ID: auth.NewID(), UserID: u.ID, Name: "bootstrap", TokenHash: auth.HashToken(secret), CreatedAt: now}
	switch err := a.store.Bootstrap(r.Context(), u, t); {
	case errors.Is(err, store.ErrAlreadyBootstrapped):
		return errorf(http.StatusConflict, "setup_complete", "setup is already complete; log in instead")
	case err != nil:
		return err
	}
	a.setupDone.Store(true)
	empty := ""
	a.setupHash.Store(&empty)
	if a.opts.OnBootstrap != nil {
		a.opts.OnBootstrap()
	}
	a.logger.Info("first admin created; setup is complete", "username", u.Username)
	st := state(r)
	st.who = &principal{user: u, method: "token", tokenID: t.ID}
	setTarget(r, "user", u.ID)
	writeJSON(w, http.StatusCreated, bootstrapResponse{Token: secret, User: toUserJSON(u)})
	return nil
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
	st := state(r)
	st.actorName = req.Username
	ip := auth.ClientIP(r.RemoteAddr)
	userKey, addrKey := "user:"+strings.ToLower(req.Username), "addr:"+auth.ClientNet(ip)
	if err := a.limited(r, userKey, addrKey); err != nil {
		return err
	}
	bad := errorf(http.StatusUnauthorized, "bad_credentials", "wrong username or password")
	fail := func() error {
		now := a.now()
		a.userLimit.Fail(userKey, now)
		a.addrLimit.Fail(addrKey, now)
		return bad
	}
	u, err := a.store.GetUserByName(r.Context(), req.Username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.PasswordHash == "") {
		// Spend what a real check costs, so timing does not tell which
		// usernames exist.
		_, _ = auth.HashPassword(req.Password, a.opts.PasswordParams)
		return fail()
	}
	if err != nil {
		return err
	}
	ok, rehash, err := auth.VerifyPassword(req.Password, u.PasswordHash)
	if err != nil {
		a.logger.Error("stored password hash is unreadable", "user_id", u.ID, "error", err)
		return fail()
	}
	if !ok {
		return fail()
	}
	if u.Disabled {
		return errorf(http.StatusForbidden, "user_disabled", "this user is disabled")
	}
	now := a.now()
	a.userLimit.Reset(userKey)
	if rehash && a.opts.PasswordParams == auth.DefaultParams {
		if h, err := auth.HashPassword(req.Password, a.opts.PasswordParams); err == nil {
			if _, err := a.store.UpdateUser(r.Context(), u.ID, store.UserPatch{PasswordHash: &h}, now); err != nil {
				a.logger.Warn("upgrading password hash failed", "user_id", u.ID, "error", err)
			}
		}
	}
	cookie, err := auth.NewToken(auth.KindSession)
	if err != nil {
		return err
	}
	csrf, err := auth.NewToken(auth.KindSession)
	if err != nil {
		return err
	}
	s := store.Session{
		ID: auth.NewID(), TokenHash: auth.HashToken(cookie), CSRFHash: auth.HashToken(csrf), UserID: u.ID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(a.opts.SessionMax),
		SourceAddr: ip, UserAgent: truncate(r.UserAgent(), 256),
	}
	if err := a.store.CreateSession(r.Context(), s); err != nil {
		return err
	}
	if err := a.store.RecordLogin(r.Context(), u.ID, now); err != nil {
		a.logger.Warn("recording login time failed", "error", err)
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure is set under TLS or an https public_url; plain HTTP is the loopback default
		Name: sessionCookie, Value: cookie, Path: "/", Expires: s.ExpiresAt,
		HttpOnly: true, Secure: a.opts.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	st.who = &principal{user: u, method: "session", sessionID: s.ID}
	setTarget(r, "session", s.ID)
	writeJSON(w, http.StatusOK, loginResponse{User: toUserJSON(u), CSRFToken: csrf, ExpiresAt: s.ExpiresAt})
	return nil
}

// logout ends the current session (for API tokens it only clears the cookie).
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	who := state(r).who
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
	w.WriteHeader(http.StatusNoContent)
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
