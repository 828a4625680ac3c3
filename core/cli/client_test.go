package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

func TestListAllFollowsCursors(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.pageSize = 3
	for i := range 7 {
		api.audit = append(api.audit, map[string]any{"id": 100 - i, "action": "user.create"})
	}
	c, err := newClient(api.srv.URL, fakeAdminToken)
	if err != nil {
		t.Fatal(err)
	}
	items, err := c.listAll(context.Background(), "/audit", url.Values{"action": {"user."}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, raw := range items {
		var e struct{ ID int }
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if want := []int{100, 99, 98, 97, 96, 95, 94}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	var cursors []string
	for _, r := range api.seen() {
		cursors = append(cursors, r.Query.Get("cursor"))
		if r.Query.Get("action") != "user." {
			t.Errorf("page request lost the filter: %v", r.Query)
		}
		if r.Authorization != "Bearer "+fakeAdminToken {
			t.Errorf("Authorization = %q", r.Authorization)
		}
	}
	if want := []string{"", "3", "6"}; !slices.Equal(cursors, want) {
		t.Errorf("cursors sent %q, want %q (3 pages)", cursors, want)
	}
}

func TestListNStopsEarly(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.pageSize = 3
	for i := range 7 {
		api.audit = append(api.audit, map[string]any{"id": i})
	}
	c, err := newClient(api.srv.URL, fakeAdminToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n        int
		wantLen  int
		wantMore bool
	}{{n: 2, wantLen: 2, wantMore: true}, {n: 4, wantLen: 4, wantMore: true}, {n: 7, wantLen: 7}, {n: 50, wantLen: 7}, {n: 0, wantLen: 7}} {
		items, more, err := c.listN(context.Background(), "/audit", nil, tc.n)
		if err != nil || len(items) != tc.wantLen || more != tc.wantMore {
			t.Errorf("listN(%d) = %d items, more %v, %v; want %d, %v", tc.n, len(items), more, err, tc.wantLen, tc.wantMore)
		}
	}
}

func TestListRejectsRepeatedCursor(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fakeJSON(w, http.StatusOK, map[string]any{"items": []int{1}, "next_cursor": "same"})
	}))
	t.Cleanup(srv.Close)
	c, _ := newClient(srv.URL, "t")
	if _, err := c.listAll(context.Background(), "/x", nil); err == nil {
		t.Fatal("a server that repeats its cursor made listAll loop or succeed")
	}
}

func TestErrorRendering(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		handler http.HandlerFunc
		want    string
	}{
		"api error": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				fakeError(w, http.StatusForbidden, "forbidden", "your role does not allow this")
			},
			want: "Error: your role does not allow this (HTTP 403)\n",
		},
		"rate limited": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "7")
				fakeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
			},
			want: "Error: too many requests (HTTP 429, retry after 7s)\n",
		},
		"multi-line message": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				fakeError(w, http.StatusConflict, "conflict", "user is declared in config\nremove it there")
			},
			want: "Error: user is declared in config remove it there (HTTP 409)\n",
		},
		"plain text": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "404 page not found", http.StatusNotFound)
			},
			want: "Error: 404 page not found (HTTP 404)\n",
		},
		"html from a proxy": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1>\n</body></html>")
			},
			want: "Error: Bad Gateway (HTTP 502)\n",
		},
		"redirect": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://backup.example.com/api/v1/users", http.StatusMovedPermanently)
			},
			want: "Error: the server redirects to https://backup.example.com/api/v1/users; set --addr or RM_ADDR to the server's address (HTTP 301)\n",
		},
		"not json": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, "{nope")
			},
			want: "Error: GET /users: the server's answer is not the JSON expected: invalid character 'n' looking for beginning of object key string\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			r := invocation{env: map[string]string{envAddr: srv.URL, envToken: "rmt_x"}}.run(t, "user", "list")
			if r.code != 1 || r.stderr != tc.want {
				t.Errorf("exit %d, stderr %q\nwant exit 1, %q", r.code, r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestForbiddenFromFakeAPI(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	r := invocation{env: map[string]string{envAddr: api.srv.URL, envToken: fakeViewerToken}}.run(t, "audit", "list")
	if r.code != 1 || r.stderr != "Error: your role does not allow this (HTTP 403)\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	_ = l.Close()
	r := invocation{env: map[string]string{envToken: "rmt_x"}}.run(t, "user", "list", "--addr", addr)
	want := fmt.Sprintf("Error: cannot reach the server at %s: is it running?\n", addr)
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
	}
}

func TestMissingToken(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	for _, args := range [][]string{{"user", "list"}, {"token", "create", "--name", "x"}, {"audit", "list"}, {"user", "list", "--token", " "}} {
		r := invocation{env: map[string]string{envAddr: api.srv.URL}}.run(t, args...)
		if r.code != 1 || r.stderr != "Error: no API token: set RM_TOKEN or pass --token\n" {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if n := len(api.seen()); n != 0 {
		t.Errorf("%d requests reached the server without a token", n)
	}
}

func TestAddrAndTokenSources(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	other := newFakeAPI(t)
	// Flags beat the environment.
	r := invocation{env: map[string]string{envAddr: other.srv.URL, envToken: "rmt_wrong"}}.
		run(t, "whoami", "--addr", api.srv.URL+"/", "--token", fakeAdminToken)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if len(api.seen()) != 1 || len(other.seen()) != 0 {
		t.Errorf("requests: flag addr %d, env addr %d; want 1 and 0", len(api.seen()), len(other.seen()))
	}
	if got := api.seen()[0].Path; got != "/api/v1/me" {
		t.Errorf("path %q, want /api/v1/me (no double slash)", got)
	}

	for _, bad := range []string{"127.0.0.1:8080", "ftp://x", "http://"} {
		r := invocation{env: map[string]string{envToken: "t"}}.run(t, "user", "list", "--addr", bad)
		if r.code != 2 {
			t.Errorf("--addr %q: exit %d, stderr %q; want 2", bad, r.code, r.stderr)
		}
	}
}

func TestAPIErrorIsTyped(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	c, _ := newClient(api.srv.URL, fakeViewerToken)
	err := c.do(context.Background(), http.MethodGet, "/users", nil, nil, nil)
	var apiErr *apiError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || apiErr.Code != "forbidden" {
		t.Errorf("err = %#v, want an *apiError with 403 forbidden", err)
	}
}
