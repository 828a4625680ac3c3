package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeAPI is an in-process stand-in for the server's HTTP API that speaks
// the documented JSON (items/next_cursor pages, {"error":{...}} errors,
// bearer tokens). It exists so the CLI's own behaviour can be tested
// without a store; the real server and this CLI are tested together
// end-to-end elsewhere.
type fakeAPI struct {
	srv *httptest.Server

	mu       sync.Mutex
	roles    map[string]string // bearer token -> role of its user
	pageSize int
	users    []map[string]any
	tokens   []map[string]any
	audit    []map[string]any
	requests []fakeRequest
}

// fakeRequest is one request the fake received.
type fakeRequest struct {
	Method, Path  string
	Query         url.Values
	Authorization string
	Body          map[string]any
}

const (
	fakeAdminToken  = "rmt_admin"
	fakeViewerToken = "rmt_viewer"
	fakeSetupToken  = "rmsetup_123"
	fakeBootToken   = "rmt_bootstrapped"
)

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		roles:    map[string]string{fakeAdminToken: "admin", fakeViewerToken: "viewer"},
		pageSize: 100,
		users:    []map[string]any{fakeUser("u1", "admin", "admin")},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/bootstrap", f.bootstrap)
	mux.HandleFunc("GET /api/v1/me", f.authed("viewer", f.me))
	mux.HandleFunc("GET /api/v1/users", f.authed("admin", func(w http.ResponseWriter, r *http.Request) { f.list(w, r, f.users) }))
	mux.HandleFunc("POST /api/v1/users", f.authed("admin", f.createUser))
	mux.HandleFunc("GET /api/v1/users/{id}", f.authed("admin", f.showUser))
	mux.HandleFunc("PATCH /api/v1/users/{id}", f.authed("admin", f.patchUser))
	mux.HandleFunc("DELETE /api/v1/users/{id}", f.authed("admin", f.deleteUser))
	mux.HandleFunc("GET /api/v1/tokens", f.authed("viewer", func(w http.ResponseWriter, r *http.Request) { f.list(w, r, f.tokens) }))
	mux.HandleFunc("POST /api/v1/tokens", f.authed("viewer", f.createToken))
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", f.authed("viewer", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	mux.HandleFunc("GET /api/v1/audit", f.authed("admin", func(w http.ResponseWriter, r *http.Request) { f.list(w, r, f.audit) }))
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func fakeUser(id, username, role string) map[string]any {
	return map[string]any{
		"id": id, "username": username, "display_name": "", "email": "", "role": role,
		"disabled": false, "auth_provider": "local", "managed_by": "",
		"created_at": "2026-01-02T15:04:05Z", "updated_at": "2026-01-02T15:04:05Z", "last_login_at": nil,
	}
}

// seen returns the requests received so far.
func (f *fakeAPI) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeAPI) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Authorization: r.Header.Get("Authorization")}
		if r.Body != nil && r.ContentLength != 0 {
			// Strict like the real API: unknown fields are a 400.
			dec := json.NewDecoder(r.Body)
			if err := dec.Decode(&req.Body); err != nil {
				fakeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
				return
			}
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		next.ServeHTTP(w, withBody(r, req.Body))
	})
}

type bodyKey struct{}

func withBody(r *http.Request, body map[string]any) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
}

func body(r *http.Request) map[string]any {
	b, _ := r.Context().Value(bodyKey{}).(map[string]any)
	return b
}

func fakeError(w http.ResponseWriter, status int, code, msg string) {
	fakeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// authed checks the bearer token and that its role reaches minRole.
func (f *fakeAPI) authed(minRole string, h http.HandlerFunc) http.HandlerFunc {
	rank := map[string]int{"viewer": 0, "operator": 1, "admin": 2}
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		role, known := f.roles[token]
		f.mu.Unlock()
		switch {
		case !ok || !known:
			fakeError(w, http.StatusUnauthorized, "unauthenticated", "authentication required")
		case rank[role] < rank[minRole]:
			fakeError(w, http.StatusForbidden, "forbidden", "your role does not allow this")
		default:
			h(w, r)
		}
	}
}

// list serves items a page at a time; the cursor is the index of the next
// item.
func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	size := f.pageSize
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			fakeError(w, http.StatusBadRequest, "bad_request", "limit must be a number from 1 to 1000")
			return
		}
		size = min(size, n)
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		start, _ = strconv.Atoi(c)
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	page := append([]map[string]any{}, items[start:end]...)
	fakeJSON(w, http.StatusOK, map[string]any{"items": page, "next_cursor": next})
}

func (f *fakeAPI) bootstrap(w http.ResponseWriter, r *http.Request) {
	b := body(r)
	if b["setup_token"] != fakeSetupToken {
		fakeError(w, http.StatusUnauthorized, "bad_setup_token", "the setup token is wrong or was already used")
		return
	}
	u := fakeUser("u-boot", fmt.Sprint(b["username"]), "admin")
	fakeJSON(w, http.StatusCreated, map[string]any{"token": fakeBootToken, "user": u})
}

func (f *fakeAPI) me(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	u := f.users[0]
	f.mu.Unlock()
	fakeJSON(w, http.StatusOK, map[string]any{"user": u, "auth_method": "token"})
}

func (f *fakeAPI) findUser(idOrName string) map[string]any {
	for _, u := range f.users {
		if u["id"] == idOrName || u["username"] == idOrName {
			return u
		}
	}
	return nil
}

func (f *fakeAPI) createUser(w http.ResponseWriter, r *http.Request) {
	b := body(r)
	for k := range b {
		switch k {
		case "username", "password", "role", "display_name", "email":
		default:
			fakeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: unknown field "+strconv.Quote(k))
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := fakeUser(fmt.Sprintf("u%d", len(f.users)+1), fmt.Sprint(b["username"]), fmt.Sprint(b["role"]))
	if dn, ok := b["display_name"].(string); ok {
		u["display_name"] = dn
	}
	f.users = append(f.users, u)
	fakeJSON(w, http.StatusCreated, u)
}

func (f *fakeAPI) showUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.findUser(r.PathValue("id"))
	if u == nil {
		fakeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no user %q", r.PathValue("id")))
		return
	}
	fakeJSON(w, http.StatusOK, u)
}

func (f *fakeAPI) patchUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.findUser(r.PathValue("id"))
	if u == nil {
		fakeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no user %q", r.PathValue("id")))
		return
	}
	for k, v := range body(r) {
		u[k] = v
	}
	fakeJSON(w, http.StatusOK, u)
}

func (f *fakeAPI) deleteUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.findUser(r.PathValue("id")) == nil {
		fakeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no user %q", r.PathValue("id")))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeAPI) createToken(w http.ResponseWriter, r *http.Request) {
	b := body(r)
	t := map[string]any{
		"id": "tok1", "name": b["name"], "user_id": "u1", "token": "rmt_secret",
		"created_at": "2026-01-02T15:04:05Z", "expires_at": nil, "last_used_at": nil, "revoked_at": nil,
	}
	fakeJSON(w, http.StatusCreated, t)
}
