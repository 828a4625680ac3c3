package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

var diffMatrix = map[string]access{
	"snapshot.diff": viewer,
}

// The diff with a real agent, restic and repository is tested end to end
// in core/cmd/restic-manager (e2e_diff_test.go); these tests cover what
// the API decides alone, with the agent's part written to the store as the
// hub writes it.
type diffEnv struct {
	*env
	admin, viewer string
	hostID        string
	repoID        string
	snaps         []string // three snapshots of jobhost in jobrepo, oldest first
}

func newDiffEnv(t *testing.T) *diffEnv {
	t.Helper()
	e := newEnv(t)
	d := &diffEnv{env: e, admin: e.bootstrap()}
	d.viewer = e.user(d.admin, "vera", "viewer")
	jobSetup(e, d.admin)
	repo, err := e.db.GetRepository(t.Context(), "jobrepo")
	if err != nil {
		t.Fatal(err)
	}
	d.repoID = repo.ID
	hosts, _ := e.db.GetHostsByName(t.Context(), "jobhost")
	d.hostID = hosts[0].ID
	var snaps []store.Snapshot
	for i, c := range []string{"a1", "b2", "c3"} {
		id := strings.Repeat(c, 32)
		d.snaps = append(d.snaps, id)
		snaps = append(snaps, store.Snapshot{RepositoryID: repo.ID, ID: id, ShortID: id[:8], HostID: d.hostID, Time: e.clock.Now().Add(time.Duration(i) * time.Hour)})
	}
	if err := e.db.UpsertSnapshots(t.Context(), "", snaps, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *diffEnv) path(from, to, rest string) string {
	return "/api/v1/hosts/jobhost/diff?from=" + from + "&to=" + to + rest
}

func (d *diffEnv) online() {
	d.t.Helper()
	if err := d.db.SetHostStatus(d.t.Context(), d.hostID, store.HostOnline, d.clock.Now()); err != nil {
		d.t.Fatal(err)
	}
}

// finish writes a diff job's change lines as the hub stores them (several
// lines of output may share one event) and ends it with status.
func (d *diffEnv) finish(jobID, status string, events ...[]string) {
	d.t.Helper()
	var logs []store.JobLog
	for i, lines := range events {
		logs = append(logs, store.JobLog{JobID: jobID, Seq: int64(i + 1), Time: d.clock.Now(), Stream: "stdout", Type: "log", Line: strings.Join(lines, "\n")})
	}
	if len(logs) > 0 {
		if _, err := d.db.AppendJobLogs(d.t.Context(), logs); err != nil {
			d.t.Fatal(err)
		}
	}
	end := store.JobEnd{Status: status, At: d.clock.Now()}
	if status == store.JobSucceeded {
		end.Summary = json.RawMessage(`{"changed_files":3,"added":{"files":2},"removed":{"files":1}}`)
	} else {
		end.Error = "restic: no matching ID found"
	}
	if err := d.db.FinishJob(d.t.Context(), jobID, end); err != nil {
		d.t.Fatal(err)
	}
}

func change(path, mod string) string {
	return fmt.Sprintf(`{"message_type":"change","path":%q,"modifier":%q}`, path, mod)
}

func (d *diffEnv) jobCount() int {
	d.t.Helper()
	jobs, err := d.db.ListJobs(d.t.Context(), store.JobFilter{HostID: d.hostID, Limit: 100})
	if err != nil {
		d.t.Fatal(err)
	}
	return len(jobs)
}

func TestDiffRunsOnceAndPagesItsChanges(t *testing.T) {
	t.Parallel()
	d := newDiffEnv(t)
	from, to := d.snaps[0][:8], d.snaps[1]
	// The host is offline and the pair was never compared: nothing to show.
	if r := d.want(call{method: "GET", path: d.path(from, to, ""), token: d.viewer}, http.StatusConflict); r.errCode(t) != "host_offline" {
		t.Fatalf("offline: %s", r.body)
	}
	if n := d.jobCount(); n != 0 {
		t.Fatalf("an offline request made %d jobs", n)
	}
	d.online()
	var run diffRunningJSON
	d.want(call{method: "GET", path: d.path(from, to, ""), token: d.viewer}, http.StatusAccepted).decode(t, &run)
	if run.Status != "running" || run.JobID == "" {
		t.Fatalf("first request: %+v", run)
	}
	var again diffRunningJSON
	d.want(call{method: "GET", path: d.path(d.snaps[0], to, ""), token: d.admin}, http.StatusAccepted).decode(t, &again)
	if again.JobID != run.JobID || d.jobCount() != 1 {
		t.Fatalf("second request while running: job %s (first %s), %d jobs", again.JobID, run.JobID, d.jobCount())
	}
	j, err := d.db.GetJob(t.Context(), run.JobID)
	if err != nil {
		t.Fatal(err)
	}
	var params struct {
		Snapshots []string `json:"snapshots"`
	}
	if err := json.Unmarshal(j.Params, &params); err != nil || j.Kind != "diff" || j.RepositoryID != d.repoID ||
		len(params.Snapshots) != 2 || params.Snapshots[0] != d.snaps[0] || params.Snapshots[1] != d.snaps[1] {
		t.Fatalf("job %+v params %s", j, j.Params)
	}
	audit, err := d.db.ListAudit(t.Context(), store.AuditFilter{Action: "diff.start", Limit: 10})
	if err != nil || len(audit) != 1 || audit[0].ActorName != "vera" || audit[0].TargetID != run.JobID {
		t.Fatalf("audit of the start: %+v %v", audit, err)
	}

	d.finish(run.JobID, store.JobSucceeded,
		[]string{change("/srv/new.txt", "+"), change("/srv/gone.txt", "-"), "restic says hello"},
		[]string{change("/srv/edited.txt", "M")},
		[]string{change("/srv/link", "T"), change("/srv/perm.txt", "U"), change("/srv/added/", "+")},
	)
	var out diffJSON
	d.want(call{method: "GET", path: d.path(from, to, ""), token: d.viewer}, http.StatusOK).decode(t, &out)
	want := diffCountsJSON{Added: 2, Removed: 1, Modified: 1, TypeChanged: 1, MetadataChanged: 1, Total: 6}
	if out.Status != "complete" || out.JobID != run.JobID || out.Counts != want || out.From.ID != d.snaps[0] || out.To.ID != d.snaps[1] {
		t.Fatalf("result: %+v", out)
	}
	if !strings.Contains(string(out.Stats), `"changed_files":3`) || len(out.Changes) != 6 || out.Next != "" {
		t.Fatalf("stats %s, changes %+v, next %q", out.Stats, out.Changes, out.Next)
	}
	if c := out.Changes[2]; c.Path != "/srv/edited.txt" || c.Modifier != "M" || c.Change != "modified" {
		t.Errorf("third change: %+v", c)
	}
	if d.jobCount() != 1 {
		t.Fatalf("reading the result made a job: %d jobs", d.jobCount())
	}

	// Pages of two, through the events' shared lines.
	var paths []string
	after := ""
	for range 4 {
		var p diffJSON
		d.want(call{method: "GET", path: d.path(from, to, "&limit=2&after="+after), token: d.viewer}, http.StatusOK).decode(t, &p)
		for _, c := range p.Changes {
			paths = append(paths, c.Path)
		}
		if p.Counts != want {
			t.Errorf("a page's counts: %+v", p.Counts)
		}
		if after = p.Next; after == "" {
			break
		}
	}
	if got := strings.Join(paths, " "); got != "/srv/new.txt /srv/gone.txt /srv/edited.txt /srv/link /srv/perm.txt /srv/added/" {
		t.Errorf("paged: %s", got)
	}
	var added diffJSON
	d.want(call{method: "GET", path: d.path(from, to, "&filter=added&limit=1"), token: d.viewer}, http.StatusOK).decode(t, &added)
	if len(added.Changes) != 1 || added.Changes[0].Path != "/srv/new.txt" || added.Next == "" {
		t.Fatalf("added, first page: %+v", added)
	}
	d.want(call{method: "GET", path: d.path(from, to, "&filter=added&limit=1&after="+added.Next), token: d.viewer}, http.StatusOK).decode(t, &added)
	if len(added.Changes) != 1 || added.Changes[0].Path != "/srv/added/" || added.Next != "" {
		t.Fatalf("added, second page: %+v", added)
	}
}

func TestDiffFailureIsReportedThenRetried(t *testing.T) {
	t.Parallel()
	d := newDiffEnv(t)
	d.online()
	var run diffRunningJSON
	d.want(call{method: "GET", path: d.path(d.snaps[1], d.snaps[2], ""), token: d.viewer}, http.StatusAccepted).decode(t, &run)
	d.finish(run.JobID, store.JobFailed)
	r := d.want(call{method: "GET", path: d.path(d.snaps[1], d.snaps[2], ""), token: d.viewer}, http.StatusBadGateway)
	if r.errCode(t) != "diff_failed" || !strings.Contains(string(r.body), "no matching ID") || r.header.Get("Retry-After") == "" {
		t.Fatalf("failed diff: %s %v", r.body, r.header)
	}
	d.clock.Advance(2 * time.Minute)
	var again diffRunningJSON
	d.want(call{method: "GET", path: d.path(d.snaps[1], d.snaps[2], ""), token: d.viewer}, http.StatusAccepted).decode(t, &again)
	if again.JobID == run.JobID || d.jobCount() != 2 {
		t.Fatalf("retry after the failure: %+v, %d jobs", again, d.jobCount())
	}
}

func TestDiffRefusesBadInput(t *testing.T) {
	t.Parallel()
	d := newDiffEnv(t)
	d.online()
	// A snapshot of jobhost in another repository, and another host.
	d.want(call{method: "POST", path: "/api/v1/repositories", token: d.admin, body: repoBody("otherrepo")}, http.StatusCreated)
	other, _ := d.db.GetRepository(t.Context(), "otherrepo")
	elsewhere := strings.Repeat("d4", 32)
	if err := d.db.UpsertSnapshots(t.Context(), "", []store.Snapshot{{RepositoryID: other.ID, ID: elsewhere, ShortID: elsewhere[:8], HostID: d.hostID, Time: d.clock.Now()}}, d.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d.enroll(d.enrollToken(d.admin, map[string]any{}).Token, "otherhost")
	a, b := d.snaps[0], d.snaps[1]
	for name, tc := range map[string]struct {
		path   string
		status int
		code   string
		says   string
	}{
		"no from":         {"/api/v1/hosts/jobhost/diff?to=" + b, 400, "bad_snapshot", "from is required"},
		"no to":           {"/api/v1/hosts/jobhost/diff?from=" + a, 400, "bad_snapshot", "to is required"},
		"not an id":       {d.path("latest", b, ""), 400, "bad_snapshot", "from:"},
		"unknown to":      {d.path(a, "deadbeef", ""), 404, "not_found", "to: host"},
		"another host's":  {"/api/v1/hosts/otherhost/diff?from=" + a + "&to=" + b, 404, "not_found", "from: host"},
		"unknown host":    {"/api/v1/hosts/nohost/diff?from=" + a + "&to=" + b, 404, "not_found", "nohost"},
		"same snapshot":   {d.path(a, a[:8], ""), 400, "bad_snapshot", "same snapshot"},
		"two repos":       {d.path(a, elsewhere, ""), 400, "bad_snapshot", "different repositories"},
		"bad filter":      {d.path(a, b, "&filter=renamed"), 400, "bad_filter", "added, removed, modified"},
		"bad limit":       {d.path(a, b, "&limit=0"), 400, "bad_limit", "limit"},
		"bad cursor":      {d.path(a, b, "&after=x.1"), 400, "bad_cursor", "after"},
		"negative cursor": {d.path(a, b, "&after=3.-1"), 400, "bad_cursor", "after"},
	} {
		t.Run(name, func(t *testing.T) {
			r := d.want(call{method: "GET", path: tc.path, token: d.viewer}, tc.status)
			if r.errCode(t) != tc.code || !strings.Contains(string(r.body), tc.says) {
				t.Errorf("%s", r.body)
			}
		})
	}
	if n := d.jobCount(); n != 0 {
		t.Errorf("refused requests made %d jobs", n)
	}
}

func TestChangeKind(t *testing.T) {
	t.Parallel()
	for mod, want := range map[string]string{
		"+": "added", "-": "removed", "M": "modified", "T": "type_changed", "U": "metadata_changed",
		"?": "bitrot", "MU": "modified", "TM": "type_changed", "": "other",
	} {
		if got := changeKind(mod); got != want {
			t.Errorf("changeKind(%q) = %s, want %s", mod, got, want)
		}
	}
}
