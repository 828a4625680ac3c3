package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/hub"
)

// A path check runs on the host and tells what its agent's user may
// write: operator+, like restore.
var pathCheckMatrix = map[string]access{
	"host.path_check": operator,
}

// The check with a real agent is tested end to end in
// core/cmd/restic-manager (e2e_pathcheck_test.go); these tests cover what
// the API decides before the agent is asked.
func TestPathCheckRefusesBeforeAsking(t *testing.T) {
	t.Parallel()
	r := newRestoreEnv(t)
	withHub := *r.env
	ctx, cancel := context.WithCancel(context.Background())
	h := hub.New(ctx, hub.Options{Store: r.db})
	t.Cleanup(func() { cancel(); h.Close() })
	withHub.api = New(Options{Store: r.db, Now: r.clock.Now, Agents: h})
	withHub.srv = httptest.NewServer(withHub.api)
	t.Cleanup(withHub.srv.Close)

	q := func(p string) string { return "?" + url.Values{"path": {p}}.Encode() }
	for name, tc := range map[string]struct {
		e            *env
		token, query string
		host         string
		status       int
		code         string
	}{
		"viewer":        {r.env, r.viewer, q("/srv"), "jobhost", http.StatusForbidden, "forbidden"},
		"no path":       {r.env, r.operator, "", "jobhost", http.StatusBadRequest, "bad_path"},
		"relative":      {r.env, r.operator, q("srv/restore"), "jobhost", http.StatusBadRequest, "bad_path"},
		"control":       {r.env, r.operator, q("/srv/\nx"), "jobhost", http.StatusBadRequest, "bad_path"},
		"too long":      {r.env, r.operator, q("/" + strings.Repeat("x", 5000)), "jobhost", http.StatusBadRequest, "bad_path"},
		"no hub":        {r.env, r.operator, q("/srv"), "jobhost", http.StatusNotImplemented, "not_implemented"},
		"unknown host":  {&withHub, r.operator, q("/srv"), "nohost", http.StatusNotFound, "not_found"},
		"offline host":  {&withHub, r.operator, q("/srv/restore"), "jobhost", http.StatusConflict, "host_offline"},
		"windows path":  {&withHub, r.operator, q(`C:\restore`), "jobhost", http.StatusConflict, "host_offline"},
		"admin offline": {&withHub, r.admin, q("/srv"), r.hostID, http.StatusConflict, "host_offline"},
	} {
		t.Run(name, func(t *testing.T) {
			res := tc.e.do(call{method: http.MethodGet, path: "/api/v1/hosts/" + tc.host + "/path-check" + tc.query, token: tc.token})
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			if !strings.Contains(string(res.body), `"code":"`+tc.code+`"`) {
				t.Fatalf("body %s, want code %s", res.body, tc.code)
			}
		})
	}
}
