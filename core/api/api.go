// Package api is the server's HTTP API under /api/v1: JSON both ways,
// sessions and API tokens, CSRF, roles, and an audit entry for every state
// change, written by middleware so no handler can forget it.
package api

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/store"
)

// Store is what the API needs of the store; narrow so another database can
// stand behind it.
type Store interface {
	Ping(ctx context.Context) error
	HasUsers(ctx context.Context) (bool, error)
	Bootstrap(ctx context.Context, u store.User, t store.APIToken) error
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByName(ctx context.Context, name string) (store.User, error)
	ListUsers(ctx context.Context, after string, limit int) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, p store.UserPatch, now time.Time) (store.User, error)
	DeleteUser(ctx context.Context, id string) error
	CountActiveAdmins(ctx context.Context) (int, error)
	RecordLogin(ctx context.Context, id string, now time.Time) error
	CreateSession(ctx context.Context, s store.Session) error
	GetSessionByHash(ctx context.Context, hash string) (store.Session, store.User, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteOtherSessions(ctx context.Context, userID, keepID string) error
	CreateAPIToken(ctx context.Context, t store.APIToken) error
	GetAPIToken(ctx context.Context, id string) (store.APIToken, error)
	GetAPITokenByHash(ctx context.Context, hash string) (store.APIToken, store.User, error)
	ListAPITokens(ctx context.Context, userID, after string, limit int) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, now time.Time) error
	TouchAPIToken(ctx context.Context, id string, now time.Time) error
	AppendAudit(ctx context.Context, e store.AuditEntry) error
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	HostStore
	repos.Store
	JobStore
	ScheduleStore
	AlertStore
	DiffStore
	ScopedKeyStore // restore_scoped.go
}

// Options configure the API.
type Options struct {
	Store  Store
	Logger hclog.Logger
	// SetupTokenHash is the SHA-256 (auth.HashToken) of the one-time setup
	// token; empty once setup is complete.
	SetupTokenHash string
	// OnBootstrap runs after the first admin is created (the server removes
	// the setup-token file there).
	OnBootstrap func()
	// SecureCookies marks the session cookie Secure (the server sets it
	// under TLS or with an https public_url).
	SecureCookies bool
	// SessionIdle and SessionMax are the idle and absolute session expiry.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// PasswordParams are the argon2id parameters for new hashes.
	PasswordParams auth.Params
	// Now is the clock; tests move it.
	Now func() time.Time
	// PublicURL is the server's public_url; enrollment command lines and
	// the agent connect URL use it, or else the request's scheme and host.
	PublicURL string
	// ServerFingerprint is the hex SHA-256 of the TLS leaf certificate's
	// DER that enrolling agents pin; empty when the server runs plain HTTP.
	ServerFingerprint string
	// OnHostRevoked runs after a host is removed, so the agent hub can
	// close its open connection at once. May be nil.
	OnHostRevoked func(hostID string)
	// Sealer seals repository credentials before they are stored and
	// opens them again (the server passes its keyring). Without one, the
	// repository endpoints that need a secret answer 503.
	Sealer repos.Sealer
	// Plugins serves the plugin and channel endpoints; nil: none.
	Plugins PluginService
	// Agents is the agent hub: agent connections, job dispatch, cancel
	// and live job events (core/hub). Nil: the agent endpoint answers 503
	// and jobs stay queued.
	Agents Agents
	// Browse is the snapshot browser's listing cache (core/browse); nil:
	// its endpoints answer 501.
	Browse Browser
	// DownloadLimit caps one snapshot download in bytes (dump.go); 0:
	// config.DefaultDownloadLimitMiB.
	DownloadLimit int64
}

// API serves /api/v1 and the health endpoints.
type API struct {
	opts      Options
	store     Store
	logger    hclog.Logger
	now       func() time.Time
	setupHash atomic.Pointer[string]
	setupDone atomic.Bool
	userLimit *auth.Limiter
	addrLimit *auth.Limiter
	// enrollLimit counts failed enrollments per source address.
	enrollLimit *auth.Limiter
	router      *mux.Router
}

// New builds the API and its router.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionIdle == 0 {
		opts.SessionIdle = 12 * time.Hour
	}
	if opts.SessionMax == 0 {
		opts.SessionMax = 7 * 24 * time.Hour
	}
	if opts.PasswordParams == (auth.Params{}) {
		opts.PasswordParams = auth.DefaultParams
	}
	a := &API{
		opts:   opts,
		store:  opts.Store,
		logger: opts.Logger.Named("api"),
		now:    opts.Now,
		// Five failed logins per user name, then one a minute; twenty per
		// source address, then one every fifteen seconds.
		userLimit: auth.NewLimiter(5, time.Minute),
		addrLimit: auth.NewLimiter(20, 15*time.Second),
		// Ten failed enrollments per source address, then one every 30 seconds.
		enrollLimit: auth.NewLimiter(10, 30*time.Second),
	}
	h := opts.SetupTokenHash
	a.setupHash.Store(&h)
	a.router = a.buildRouter()
	return a
}

