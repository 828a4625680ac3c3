package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The job endpoints with a hub (dispatch, events, streams) are tested in
// core/hub against this API; these tests cover what the API decides alone.

var jobMatrix = map[string]access{
	"agent.connect": agentOnly,
	"job.run":       operator, "job.cancel": operator,
	"job.list": viewer, "job.show": viewer, "job.logs": viewer, "job.stream": viewer,
	"snapshot.list": viewer,
}

// jobSetup enrolls the host "jobhost" and adds the repository "jobrepo";
// it returns the agent credential.
func jobSetup(e *env, admin string) string {
	e.t.Helper()
	tok := e.enrollToken(admin, map[string]any{})
	got := e.enroll(tok.Token, "jobhost")
	e.want(call{method: "POST", path: "/api/v1/repositories", token: admin, body: repoBody("jobrepo")}, http.StatusCreated)
	return got.Credential
}

// driveJobRoutes runs and cancels a job, for TestEveryStateChangeIsAudited,
// and returns the secrets it saw.
func driveJobRoutes(e *env, admin string) []string {
	e.t.Helper()
	cred := jobSetup(e, admin)
	var j jobJSON
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: admin, body: map[string]any{
		"kind": "backup", "repository": "jobrepo", "paths": []string{"/srv"},
	}}, http.StatusCreated).decode(e.t, &j)
	e.want(call{method: "POST", path: "/api/v1/jobs/" + j.ID + "/cancel", token: admin}, http.StatusOK)
	e.want(call{method: "POST", path: "/api/v1/jobs/" + j.ID + "/cancel", token: admin}, http.StatusConflict)
	return append([]string{cred}, repoSecrets...)
}

func TestAgentConnectTakesOnlyAnAgentCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	viewer := e.user(root, "victor", "viewer")
	cookie, _ := e.login("root", testPassword)
	cred := jobSetup(e, root)

	for name, c := range map[string]call{
		"admin token":   {token: root},
		"viewer token":  {token: viewer},
		"admin session": {cookie: cookie},
	} {
		c.method, c.path = "GET", "/api/v1/agent/connect"
		if r := e.do(c); r.status != http.StatusForbidden {
			t.Errorf("%s on the agent endpoint: %d %s, want 403", name, r.status, r.body)
		}
	}
	if r := e.do(call{method: "GET", path: "/api/v1/agent/connect"}); r.status != http.StatusUnauthorized {
		t.Errorf("no credential: %d", r.status)
	}
	if r := e.do(call{method: "GET", path: "/api/v1/agent/connect", token: "rma_" + strings.Repeat("0", 43)}); r.status != http.StatusUnauthorized {
		t.Errorf("unknown agent credential: %d", r.status)
	}
	// This API has no hub: a good credential gets as far as the handler.
	if r := e.do(call{method: "GET", path: "/api/v1/agent/connect", token: cred}); r.status != http.StatusServiceUnavailable {
		t.Errorf("agent credential: %d %s", r.status, r.body)
	}
	// An agent credential opens no user endpoint.
	for _, path := range []string{"/api/v1/hosts", "/api/v1/jobs", "/api/v1/me"} {
		if r := e.do(call{method: "GET", path: path, token: cred}); r.status != http.StatusUnauthorized {
			t.Errorf("agent credential on %s: %d", path, r.status)
		}
	}
	// Revoked: refused like an unknown one.
	e.want(call{method: "DELETE", path: "/api/v1/hosts/jobhost", token: root}, http.StatusNoContent)
	if r := e.do(call{method: "GET", path: "/api/v1/agent/connect", token: cred}); r.status != http.StatusUnauthorized {
		t.Errorf("revoked agent credential: %d", r.status)
	}
}

func TestJobsWithoutAnAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	operator := e.user(root, "olivia", "operator")
	jobSetup(e, root)

	var j jobJSON
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: operator, body: map[string]any{
		"kind": "check", "repository": "jobrepo", "deadline": "2h",
	}}, http.StatusCreated).decode(t, &j)
	if j.Status != "queued" || j.Host != "jobhost" || j.Repository != "jobrepo" || j.Deadline == nil ||
		!j.Deadline.Equal(e.clock.Now().Add(2*time.Hour)) || j.ScheduleID != nil || string(j.Summary) != "null" {
		t.Fatalf("queued job = %+v", j)
	}
	// Prune, and forget with prune, need an admin.
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: operator, body: map[string]any{
		"kind": "prune", "repository": "jobrepo",
	}}, http.StatusForbidden)
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: operator, body: map[string]any{
		"kind": "forget", "repository": "jobrepo", "params": map[string]any{"prune": true, "retention": map[string]int{"keep_last": 3}},
	}}, http.StatusForbidden)
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: root, body: map[string]any{
		"kind": "prune", "repository": "jobrepo",
	}}, http.StatusCreated)

	var page list[jobJSON]
	e.want(call{method: "GET", path: "/api/v1/jobs?host=jobhost&status=queued&limit=1", token: operator}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.NextCursor == "" {
		t.Fatalf("first page = %+v", page)
	}
	first := page.Items[0].ID
	e.want(call{method: "GET", path: "/api/v1/jobs?host=jobhost&status=queued&limit=1&cursor=" + page.NextCursor, token: operator}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID == first || page.NextCursor != "" || (first != j.ID && page.Items[0].ID != j.ID) {
		t.Fatalf("second page = %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/jobs?status=bogus", token: operator}, http.StatusBadRequest)
	e.want(call{method: "GET", path: "/api/v1/jobs?host=nohost", token: operator}, http.StatusNotFound)

	var logs list[logItemJSON]
	e.want(call{method: "GET", path: "/api/v1/jobs/" + j.ID + "/logs", token: operator}, http.StatusOK).decode(t, &logs)
	if len(logs.Items) != 0 || logs.NextCursor != "" {
		t.Fatalf("logs of a queued job = %+v", logs)
	}
	e.want(call{method: "GET", path: "/api/v1/jobs/" + j.ID + "/stream", token: operator}, http.StatusBadRequest)
	e.want(call{method: "GET", path: "/api/v1/jobs/" + j.ID + "/logs?after_seq=x", token: operator}, http.StatusBadRequest)

	var snaps list[snapshotJSON]
	e.want(call{method: "GET", path: "/api/v1/hosts/jobhost/snapshots?repository=jobrepo", token: operator}, http.StatusOK).decode(t, &snaps)
	if len(snaps.Items) != 0 {
		t.Fatalf("snapshots = %+v", snaps)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts/jobhost/snapshots?repository=none", token: operator}, http.StatusNotFound)

	// A removed host takes no new jobs.
	e.want(call{method: "DELETE", path: "/api/v1/hosts/jobhost", token: root}, http.StatusNoContent)
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: operator, body: map[string]any{
		"kind": "check", "repository": "jobrepo",
	}}, http.StatusConflict)
}
