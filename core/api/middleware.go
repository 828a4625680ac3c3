package api

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// sessionCookie is the browser session cookie's name.
const sessionCookie = "rm_session"

// touchEvery limits how often a session or token's last-use time is written:
// once a minute is plenty for the idle timeout and keeps reads read-only.
const touchEvery = time.Minute

// principal is who is calling.
type principal struct {
	user      store.User
	method    string // "session" or "token"
	sessionID string
	tokenID   string
	csrfHash  string
}

// reqState is per-request state handlers enrich: the caller, and what the
// audit entry should name as the target.
type reqState struct {
	who        *principal
	actorName  string // for anonymous calls that name someone (login)
	targetKind string
	targetID   string
	detail     map[string]any
	route      route
	status     int
	skipAudit  bool
	forceAudit bool
	agent      *store.Host // the host an agentOnly route authenticated
}

type stateKey struct{}

func state(r *http.Request) *reqState {
	if s, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return s
	}
	return &reqState{}
}

// setTarget names the object a request acts on, for the audit log.
func setTarget(r *http.Request, kind, id string) {
	s := state(r)
	s.targetKind, s.targetID = kind, id
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Hijack hands the connection to a WebSocket endpoint (the agent
// connection, the job stream); the recorded status is 101.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot hand over its connection")
	}
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach the connection (a download
// flushes each piece and lifts the read deadline).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				a.logger.Error("handler panicked", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeError(w, errorf(http.StatusInternalServerError, "internal", "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// wrap runs one route through the gates every request passes, in order:
// setup pending, authentication, CSRF, role; then the handler; then the
// audit entry of a state change.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{route: rt}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		rec := &statusRecorder{ResponseWriter: w}
		err := a.gate(rec, r, rt, st)
		if err == nil {
			err = rt.handle(rec, r)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				a.logger.Error("request failed", "route", rt.name, "error", err)
			}
			writeError(rec, err)
		}
		st.status = rec.status
		if mutating(rt.method) {
			a.audit(r, st)
		}
		// Paths and route names only: no query strings, bodies or headers,
		// which may carry secrets.
		a.logger.Debug("request", "route", rt.name, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start), "remote", auth.ClientIP(r.RemoteAddr))
	})
}

