package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

var restoreMatrix = map[string]access{
	"restore.run": operator,
}

// The restore with a real agent, restic and repository is tested end to
// end in core/cmd/restic-manager (e2e_restore_test.go); these tests cover
// what the API decides alone: the checks, the job's params and the audit
// entry.
type restoreEnv struct {
	*env
	admin, operator, viewer string
	hostID, repoID          string
	snap                    string
}

func newRestoreEnv(t *testing.T) *restoreEnv {
	t.Helper()
	e := newEnv(t)
	r := &restoreEnv{env: e, admin: e.bootstrap()}
	r.operator = e.user(r.admin, "olga", "operator")
	r.viewer = e.user(r.admin, "vera", "viewer")
	jobSetup(e, r.admin)
	repo, err := e.db.GetRepository(t.Context(), "jobrepo")
	if err != nil {
		t.Fatal(err)
	}
	r.repoID = repo.ID
	hosts, _ := e.db.GetHostsByName(t.Context(), "jobhost")
	r.hostID = hosts[0].ID
	r.snap = strings.Repeat("5e", 32)
	snaps := []store.Snapshot{{
		RepositoryID: repo.ID, ID: r.snap, ShortID: r.snap[:8], HostID: r.hostID,
		Time: e.clock.Now(), Paths: []string{"/srv/data", "/etc"},
	}}
	if err := e.db.UpsertSnapshots(t.Context(), "", snaps, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *restoreEnv) restore(token string, body map[string]any) resp {
	r.t.Helper()
	return r.do(call{method: http.MethodPost, path: "/api/v1/hosts/jobhost/restore", token: token, body: body})
}

func TestRestoreCreatesTheJob(t *testing.T) {
	t.Parallel()
	r := newRestoreEnv(t)
	res := r.restore(r.operator, map[string]any{
		"snapshot": r.snap[:8], "includes": []string{"/srv/data/a.txt", "/srv/data/b"},
		"target": "/tmp/back", "strip_components": 2, "overwrite": "if-newer",
	})
	if res.status != http.StatusAccepted {
		t.Fatalf("restore: %d %s, want 202", res.status, res.body)
	}
	var j jobJSON
	res.decode(t, &j)
	if j.Kind != "restore" || j.HostID != r.hostID || j.RepositoryID != r.repoID || j.Status != store.JobQueued {
		t.Fatalf("job %+v: want a queued restore on jobhost from jobrepo", j)
	}
	var p struct {
		Snapshots []string `json:"snapshots"`
		Target    string   `json:"target"`
		Includes  []string `json:"includes"`
		Extra     struct {
			Overwrite       string `json:"overwrite"`
			StripComponents int    `json:"strip_components"`
		} `json:"extra"`
	}
	if err := json.Unmarshal(j.Params, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Snapshots) != 1 || p.Snapshots[0] != r.snap || p.Target != "/tmp/back" ||
		strings.Join(p.Includes, ",") != "/srv/data/a.txt,/srv/data/b" ||
		p.Extra.Overwrite != "if-newer" || p.Extra.StripComponents != 2 {
		t.Fatalf("params %s: want the full snapshot id, the target, both includes, if-newer and strip 2", j.Params)
	}

	// The original location is "/", with restic's defaults left alone.
	r.restore(r.operator, map[string]any{"snapshot": r.snap}).decode(t, &j)
	if string(j.Params) != `{"snapshots":["`+r.snap+`"],"target":"/"}` {
		t.Fatalf("params %s: want the snapshot and target / only", j.Params)
	}

	entries, err := r.db.ListAudit(t.Context(), store.AuditFilter{Action: "restore.run", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d restore.run audit entries, want 2", len(entries))
	}
	d := entries[1].Detail // oldest last
	if d["snapshot"] != r.snap || d["target"] != "/tmp/back" || d["overwrite"] != "if-newer" {
		t.Fatalf("audit detail %v: want the snapshot, target and overwrite policy", d)
	}
	b, _ := json.Marshal(entries)
	for _, s := range repoSecrets {
		if strings.Contains(string(b), s) {
			t.Fatalf("the audit entries hold a repository secret: %s", b)
		}
	}
}

func TestRestoreRefusesBadInput(t *testing.T) {
	t.Parallel()
	r := newRestoreEnv(t)
	for name, tc := range map[string]struct {
		body   map[string]any
		status int
		field  string
	}{
		"no snapshot":        {map[string]any{}, 400, "snapshot"},
		"unknown snapshot":   {map[string]any{"snapshot": "deadbeef"}, 400, "snapshot"},
		"relative include":   {map[string]any{"snapshot": r.snap, "includes": []string{"srv/data"}}, 400, "includes"},
		"dot-dot include":    {map[string]any{"snapshot": r.snap, "includes": []string{"/srv/data/../../etc/shadow"}}, 400, "includes"},
		"control character":  {map[string]any{"snapshot": r.snap, "includes": []string{"/srv/data/a\nb"}}, 400, "includes"},
		"outside snapshot":   {map[string]any{"snapshot": r.snap, "includes": []string{"/home/alice"}}, 400, "includes"},
		"prefix is no root":  {map[string]any{"snapshot": r.snap, "includes": []string{"/srv/database"}}, 400, "includes"},
		"relative target":    {map[string]any{"snapshot": r.snap, "target": "tmp/x"}, 400, "target"},
		"unclean target":     {map[string]any{"snapshot": r.snap, "target": "/tmp//x/"}, 400, "target"},
		"dot-dot target":     {map[string]any{"snapshot": r.snap, "target": "/tmp/../etc"}, 400, "target"},
		"strip to original":  {map[string]any{"snapshot": r.snap, "strip_components": 1}, 400, "strip_components"},
		"strip too deep":     {map[string]any{"snapshot": r.snap, "target": "/tmp/x", "includes": []string{"/etc/hosts"}, "strip_components": 3}, 400, "strip_components"},
		"strip, no includes": {map[string]any{"snapshot": r.snap, "target": "/tmp/x", "strip_components": 1}, 400, "strip_components"},
		"strip, not shared":  {map[string]any{"snapshot": r.snap, "target": "/tmp/x", "includes": []string{"/etc/hosts", "/srv/data/a"}, "strip_components": 1}, 400, "strip_components"},
		"negative strip":     {map[string]any{"snapshot": r.snap, "target": "/tmp/x", "strip_components": -1}, 400, "strip_components"},
		"unknown overwrite":  {map[string]any{"snapshot": r.snap, "overwrite": "sometimes"}, 400, "overwrite"},
		"unknown field":      {map[string]any{"snapshot": r.snap, "password": "x"}, 400, "password"},
		"unknown to_host":    {map[string]any{"snapshot": r.snap, "to_host": "nowhere"}, 400, "to_host"},
		"another host's job": {map[string]any{"snapshot": strings.Repeat("ab", 32)}, 400, "snapshot"},
	} {
		t.Run(name, func(t *testing.T) {
			res := r.restore(r.operator, tc.body)
			if res.status != tc.status {
				t.Fatalf("%d %s, want %d", res.status, res.body, tc.status)
			}
			var e errorBody
			res.decode(t, &e)
			if !strings.Contains(e.Error.Message, tc.field) {
				t.Fatalf("message %q does not name %s", e.Error.Message, tc.field)
			}
		})
	}
	jobs, err := r.db.ListJobs(t.Context(), store.JobFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Fatalf("%d jobs made by refused restores, want none", len(jobs))
	}
}

func TestRestoreRoles(t *testing.T) {
	t.Parallel()
	r := newRestoreEnv(t)
	if res := r.restore(r.viewer, map[string]any{"snapshot": r.snap}); res.status != http.StatusForbidden {
		t.Fatalf("viewer restore: %d %s, want 403", res.status, res.body)
	}
	if res := r.restore(r.admin, map[string]any{"snapshot": r.snap}); res.status != http.StatusAccepted {
		t.Fatalf("admin restore: %d %s, want 202", res.status, res.body)
	}
}

// TestRestoreOntoAnotherHost covers what the API decides alone about a
// cross-host restore; the one-job key flow with real agents is tested end
// to end (e2e_xrestore_test.go).
func TestRestoreOntoAnotherHost(t *testing.T) {
	t.Parallel()
	r := newRestoreEnv(t)
	tok := r.enrollToken(r.admin, map[string]any{})
	r.enroll(tok.Token, "otherhost")
	res := r.restore(r.operator, map[string]any{"snapshot": r.snap, "to_host": "otherhost"})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "target") {
		t.Fatalf("cross-host restore without a target: %d %s, want 400 naming target", res.status, res.body)
	}
	// Without an agent hub there is nobody to make the one-job key.
	res = r.restore(r.operator, map[string]any{"snapshot": r.snap, "to_host": "otherhost", "target": "/"})
	if res.status != http.StatusNotImplemented || !strings.Contains(string(res.body), "to_host") {
		t.Fatalf("cross-host restore without a hub: %d %s, want 501 naming to_host", res.status, res.body)
	}
	if jobs, _ := r.db.ListJobs(t.Context(), store.JobFilter{}); len(jobs) != 0 {
		t.Fatalf("%d jobs made by refused cross-host restores, want none", len(jobs))
	}
}

func TestRestoreParamsOnlyForRestore(t *testing.T) {
	t.Parallel()
	err := checkParams("backup", jobParams{Paths: []string{"/srv"}, Target: "/tmp"})
	if err == nil || !strings.Contains(err.Error(), "target") {
		t.Fatalf("a backup with a target: %v, want an error naming target", err)
	}
}

// driveRestoreRoutes starts a restore on jobhost (driveJobRoutes set it
// up), for TestEveryStateChangeIsAudited.
func driveRestoreRoutes(e *env, admin string) []string {
	e.t.Helper()
	repo, err := e.db.GetRepository(e.t.Context(), "jobrepo")
	if err != nil {
		e.t.Fatal(err)
	}
	hosts, _ := e.db.GetHostsByName(e.t.Context(), "jobhost")
	snap := strings.Repeat("7a", 32)
	if err := e.db.UpsertSnapshots(e.t.Context(), "", []store.Snapshot{{
		RepositoryID: repo.ID, ID: snap, ShortID: snap[:8], HostID: hosts[0].ID, Time: e.clock.Now(), Paths: []string{"/srv"},
	}}, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/restore", token: admin, body: map[string]any{
		"snapshot": snap, "includes": []string{"/srv/a"}, "target": "/tmp/r",
	}}, http.StatusAccepted)
	return nil
}
