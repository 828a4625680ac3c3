// Package ui is the server-rendered web UI: html/template pages with htmx
// and Tailwind (package web holds the templates and built assets). It
// decides nothing itself: setup, login, sessions, CSRF, roles and audit go
// through core/api's exported services, the same code the JSON API runs.
package ui

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/web"
)

// Options configure the UI.
type Options struct {
	// API provides every service the pages use; its router also answers
	// /api/v1/…, /healthz and /readyz.
	API    *api.API
	Logger hclog.Logger
	// SecureCookies marks the UI's pre-login CSRF cookie Secure, like the
	// API's session cookie.
	SecureCookies bool
}

// UI serves the web pages and hands API paths to the API.
type UI struct {
	api          *api.API
	logger       hclog.Logger
	secure       bool
	pages        map[string]*page
	assetVersion string
	router       *mux.Router
}

// access is who may open a page.
type access int

const (
	// public pages need no session: login, setup, static files.
	public access = iota
	// loggedIn pages redirect to /login without a session.
	loggedIn
)

// uiRoute is one page or form endpoint. Its name is stable; routes_test.go
// holds the allow-list of the public ones.
type uiRoute struct {
	name    string
	method  string
	path    string
	access  access
	handler func(w http.ResponseWriter, r *http.Request, c *api.Caller)
}

// New builds the UI; it fails only if the embedded templates do not parse.
func New(opts Options) (*UI, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	pages, err := parsePages(web.Templates())
	if err != nil {
		return nil, err
	}
	u := &UI{
		api: opts.API, logger: opts.Logger.Named("ui"), secure: opts.SecureCookies,
		pages: pages, assetVersion: assetVersion(web.Static()),
	}
	u.router = u.buildRouter()
	return u, nil
}

// ServeHTTP makes the UI an http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.router.ServeHTTP(w, r) }

// Router exposes the router so tests can walk every registered route.
func (u *UI) Router() *mux.Router { return u.router }

// routes are every page and form endpoint: the base ones here, each
// area's in its own file.
func (u *UI) routes() []uiRoute {
	var out []uiRoute
	for _, area := range [][]uiRoute{u.baseRoutes(), u.hostRoutes(), u.hostHookRoutes(), u.snapshotRoutes(), u.jobRoutes(), u.repositoryRoutes(), u.scheduleRoutes(), u.alertRoutes(), u.channelRoutes(), u.diffRoutes(), u.restoreRoutes(), u.adminRoutes()} {
		out = append(out, area...)
	}
	return out
}

func (u *UI) baseRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.setup", method: http.MethodGet, path: "/setup", access: public, handler: u.setupPage},
		{name: "ui.setup.submit", method: http.MethodPost, path: "/setup", access: public, handler: u.setupSubmit},
		{name: "ui.login", method: http.MethodGet, path: "/login", access: public, handler: u.loginPage},
		{name: "ui.login.submit", method: http.MethodPost, path: "/login", access: public, handler: u.loginSubmit},
		{name: "ui.logout", method: http.MethodPost, path: "/logout", access: loggedIn, handler: u.logout},
	}
}

// apiPrefixes are the paths the API answers; everything else is the UI's.
var apiPrefixes = []string{"/api/", "/healthz", "/readyz", "/metrics"}

func (u *UI) buildRouter() *mux.Router {
	r := mux.NewRouter()
	r.MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool {
		for _, p := range apiPrefixes {
			if r.URL.Path == p || strings.HasPrefix(r.URL.Path, p) && strings.HasSuffix(p, "/") {
				return true
			}
		}
		return false
	}).Handler(u.api).Name("api")
	r.PathPrefix("/static/").Handler(staticHandler(web.Static())).Methods(http.MethodGet, http.MethodHead).Name("ui.static")
	// Literal paths first: mux takes the first match, and /hosts/new must
	// not be read as the host page /hosts/{id} with the id "new".
	routes := u.routes()
	slices.SortStableFunc(routes, func(a, b uiRoute) int {
		return cmp.Compare(strings.Count(a.path, "{"), strings.Count(b.path, "{"))
	})
	for _, rt := range routes {
		r.Handle(rt.path, u.wrap(rt)).Methods(rt.method).Name(rt.name)
	}
	r.NotFoundHandler = http.HandlerFunc(u.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(u.notFound)
	return r
}

// staticHandler serves the embedded assets. Pages link them with
// ?v=<content hash>, so they can be cached for a year.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// assetVersion hashes every static file, so a new build busts caches.
func assetVersion(fsys fs.FS) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}
