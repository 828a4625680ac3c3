package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// hostListPage is GET /api/v1/hosts as a client reads it.
type hostListPage struct {
	Items      []hostWithSummaryJSON `json:"items"`
	NextCursor string                `json:"next_cursor"`
	Total      *int                  `json:"total"`
}

func hostNames(items []hostWithSummaryJSON) string {
	out := make([]string, len(items))
	for i, h := range items {
		out[i] = h.Name
	}
	return strings.Join(out, " ")
}

func TestListHostsSortSearchPageAndSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	viewerTok := e.user(root, "victor", "viewer")
	ctx := context.Background()
	tok := e.enrollToken(root, map[string]any{"uses": 4})
	ids := map[string]string{}
	for _, name := range []string{"web-2", "db-1", "web-1", "mail"} {
		ids[name] = e.enroll(tok.Token, name).HostID
	}
	now := e.clock.Now()
	if err := e.db.SetHostStatus(ctx, ids["web-1"], store.HostOnline, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetHostStatus(ctx, ids["mail"], store.HostOnline, now); err != nil {
		t.Fatal(err)
	}
	e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: map[string]any{
		"name": "main", "url": "/srv/restic/main", "password": "repository secret 1",
	}}, http.StatusCreated)
	repo, err := e.db.GetRepository(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	// db-1 backed up last week; web-2 today, in 90 s, after a failed try.
	backup := func(id, host, status string, start time.Time, d time.Duration) {
		t.Helper()
		if err := e.db.CreateJob(ctx, store.Job{ID: id, HostID: host, Kind: "backup", Status: store.JobQueued, RepositoryID: repo.ID, CreatedAt: start}); err != nil {
			t.Fatal(err)
		}
		if err := e.db.StartJob(ctx, id, start); err != nil {
			t.Fatal(err)
		}
		if err := e.db.FinishJob(ctx, id, store.JobEnd{Status: status, At: start.Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	backup("j1", ids["db-1"], store.JobSucceeded, now.Add(-7*24*time.Hour), time.Minute)
	backup("j2", ids["web-2"], store.JobFailed, now.Add(-2*time.Hour), time.Second)
	backup("j3", ids["web-2"], store.JobSucceeded, now.Add(-time.Hour), 90*time.Second)
	snaps := []store.Snapshot{
		{RepositoryID: repo.ID, ID: strings.Repeat("a", 64), HostID: ids["web-2"], Time: now.Add(-time.Hour)},
		{RepositoryID: repo.ID, ID: strings.Repeat("b", 64), HostID: ids["web-2"], Time: now.Add(-2 * time.Hour)},
	}
	if err := e.db.UpsertSnapshots(ctx, "", snaps, now); err != nil {
		t.Fatal(err)
	}

	get := func(query string) hostListPage {
		t.Helper()
		var p hostListPage
		e.want(call{method: "GET", path: "/api/v1/hosts" + query, token: viewerTok}, http.StatusOK).decode(t, &p)
		return p
	}
	tests := map[string]struct{ query, want string }{
		"by name":             {"", "db-1 mail web-1 web-2"},
		"by name desc":        {"?order=desc", "web-2 web-1 mail db-1"},
		"by status":           {"?sort=status", "mail web-1 db-1 web-2"},
		"by last seen desc":   {"?sort=last_seen&order=desc", "mail web-1 db-1 web-2"},
		"by last backup desc": {"?sort=last_backup&order=desc", "web-2 db-1 mail web-1"},
		"search":              {"?search=WEB", "web-1 web-2"},
		"search and status":   {"?search=web&status=online", "web-1"},
		"offset":              {"?offset=1&limit=2", "mail web-1"},
		"offset past the end": {"?offset=9", ""},
	}
	for name, tc := range tests {
		p := get(tc.query)
		if got := hostNames(p.Items); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	if p := get("?search=web&limit=1"); p.Total == nil || *p.Total != 2 || p.NextCursor == "" {
		t.Errorf("total of a search: %+v", p)
	}
	// The cursor continues in the order asked for.
	var walked []string
	for cursor := ""; ; {
		q := "?sort=last_backup&order=desc&limit=1"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		p := get(q)
		walked = append(walked, hostNames(p.Items))
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if got := strings.Join(walked, " "); got != "web-2 db-1 mail web-1" {
		t.Errorf("walking by cursor: %q", got)
	}

	// The summary: web-2's last backup is the succeeded one, 90 s, two snapshots.
	var raw map[string]json.RawMessage
	e.want(call{method: "GET", path: "/api/v1/hosts/web-2", token: viewerTok}, http.StatusOK).decode(t, &raw)
	for _, field := range []string{
		"id", "name", "hostname", "status", "last_seen", "os", "arch", "agent_version", "restic_version",
		"backends", "tags", "managed_by", "enrolled_at", "created_at", "updated_at", "last_backup", "snapshot_count", "repository_size",
	} {
		if _, ok := raw[field]; !ok {
			t.Errorf("host.show lacks %q", field)
		}
	}
	var show hostWithSummaryJSON
	e.want(call{method: "GET", path: "/api/v1/hosts/web-2", token: viewerTok}, http.StatusOK).decode(t, &show)
	lb := show.LastBackup
	if lb == nil || lb.JobID != "j3" || lb.Status != "succeeded" || lb.Repository != "main" || lb.RepositoryID != repo.ID ||
		lb.DurationSeconds == nil || *lb.DurationSeconds != 90 || !lb.FinishedAt.Equal(now.Add(-time.Hour+90*time.Second)) ||
		show.SnapshotCount != 2 || show.RepositorySize != nil {
		t.Errorf("web-2's summary: %+v, last backup %+v", show.hostSummaryJSON, lb)
	}
	for _, h := range get("").Items {
		if h.Name == "web-2" && (h.LastBackup == nil || h.LastBackup.JobID != "j3" || h.SnapshotCount != 2) {
			t.Errorf("web-2 in the list: %+v", h.hostSummaryJSON)
		}
		if h.Name == "mail" && (h.LastBackup != nil || h.SnapshotCount != 0) {
			t.Errorf("mail has never backed up: %+v", h.hostSummaryJSON)
		}
	}
	var rawList struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	e.want(call{method: "GET", path: "/api/v1/hosts?name=mail", token: viewerTok}, http.StatusOK).decode(t, &rawList)
	if len(rawList.Items) != 1 || string(rawList.Items[0]["last_backup"]) != "null" || string(rawList.Items[0]["repository_size"]) != "null" {
		t.Errorf("a host without backups: %s", rawList.Items)
	}
}

func TestListHostsRefusesBadQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tests := map[string]struct{ query, code, message string }{
		"sort":              {"?sort=size", "bad_sort", "sort must be name, status, last_seen or last_backup"},
		"order":             {"?order=up", "bad_order", "order must be asc or desc"},
		"negative offset":   {"?offset=-1", "bad_request", "offset must be a number from 0 to 1000000"},
		"offset not a num":  {"?offset=ten", "bad_request", "offset must be a number"},
		"huge offset":       {"?offset=1000001", "bad_request", "offset must be"},
		"cursor and offset": {"?offset=1&cursor=" + encodeCursor("x"), "bad_request", "give cursor or offset, not both"},
		"status":            {"?status=asleep", "bad_request", "status must be online, offline or revoked"},
		"long search":       {"?search=" + strings.Repeat("x", 254), "bad_request", "search is longer than 253 characters"},
		"limit":             {"?limit=0", "bad_request", "limit must be"},
	}
	for name, tc := range tests {
		r := e.want(call{method: "GET", path: "/api/v1/hosts" + tc.query, token: root}, http.StatusBadRequest)
		var body errorBody
		r.decode(t, &body)
		if body.Error.Code != tc.code || !strings.Contains(body.Error.Message, tc.message) ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %s %q (%s), want %s %q", name, body.Error.Code, body.Error.Message, r.header.Get("Content-Type"), tc.code, tc.message)
		}
	}
}