// ServeHTTP makes the API an http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// Router exposes the router so tests can walk every registered route.
func (a *API) Router() *mux.Router { return a.router }

// access is the least a caller needs to reach a route.
type access int

const (
	public access = iota // no credentials: health, login, bootstrap
	viewer               // any logged-in user
	operator
	admin
	// agentOnly routes take an agent's credential (rma_…), never a
	// user's: users of every role are refused with 403, so the role matrix
	// treats it as a level above admin.
	agentOnly
)

func (l access) String() string {
	return [...]string{"public", "viewer", "operator", "admin", "agent"}[l]
}

func roleLevel(role string) access {
	switch role {
	case store.RoleAdmin:
		return admin
	case store.RoleOperator:
		return operator
	default:
		return viewer
	}
}

// route is one endpoint. Its name is stable and doubles as the audit action
// of state-changing requests.
type route struct {
	name     string
	method   string
	path     string
	access   access
	preSetup bool // reachable before the first admin exists
	handle   func(w http.ResponseWriter, r *http.Request) error
}

// routes lists every endpoint. Each area of the API keeps its routes in a
// function of its own (accountRoutes, …) next to its handlers.
func (a *API) routes() []route {
	var all []route
	for _, area := range [][]route{
		a.accountRoutes(), a.hostRoutes(), a.repositoryRoutes(), a.pluginRoutes(), a.channelRoutes(),
		a.agentRoutes(), a.jobRoutes(), a.snapshotRoutes(), a.snapshotTreeRoutes(), a.scheduleRoutes(), a.hookRoutes(), a.scheduleRunRoutes(), a.alertRoutes(), a.diffRoutes(),
		a.restoreRoutes(), a.dumpRoutes(), a.pathCheckRoutes(),
	} {
		all = append(all, area...)
	}
	return all
}

// accountRoutes are health, setup, login and the users, tokens and audit log.
func (a *API) accountRoutes() []route {
	return []route{
		{name: "health", method: http.MethodGet, path: "/healthz", access: public, preSetup: true, handle: a.healthz},
		{name: "ready", method: http.MethodGet, path: "/readyz", access: public, preSetup: true, handle: a.readyz},
		{name: "bootstrap", method: http.MethodPost, path: "/api/v1/bootstrap", access: public, preSetup: true, handle: a.bootstrap},
		{name: "login", method: http.MethodPost, path: "/api/v1/login", access: public, handle: a.login},
		{name: "logout", method: http.MethodPost, path: "/api/v1/logout", access: viewer, handle: a.logout},
		{name: "me", method: http.MethodGet, path: "/api/v1/me", access: viewer, handle: a.me},
		{name: "account.password", method: http.MethodPost, path: "/api/v1/account/password", access: viewer, handle: a.changeOwnPassword},
		{name: "user.list", method: http.MethodGet, path: "/api/v1/users", access: admin, handle: a.listUsers},
		{name: "user.create", method: http.MethodPost, path: "/api/v1/users", access: admin, handle: a.createUser},
		{name: "user.show", method: http.MethodGet, path: "/api/v1/users/{id}", access: admin, handle: a.showUser},
		{name: "user.update", method: http.MethodPatch, path: "/api/v1/users/{id}", access: admin, handle: a.updateUser},
		{name: "user.delete", method: http.MethodDelete, path: "/api/v1/users/{id}", access: admin, handle: a.deleteUser},
		{name: "token.list", method: http.MethodGet, path: "/api/v1/tokens", access: viewer, handle: a.listTokens},
		{name: "token.create", method: http.MethodPost, path: "/api/v1/tokens", access: viewer, handle: a.createToken},
		{name: "token.revoke", method: http.MethodDelete, path: "/api/v1/tokens/{id}", access: viewer, handle: a.revokeToken},
		{name: "audit.list", method: http.MethodGet, path: "/api/v1/audit", access: admin, handle: a.listAudit},
	}
}

func (a *API) buildRouter() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint"))
	})
	r.Use(a.recoverer)
	for _, rt := range a.routes() {
		r.Handle(rt.path, a.wrap(rt)).Methods(rt.method).Name(rt.name)
	}
	return r
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.logger.Warn("readiness check failed", "error", err)
		return errorf(http.StatusServiceUnavailable, "not_ready", "database is not answering")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
