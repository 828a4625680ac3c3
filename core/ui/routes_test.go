package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// publicRoutes are the only UI routes that answer without a session; every
// other page redirects to /login. Adding one here is a security decision:
// say why next to it. The API's routes ("api") keep their own allow-list in
// core/api/routes_test.go.
var publicRoutes = map[string]string{
	"ui.setup":        "first admin; reachable only until it exists",
	"ui.setup.submit": "needs the one-time setup token and the form's CSRF token",
	"ui.login":        "the login form",
	"ui.login.submit": "exchanges a password for a session; CSRF-checked",
	"ui.static":       "CSS and JavaScript, the same for everyone",
	"api":             "the API answers for itself (401 without credentials)",
}

type uiRouteInfo struct{ name, method, path string }

func registeredUI(t *testing.T, u *UI) []uiRouteInfo {
	t.Helper()
	var out []uiRouteInfo
	err := u.Router().Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := r.GetPathTemplate()
		if err != nil {
			tpl = "/api/v1/me" // the API matcher has no template; probe one API path
		}
		if strings.HasSuffix(tpl, "/") && tpl != "/" {
			tpl += "app.css"
		}
		methods, err := r.GetMethods()
		if err != nil {
			methods = []string{http.MethodGet}
		}
		for _, m := range methods {
			out = append(out, uiRouteInfo{name: r.GetName(), method: m, path: tpl})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNoUIRouteWithoutSessionUnlessAllowListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setup()
	u, ok := e.srv.Config.Handler.(*UI)
	if !ok {
		t.Fatal("test server does not serve a *UI")
	}
	routes := registeredUI(t, u)
	if len(routes) < len(u.routes()) {
		t.Fatalf("walked %d routes, the UI has %d", len(routes), len(u.routes()))
	}
	for _, r := range routes {
		if r.name == "" {
			t.Errorf("route %s %s has no name", r.method, r.path)
			continue
		}
		anon := newClient(t)
		var p response
		if r.method == http.MethodPost {
			p = e.post(anon, r.path, url.Values{})
		} else {
			p = e.get(anon, r.path)
		}
		_, public := publicRoutes[r.name]
		toLogin := p.status == http.StatusSeeOther && strings.HasPrefix(p.location, "/login")
		switch {
		case r.name == "api":
			if p.status != http.StatusUnauthorized {
				t.Errorf("%s %s (API) answered %d without credentials, want 401", r.method, r.path, p.status)
			}
		case !public && !toLogin:
			t.Errorf("%s %s (%s) answered %d %q without a session; want a redirect to /login (or add it to publicRoutes with a reason)",
				r.method, r.path, r.name, p.status, p.location)
		case public && toLogin && !strings.HasPrefix(r.path, "/setup"):
			t.Errorf("public route %s %s redirects to /login", r.method, r.path)
		}
	}
}