func (a *API) gate(w http.ResponseWriter, r *http.Request, rt route, st *reqState) error {
	if !rt.preSetup {
		done, err := a.setupComplete(r.Context())
		if err != nil {
			return err
		}
		if !done {
			st.skipAudit = true
			return errorf(http.StatusServiceUnavailable, "setup_pending",
				"setup is pending: create the first admin with \"restic-manager bootstrap\" or at /setup, using the setup token the server printed")
		}
	}
	if rt.access == agentOnly {
		host, err := a.authenticateAgent(r)
		if err != nil {
			st.skipAudit = true
			return err
		}
		st.agent = host
		return nil
	}
	who, err := a.authenticate(r)
	if err != nil {
		st.skipAudit = true
		return err
	}
	st.who = who
	if rt.access == public {
		return nil
	}
	if who == nil {
		st.skipAudit = true
		return errUnauthenticated
	}
	if who.method == "session" && mutating(r.Method) {
		got := r.Header.Get("X-CSRF-Token")
		if got == "" || !auth.EqualHash(auth.HashToken(got), who.csrfHash) {
			return errorf(http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token header: send the csrf_token the login response gave")
		}
	}
	if roleLevel(who.user.Role) < rt.access {
		return errorf(http.StatusForbidden, "forbidden", "this needs the %s role; you are %s", rt.access, who.user.Role)
	}
	return nil
}

func (a *API) setupComplete(ctx context.Context) (bool, error) {
	if a.setupDone.Load() {
		return true, nil
	}
	ok, err := a.store.HasUsers(ctx)
	if err != nil {
		return false, err
	}
	if ok {
		a.setupDone.Store(true)
	}
	return ok, nil
}

// authenticate finds the caller from a bearer token or the session cookie.
// No credentials at all is (nil, nil); bad credentials are a 401.
func (a *API) authenticate(r *http.Request) (*principal, error) {
	now := a.now()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || auth.TokenKind(tok) != auth.KindAPIToken {
			return nil, errorf(http.StatusUnauthorized, "unauthenticated", "Authorization must be \"Bearer <API token>\"")
		}
		t, u, err := a.store.GetAPITokenByHash(r.Context(), auth.HashToken(tok))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, errorf(http.StatusUnauthorized, "unauthenticated", "unknown API token")
		case err != nil:
			return nil, err
		case t.RevokedAt != nil:
			return nil, errorf(http.StatusUnauthorized, "unauthenticated", "API token has been revoked")
		case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
			return nil, errorf(http.StatusUnauthorized, "unauthenticated", "API token has expired")
		case u.Disabled:
			return nil, errorf(http.StatusUnauthorized, "unauthenticated", "user is disabled")
		}
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > touchEvery {
			if err := a.store.TouchAPIToken(r.Context(), t.ID, now); err != nil {
				a.logger.Warn("recording token use failed", "token_id", t.ID, "error", err)
			}
		}
		return &principal{user: u, method: "token", tokenID: t.ID}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	if auth.TokenKind(c.Value) != auth.KindSession {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "session is not valid; log in again")
	}
	s, u, err := a.store.GetSessionByHash(r.Context(), auth.HashToken(c.Value))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "session has ended; log in again")
	case err != nil:
		return nil, err
	case !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= a.opts.SessionIdle:
		if err := a.store.DeleteSession(r.Context(), s.ID); err != nil {
			a.logger.Warn("deleting expired session failed", "error", err)
		}
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "session has expired; log in again")
	case u.Disabled:
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "user is disabled")
	}
	if now.Sub(s.LastSeenAt) > touchEvery {
		if err := a.store.TouchSession(r.Context(), s.ID, now); err != nil {
			a.logger.Warn("recording session use failed", "error", err)
		}
	}
	return &principal{user: u, method: "session", sessionID: s.ID, csrfHash: s.CSRFHash}, nil
}

// audit writes the entry of a state-changing request. Requests turned away
// before anyone was identified (no or bad credentials, setup pending) are
// not state changes and are not written, so a flood of them cannot fill
// the log; a denied request of a known caller is.
func (a *API) audit(r *http.Request, st *reqState) {
	if st.skipAudit && !st.forceAudit {
		return
	}
	e := store.AuditEntry{
		Time:       a.now(),
		ActorKind:  "anonymous",
		ActorName:  st.actorName,
		Action:     st.route.name,
		TargetKind: st.targetKind,
		TargetID:   st.targetID,
		SourceAddr: auth.ClientIP(r.RemoteAddr),
		Detail:     st.detail,
	}
	if r.Context().Value(viaUIKey{}) != nil {
		if e.Detail == nil {
			e.Detail = map[string]any{}
		}
		e.Detail["via"] = "ui"
	}
	if st.who != nil {
		e.ActorKind, e.ActorID, e.ActorName = "user", st.who.user.ID, st.who.user.Username
		if st.who.method == "token" {
			e.ActorKind = "token"
			if e.Detail == nil {
				e.Detail = map[string]any{}
			}
			e.Detail["token_id"] = st.who.tokenID
		}
	}
	switch {
	case st.status >= 200 && st.status < 400:
		e.Outcome = "success"
	case st.status == http.StatusUnauthorized || st.status == http.StatusForbidden || st.status == http.StatusTooManyRequests:
		e.Outcome = "denied"
	default:
		e.Outcome = "failure"
	}
	// The request's context may be cancelled once the client has its
	// answer; the entry must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := a.store.AppendAudit(ctx, e); err != nil {
		a.logger.Error("writing audit entry failed", "action", e.Action, "error", err)
	}
}
