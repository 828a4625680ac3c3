package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/browse"
	"github.com/restic-manager/restic-manager/core/store"
)

var snapshotTreeMatrix = map[string]access{
	"snapshot.tree": viewer, "snapshot.search": viewer,
}

// The browser with a real agent, restic and repository is tested end to
// end in core/cmd/restic-manager (e2e_browse_test.go); these tests cover
// what the API and the cache decide alone. hostLink stands in for the
// hub: whether the host is online, and the jobs handed to it.
type hostLink struct {
	mu         sync.Mutex
	online     bool
	dispatched []string
}

func (h *hostLink) Online(string) bool { h.mu.Lock(); defer h.mu.Unlock(); return h.online }

func (h *hostLink) Dispatch(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dispatched = append(h.dispatched, id)
	return nil
}

type browseEnv struct {
	*env
	link    *hostLink
	browser *browse.Service
	admin   string
	snap    string
	repoID  string
}

// newBrowseEnv enrolls "jobhost", adds "jobrepo" and a snapshot of it
// made by jobhost.
func newBrowseEnv(t *testing.T) *browseEnv {
	t.Helper()
	link := &hostLink{}
	var b *browse.Service
	e := newEnvWith(t, func(o *Options) {
		o.Sealer = testKeyring(t)
		var err error
		b, err = browse.New(t.Context(), browse.Options{Store: o.Store.(*store.DB), Agents: link, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		o.Browse = b
	})
	t.Cleanup(b.Wait)
	be := &browseEnv{env: e, link: link, browser: b, admin: e.bootstrap(), snap: strings.Repeat("5a", 32)}
	jobSetup(e, be.admin)
	repo, err := e.db.GetRepository(t.Context(), "jobrepo")
	if err != nil {
		t.Fatal(err)
	}
	be.repoID = repo.ID
	hosts, _ := e.db.GetHostsByName(t.Context(), "jobhost")
	if err := e.db.UpsertSnapshots(t.Context(), "", []store.Snapshot{{RepositoryID: repo.ID, ID: be.snap, HostID: hosts[0].ID, Time: e.clock.Now(), Paths: []string{"/srv"}}}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return be
}

func nodeLine(p, typ string, size int) string {
	i := strings.LastIndex(p, "/")
	return fmt.Sprintf(`{"message_type":"node","name":%q,"type":%q,"path":%q,"uid":0,"gid":0,"size":%d,"mode":420,"mtime":"2026-11-20T10:00:00Z","struct_type":"node"}`,
		p[i+1:], typ, p, size)
}

func (be *browseEnv) tree(token, query string, status int) resp {
	be.t.Helper()
	return be.want(call{method: "GET", path: "/api/v1/hosts/jobhost/snapshots/" + be.snap[:8] + "/tree" + query, token: token}, status)
}

func TestSnapshotTreeListsOnceThenServesTheCache(t *testing.T) {
	t.Parallel()
	be := newBrowseEnv(t)
	viewer := be.user(be.admin, "victor", "viewer")

	// Offline with nothing cached: 409, and no job.
	if got := be.tree(viewer, "", http.StatusConflict).errCode(t); got != "host_offline" {
		t.Errorf("offline: %s", got)
	}
	be.link.mu.Lock()
	be.link.online = true
	be.link.mu.Unlock()

	var l listingJSON
	be.tree(viewer, "", http.StatusAccepted).decode(t, &l)
	if l.Status != "listing" || l.JobID == "" {
		t.Fatalf("first open: %+v", l)
	}
	j, err := be.db.GetJob(t.Context(), l.JobID)
	if err != nil || j.Kind != "ls" || j.CreatedBy != browse.CreatedBy || string(j.Params) != `{"snapshots":["`+be.snap+`"]}` {
		t.Fatalf("listing job %+v, %v", j, err)
	}
	waitFor(t, func() bool { be.link.mu.Lock(); defer be.link.mu.Unlock(); return len(be.link.dispatched) == 1 })

	// The hub hands the job's node lines over as they are stored.
	var lines []string
	lines = append(lines, nodeLine("/srv", "dir", 0))
	for i := range 5 {
		lines = append(lines, nodeLine(fmt.Sprintf("/srv/file%d.txt", i), "file", i+1))
	}
	lines = append(lines, nodeLine("/srv/sub", "dir", 0), nodeLine("/srv/sub/inner.log", "file", 7))
	if !be.browser.Tapped(l.JobID) {
		t.Fatal("the listing job is not tapped")
	}
	if err := be.browser.Nodes(t.Context(), l.JobID, lines[:4]); err != nil {
		t.Fatal(err)
	}
	be.tree(viewer, "", http.StatusAccepted).decode(t, &l)
	if l.EntriesSoFar != 4 {
		t.Errorf("entries so far %d, want 4", l.EntriesSoFar)
	}
	if err := be.browser.Nodes(t.Context(), l.JobID, lines[2:]); err != nil { // with a resent part
		t.Fatal(err)
	}
	if err := be.db.FinishJob(t.Context(), l.JobID, store.JobEnd{Status: store.JobSucceeded, At: be.clock.Now()}); err != nil {
		t.Fatal(err)
	}

	var root treeJSON
	be.tree(viewer, "", http.StatusOK).decode(t, &root)
	if root.Path != "/" || root.Total != 1 || len(root.Items) != 1 || root.Items[0].Path != "/srv" || root.Entries != 8 {
		t.Errorf("root %+v", root)
	}
	var page treeJSON
	be.tree(viewer, "?path=/srv&limit=2", http.StatusOK).decode(t, &page)
	if page.Total != 6 || len(page.Items) != 2 || page.Items[0].Name != "sub" || page.Items[0].Type != "dir" || page.NextCursor != "file0.txt" {
		t.Errorf("first page of /srv %+v", page)
	}
	be.tree(viewer, "?path=/srv&limit=2&after="+page.NextCursor, http.StatusOK).decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].Name != "file1.txt" || page.Items[0].Size != 2 || page.Items[0].MTime == nil {
		t.Errorf("second page of /srv %+v", page)
	}
	be.tree(viewer, "?path=/srv&limit=2&after=file4.txt", http.StatusOK).decode(t, &page)
	if len(page.Items) != 0 || page.NextCursor != "" {
		t.Errorf("past the end %+v", page)
	}
	be.link.mu.Lock()
	be.link.online = false // from the cache now, host or no host
	be.link.mu.Unlock()
	be.tree(viewer, "?path=/srv/sub/", http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Path != "/srv/sub/inner.log" {
		t.Errorf("/srv/sub %+v", page)
	}
	var hits searchJSON
	be.want(call{method: "GET", path: "/api/v1/hosts/jobhost/snapshots/" + be.snap + "/search?q=INNER", token: viewer}, http.StatusOK).decode(t, &hits)
	if len(hits.Items) != 1 || hits.Items[0].Path != "/srv/sub/inner.log" || hits.Truncated {
		t.Errorf("search INNER %+v", hits)
	}
	be.want(call{method: "GET", path: "/api/v1/hosts/jobhost/snapshots/" + be.snap + "/search?q=file&limit=2", token: viewer}, http.StatusOK).decode(t, &hits)
	if len(hits.Items) != 2 || !hits.Truncated {
		t.Errorf("bounded search %+v", hits)
	}
	be.link.mu.Lock()
	if len(be.link.dispatched) != 1 {
		t.Errorf("%d listing jobs, want 1", len(be.link.dispatched))
	}
	be.link.mu.Unlock()

	// One audit entry: the listing the viewer's first browse started.
	entries, err := be.db.ListAudit(t.Context(), store.AuditFilter{Action: "snapshot.listing", Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].ActorName != "victor" || entries[0].TargetID != be.snap || entries[0].Detail["job_id"] != l.JobID {
		t.Errorf("audit %+v, %v", entries, err)
	}
}

func TestSnapshotTreeRefusals(t *testing.T) {
	t.Parallel()
	be := newBrowseEnv(t)
	be.link.online = true
	long := strings.Repeat("a", browse.MaxPathLen+1)
	for name, tc := range map[string]struct {
		path   string
		status int
		code   string
	}{
		"unknown host":     {"/api/v1/hosts/nohost/snapshots/" + be.snap + "/tree", http.StatusNotFound, "not_found"},
		"unknown snapshot": {"/api/v1/hosts/jobhost/snapshots/deadbeef/tree", http.StatusNotFound, "not_found"},
		"relative path":    {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?path=srv", http.StatusBadRequest, "bad_path"},
		"dot dot":          {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?path=/srv/../etc", http.StatusBadRequest, "bad_path"},
		"control":          {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?path=" + url.QueryEscape("/a\nb"), http.StatusBadRequest, "bad_path"},
		"long path":        {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?path=/" + long, http.StatusBadRequest, "bad_path"},
		"limit zero":       {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?limit=0", http.StatusBadRequest, "bad_limit"},
		"limit big":        {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?limit=1001", http.StatusBadRequest, "bad_limit"},
		"limit word":       {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?limit=all", http.StatusBadRequest, "bad_limit"},
		"cursor path":      {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/tree?after=a/b", http.StatusBadRequest, "bad_cursor"},
		"no query":         {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/search", http.StatusBadRequest, "bad_query"},
		"long query":       {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/search?q=" + long[:201], http.StatusBadRequest, "bad_query"},
		"search limit":     {"/api/v1/hosts/jobhost/snapshots/" + be.snap + "/search?q=a&limit=5000", http.StatusBadRequest, "bad_limit"},
	} {
		t.Run(name, func(t *testing.T) {
			res := be.do(call{method: "GET", path: tc.path, token: be.admin})
			if res.status != tc.status || res.errCode(t) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.path, res.status, res.body, tc.status, tc.code)
			}
		})
	}
	be.link.mu.Lock()
	if len(be.link.dispatched) != 0 {
		t.Errorf("refused requests started %d listings", len(be.link.dispatched))
	}
	be.link.mu.Unlock()

	// A folder the snapshot lacks, and a file, are 404 once listed.
	var l listingJSON
	be.tree(be.admin, "", http.StatusAccepted).decode(t, &l)
	if err := be.browser.Nodes(t.Context(), l.JobID, []string{nodeLine("/srv", "dir", 0), nodeLine("/srv/f", "file", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := be.db.FinishJob(t.Context(), l.JobID, store.JobEnd{Status: store.JobSucceeded, At: be.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/nope", "/srv/f"} {
		if got := be.tree(be.admin, "?path="+p, http.StatusNotFound).errCode(t); got != "not_found" {
			t.Errorf("%s: %s", p, got)
		}
	}
}

func TestSnapshotTreeFailedListing(t *testing.T) {
	t.Parallel()
	be := newBrowseEnv(t)
	be.link.online = true
	var l listingJSON
	be.tree(be.admin, "", http.StatusAccepted).decode(t, &l)
	if err := be.db.FinishJob(t.Context(), l.JobID, store.JobEnd{Status: store.JobFailed, Error: "repository is locked", At: be.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	res := be.tree(be.admin, "", http.StatusBadGateway)
	if res.errCode(t) != "listing_failed" || !strings.Contains(string(res.body), "repository is locked") || res.header.Get("Retry-After") == "" {
		t.Errorf("failed listing: %s %v", res.body, res.header)
	}
	be.clock.Advance(2 * browse.DefaultRetryAfter)
	var again listingJSON
	be.tree(be.admin, "", http.StatusAccepted).decode(t, &again)
	if again.JobID == l.JobID || again.JobID == "" {
		t.Errorf("retry after the failure: %+v", again)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
