package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// repoAPI is a stand-in for the repository endpoints that records what it
// is sent and answers with one fixed repository.
type repoAPI struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []fakeRequest
}

const fakeRepoJSON = `{"id":"r1","name":"offsite","url":"rest:https://u:***@host/","description":"","env_keys":["AWS_ACCESS_KEY_ID"],
	"has_password":true,"managed_by":"user","created_at":"2026-01-02T15:04:05Z","updated_at":"2026-01-02T15:04:05Z"}`

func newRepoAPI(t *testing.T) *repoAPI {
	t.Helper()
	f := &repoAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := fakeRequest{Method: r.Method, Path: r.URL.EscapedPath(), Authorization: r.Header.Get("Authorization")}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&req.Body); err != nil {
				fakeError(w, http.StatusBadRequest, "bad_request", err.Error())
				return
			}
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/repositories":
			fmt.Fprintf(w, `{"items":[%s],"next_cursor":""}`, fakeRepoJSON)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, fakeRepoJSON)
		default:
			fmt.Fprint(w, fakeRepoJSON)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *repoAPI) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

func (f *repoAPI) run(t *testing.T, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	e := map[string]string{envAddr: f.srv.URL, envToken: fakeAdminToken}
	for k, v := range env {
		e[k] = v
	}
	return invocation{env: e, stdin: stdin}.run(t, args...)
}

func TestRepoAdd(t *testing.T) {
	t.Parallel()
	api := newRepoAPI(t)
	r := api.run(t, "s3cret pw\n", map[string]string{"AWS_SECRET_ACCESS_KEY": "from-env"},
		"repo", "add", "--name", "offsite", "--url", "s3:host/bucket", "--password-file", "-",
		"--env", "AWS_ACCESS_KEY_ID=AKIA=X", "--env", "AWS_SECRET_ACCESS_KEY", "--description", "copy")
	if r.code != 0 || r.stdout != "r1\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	reqs := api.seen()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/api/v1/repositories" {
		t.Fatalf("requests %+v", reqs)
	}
	want := map[string]any{
		"name": "offsite", "url": "s3:host/bucket", "password": "s3cret pw", "description": "copy",
		"env": map[string]any{"AWS_ACCESS_KEY_ID": "AKIA=X", "AWS_SECRET_ACCESS_KEY": "from-env"},
	}
	if fmt.Sprint(reqs[0].Body) != fmt.Sprint(want) {
		t.Fatalf("body %v\nwant %v", reqs[0].Body, want)
	}

	r = api.run(t, "pw", nil, "repo", "add", "--json", "--name", "o", "--url", "/srv", "--password-file", "-")
	var obj map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &obj) != nil || obj["id"] != "r1" {
		t.Fatalf("--json: exit %d, stdout %q", r.code, r.stdout)
	}
	if _, ok := api.seen()[1].Body["env"]; ok {
		t.Fatalf("no --env sent an env: %v", api.seen()[1].Body)
	}
}

func TestRepoAddRefusesBadFlags(t *testing.T) {
	t.Parallel()
	api := newRepoAPI(t)
	base := []string{"repo", "add", "--name", "n", "--url", "/srv", "--password-file", "-"}
	tests := map[string]struct {
		args []string
		want string
	}{
		"missing flags": {[]string{"repo", "add", "--name", "n"}, "--url, --password-file are required"},
		"duplicate env": {append(base, "--env", "K=1", "--env", "K=2"), "--env K is given twice"},
		"empty name":    {append(base, "--env", "=v"), "variable name"},
		"unset bare":    {append(base, "--env", "NOT_SET_HERE"), "not set"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := api.run(t, "pw", nil, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 with %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if n := len(api.seen()); n != 0 {
		t.Fatalf("%d requests sent for bad input", n)
	}
}

func TestRepoUpdate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args  []string
		stdin string
		body  map[string]any
	}{
		"url and description": {
			[]string{"--url", "/srv/new", "--description", ""},
			"",
			map[string]any{"url": "/srv/new", "description": ""},
		},
		"password and env": {
			[]string{"--password-file", "-", "--env", "B2_ACCOUNT_KEY=k"},
			"new pw\r\n",
			map[string]any{"password": "new pw", "env": map[string]any{"B2_ACCOUNT_KEY": "k"}},
		},
		"clear env": {[]string{"--clear-env"}, "", map[string]any{"env": map[string]any{}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newRepoAPI(t)
			r := api.run(t, tc.stdin, nil, append([]string{"repo", "update", "my repo"}, tc.args...)...)
			if r.code != 0 || r.stdout != "r1\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			got := api.seen()[0]
			if got.Method != "PATCH" || got.Path != "/api/v1/repositories/my%20repo" || fmt.Sprint(got.Body) != fmt.Sprint(tc.body) {
				t.Fatalf("%s %s %v, want body %v", got.Method, got.Path, got.Body, tc.body)
			}
		})
	}
	api := newRepoAPI(t)
	for _, args := range [][]string{{"repo", "update", "x"}, {"repo", "update", "x", "--clear-env", "--env", "K=V"}, {"repo", "update"}} {
		if r := api.run(t, "", nil, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, stderr %q; want 2", args, r.code, r.stderr)
		}
	}
}

func TestRepoListShowRemove(t *testing.T) {
	t.Parallel()
	api := newRepoAPI(t)
	r := api.run(t, "", nil, "repo", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "offsite") || !strings.Contains(r.stdout, "AWS_ACCESS_KEY_ID") || !strings.Contains(r.stdout, "***") {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = api.run(t, "", nil, "repo", "list", "--json")
	var items []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &items) != nil || len(items) != 1 {
		t.Fatalf("list --json: %q", r.stdout)
	}
	r = api.run(t, "", nil, "repo", "show", "offsite")
	if r.code != 0 || !strings.Contains(r.stdout, "yes (not shown)") {
		t.Fatalf("show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = api.run(t, "", nil, "repo", "remove", "offsite")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Removed") {
		t.Fatalf("remove: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if got := api.seen(); got[len(got)-1].Method != "DELETE" || got[len(got)-1].Path != "/api/v1/repositories/offsite" {
		t.Fatalf("remove sent %+v", got[len(got)-1])
	}
	if r := api.run(t, "", nil, "repo", "init", "offsite"); r.code == 0 {
		t.Fatal("repo init exists; it needs the job system")
	}
}
