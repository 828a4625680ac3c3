package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// publicRoutes are the only routes reachable without credentials. Adding one
// here is a security decision: say why next to it.
var publicRoutes = map[string]string{
	"health":       "liveness probe for load balancers and systemd",
	"ready":        "readiness probe",
	"bootstrap":    "first admin; needs the one-time setup token",
	"login":        "exchanges a password for a session",
	"agent.enroll": "the enrollment token is the credential",
}

// matrix is the least role each route needs. Every registered route must be
// here: a new endpoint without an entry fails this test. Each area adds its
// own map in its own test file.
var matrix = mergeMatrix(accountMatrix, hostMatrix, repositoryMatrix, pluginMatrix, channelMatrix, jobMatrix, scheduleMatrix, scheduleRunMatrix, alertMatrix,
	snapshotTreeMatrix, diffMatrix, restoreMatrix, dumpMatrix, pathCheckMatrix)

var accountMatrix = map[string]access{
	"health": public, "ready": public, "bootstrap": public, "login": public,
	"logout": viewer, "me": viewer, "account.password": viewer,
	"user.list": admin, "user.create": admin, "user.show": admin, "user.update": admin, "user.delete": admin,
	"token.list": viewer, "token.create": viewer, "token.revoke": viewer,
	"audit.list": admin,
}

func mergeMatrix(areas ...map[string]access) map[string]access {
	out := map[string]access{}
	for _, m := range areas {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

type routeInfo struct{ name, method, path string }

func registered(t *testing.T, a *API) []routeInfo {
	t.Helper()
	var out []routeInfo
	err := a.Router().Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, _ := r.GetPathTemplate()
		methods, _ := r.GetMethods()
		for _, m := range methods {
			out = append(out, routeInfo{name: r.GetName(), method: m, path: strings.ReplaceAll(tpl, "{id}", "nonexistent")})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no routes registered")
	}
	return out
}

func TestEveryRouteIsInTheMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, r := range registered(t, e.api) {
		if _, ok := matrix[r.name]; !ok {
			t.Errorf("route %s %s (%q) is missing from the access matrix in routes_test.go", r.method, r.path, r.name)
		}
	}
	for _, rt := range e.api.routes() {
		if matrix[rt.name] != rt.access {
			t.Errorf("route %q needs %s, the matrix says %s", rt.name, rt.access, matrix[rt.name])
		}
	}
}

func TestNoRouteWithoutAuthUnlessAllowListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bootstrap()
	for _, r := range registered(t, e.api) {
		res := e.do(call{method: r.method, path: r.path, body: map[string]string{}})
		_, allowed := publicRoutes[r.name]
		if !allowed && res.status != http.StatusUnauthorized {
			t.Errorf("%s %s answered %d without credentials; want 401 (or add it to publicRoutes with a reason)", r.method, r.path, res.status)
		}
		if !allowed && res.errCode(t) != "unauthenticated" {
			t.Errorf("%s %s: error code %q", r.method, r.path, res.errCode(t))
		}
		if allowed && res.status == http.StatusUnauthorized && r.name != "login" && r.name != "bootstrap" {
			t.Errorf("public route %s %s answered 401", r.method, r.path)
		}
	}
}

func TestOnlySetupBeforeFirstAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, r := range registered(t, e.api) {
		res := e.do(call{method: r.method, path: r.path, body: map[string]string{}})
		switch r.name {
		case "health", "ready":
			if res.status != http.StatusOK {
				t.Errorf("%s before setup: %d", r.path, res.status)
			}
		case "bootstrap":
			if res.status == http.StatusServiceUnavailable {
				t.Errorf("bootstrap is refused before setup")
			}
		default:
			if res.status != http.StatusServiceUnavailable || res.errCode(t) != "setup_pending" {
				t.Errorf("%s %s before setup: %d %s; want 503 setup_pending", r.method, r.path, res.status, res.body)
			}
		}
	}
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tokens := map[access]string{
		admin:    root,
		operator: e.user(root, "olivia", "operator"),
		viewer:   e.user(root, "victor", "viewer"),
	}
	for _, r := range registered(t, e.api) {
		need := matrix[r.name]
		if need == public {
			continue
		}
		for role, tok := range tokens {
			res := e.do(call{method: r.method, path: r.path, token: tok, body: map[string]string{}})
			denied := res.status == http.StatusForbidden
			if role < need && !denied {
				t.Errorf("%s %s as %s: %d, want 403", r.method, r.path, role, res.status)
			}
			if role >= need && (denied || res.status == http.StatusUnauthorized) {
				t.Errorf("%s %s as %s: %d %s, want it allowed", r.method, r.path, role, res.status, res.body)
			}
		}
	}
}
