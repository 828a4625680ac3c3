package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/browse"
	"github.com/restic-manager/restic-manager/core/store"
)

// Browser is the snapshot browser's cache (core/browse).
type Browser interface {
	Snapshot(ctx context.Context, hostID, ref string) (store.Snapshot, error)
	Open(ctx context.Context, snap store.Snapshot, hostID string) (store.SnapshotListing, bool, error)
	Folder(ctx context.Context, l store.SnapshotListing, dir, after string, limit int) (browse.Page, error)
	Search(ctx context.Context, l store.SnapshotListing, q string, limit int) ([]store.SnapshotNode, bool, error)
}

// snapshotTreeRoutes are the snapshot browser: a snapshot's folders and a
// search of its paths, from the server's listing cache. Viewers may
// browse: they see the snapshots already, and the listing job the first
// request starts is the server's own read-only `restic ls`, one per
// snapshot at a time, audited as snapshot.listing under the caller's name.
func (a *API) snapshotTreeRoutes() []route {
	return []route{
		{name: "snapshot.tree", method: http.MethodGet, path: "/api/v1/hosts/{id}/snapshots/{snap}/tree", access: viewer, handle: a.snapshotTree},
		{name: "snapshot.search", method: http.MethodGet, path: "/api/v1/hosts/{id}/snapshots/{snap}/search", access: viewer, handle: a.snapshotSearch},
	}
}

// treeEntryJSON is one entry of a snapshot folder.
type treeEntryJSON struct {
	Name  string     `json:"name"`
	Path  string     `json:"path"`
	Type  string     `json:"type"`
	Size  int64      `json:"size"`
	MTime *time.Time `json:"mtime"`
	Mode  uint32     `json:"mode"`
}

func treeEntry(n store.SnapshotNode) treeEntryJSON {
	e := treeEntryJSON{Name: n.Name, Path: n.Path(), Type: n.Type, Size: n.Size, Mode: n.Mode}
	if !n.MTime.IsZero() {
		t := n.MTime
		e.MTime = &t
	}
	return e
}

// snapshotRefJSON names the snapshot a tree or search answer is of.
type snapshotRefJSON struct {
	ID           string    `json:"id"`
	ShortID      string    `json:"short_id"`
	Time         time.Time `json:"time"`
	Paths        []string  `json:"paths"`
	Hostname     string    `json:"hostname"`
	RepositoryID string    `json:"repository_id"`
}

func snapshotRef(s store.Snapshot) snapshotRefJSON {
	return snapshotRefJSON{ID: s.ID, ShortID: s.ShortID, Time: s.Time, Paths: nonNilStrings(s.Paths), Hostname: s.Hostname, RepositoryID: s.RepositoryID}
}

// listingJSON is the 202 answer while the snapshot is being listed.
type listingJSON struct {
	Status       string          `json:"status"`
	JobID        string          `json:"job_id"`
	EntriesSoFar int64           `json:"entries_so_far"`
	Snapshot     snapshotRefJSON `json:"snapshot"`
}

type treeJSON struct {
	Status     string          `json:"status"`
	Snapshot   snapshotRefJSON `json:"snapshot"`
	SnapshotID string          `json:"snapshot_id"`
	Path       string          `json:"path"`
	Items      []treeEntryJSON `json:"items"`
	NextCursor string          `json:"next_cursor"`
	Total      int64           `json:"total"`
	Entries    int64           `json:"entries"`
}

type searchJSON struct {
	Status     string          `json:"status"`
	Snapshot   snapshotRefJSON `json:"snapshot"`
	SnapshotID string          `json:"snapshot_id"`
	Query      string          `json:"query"`
	Items      []treeEntryJSON `json:"items"`
	Truncated  bool            `json:"truncated"`
}

// listing resolves {id} and {snap} and returns the snapshot's complete
// listing; ok is false when the answer (202 while listing) is written.
func (a *API) listing(w http.ResponseWriter, r *http.Request) (store.SnapshotListing, store.Snapshot, bool, error) {
	if a.opts.Browse == nil {
		return store.SnapshotListing{}, store.Snapshot{}, false, errorf(http.StatusNotImplemented, "not_implemented", "the snapshot browser is not running on this server")
	}
	host, err := a.lookupHost(r)
	if err != nil {
		return store.SnapshotListing{}, store.Snapshot{}, false, err
	}
	ref := mux.Vars(r)["snap"]
	snap, err := a.opts.Browse.Snapshot(r.Context(), host.ID, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.SnapshotListing{}, store.Snapshot{}, false, errorf(http.StatusNotFound, "not_found", "host %q has no snapshot %q", host.Name, truncateText(ref, 64))
	case errors.Is(err, store.ErrConflict):
		return store.SnapshotListing{}, store.Snapshot{}, false, errorf(http.StatusConflict, "ambiguous", "%q names more than one snapshot of host %q; use the full id", truncateText(ref, 64), host.Name)
	case err != nil:
		return store.SnapshotListing{}, store.Snapshot{}, false, err
	}
	setTarget(r, "snapshot", snap.ID)
	l, started, err := a.opts.Browse.Open(r.Context(), snap, host.ID)
	switch {
	case errors.Is(err, browse.ErrHostOffline):
		return l, snap, false, errorf(http.StatusConflict, "host_offline", "host %q is offline and snapshot %s is not cached yet; the listing starts when you open it while the host is online", host.Name, snap.ShortID)
	case errors.Is(err, browse.ErrListingFailed):
		return l, snap, false, &Error{Status: http.StatusBadGateway, Code: "listing_failed", Message: err.Error(), RetryAfter: int(browse.DefaultRetryAfter / time.Second)}
	case err != nil:
		return l, snap, false, err
	}
	if started {
		a.auditListing(r, snap, host, l)
	}
	if l.Status == store.ListingRunning {
		writeJSON(w, http.StatusAccepted, listingJSON{Status: store.ListingRunning, JobID: l.JobID, EntriesSoFar: l.Entries, Snapshot: snapshotRef(snap)})
		return l, snap, false, nil
	}
	return l, snap, true, nil
}

// auditListing records that the request started a listing job: a GET that
// makes the server run restic on a host.
func (a *API) auditListing(r *http.Request, snap store.Snapshot, host store.Host, l store.SnapshotListing) {
	st := *state(r)
	st.route.name = "snapshot.listing"
	st.status = http.StatusAccepted
	st.targetKind, st.targetID = "snapshot", snap.ID
	st.detail = map[string]any{"host_id": host.ID, "repository_id": snap.RepositoryID, "job_id": l.JobID}
	a.audit(r, &st)
}

// queryLimit reads ?limit: def when absent, 1..maxN otherwise.
func queryLimit(r *http.Request, def, maxN int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxN {
		return 0, errorf(http.StatusBadRequest, "bad_limit", "limit must be a number from 1 to %d", maxN)
	}
	return n, nil
}

// snapshotTree answers one page of a folder of the snapshot: folders
// first, then everything else, each by name in byte order. ?after=NAME
// continues after the entry NAME (the next_cursor of the previous page).
func (a *API) snapshotTree(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	dir, err := browse.CleanPath(q.Get("path"))
	if err != nil {
		return errorf(http.StatusBadRequest, "bad_path", "path: %v", err)
	}
	limit, err := queryLimit(r, browse.DefaultPageSize, browse.MaxPageSize)
	if err != nil {
		return err
	}
	after := q.Get("after")
	if len(after) > browse.MaxPathLen || strings.Contains(after, "/") {
		return errorf(http.StatusBadRequest, "bad_cursor", "after must be an entry name (the next_cursor of the previous page)")
	}
	l, snap, ok, err := a.listing(w, r)
	if err != nil || !ok {
		return err
	}
	p, err := a.opts.Browse.Folder(r.Context(), l, dir, after, limit)
	if errors.Is(err, browse.ErrNotFolder) {
		return errorf(http.StatusNotFound, "not_found", "snapshot has no folder %q", truncateText(dir, 200))
	}
	if err != nil {
		return err
	}
	out := treeJSON{
		Status: store.ListingComplete, Snapshot: snapshotRef(snap), SnapshotID: l.SnapshotID, Path: p.Path, Items: make([]treeEntryJSON, 0, len(p.Entries)),
		NextCursor: p.Next, Total: p.Total, Entries: l.Entries,
	}
	for _, n := range p.Entries {
		out.Items = append(out.Items, treeEntry(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// snapshotSearch answers the entries whose path contains ?q (ASCII case
// ignored), at most ?limit of them (default 100, at most 1000).
func (a *API) snapshotSearch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("q")
	switch {
	case strings.TrimSpace(q) == "":
		return errorf(http.StatusBadRequest, "bad_query", "q is required: text to find in the snapshot's paths")
	case len(q) > browse.MaxQueryLen:
		return errorf(http.StatusBadRequest, "bad_query", "q is longer than %d bytes", browse.MaxQueryLen)
	case strings.ContainsFunc(q, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errorf(http.StatusBadRequest, "bad_query", "q may not hold control characters")
	}
	limit, err := queryLimit(r, browse.DefaultHits, browse.MaxHits)
	if err != nil {
		return err
	}
	l, snap, ok, err := a.listing(w, r)
	if err != nil || !ok {
		return err
	}
	nodes, more, err := a.opts.Browse.Search(r.Context(), l, q, limit)
	if err != nil {
		return err
	}
	out := searchJSON{Status: store.ListingComplete, Snapshot: snapshotRef(snap), SnapshotID: l.SnapshotID, Query: q, Items: make([]treeEntryJSON, 0, len(nodes)), Truncated: more}
	for _, n := range nodes {
		out.Items = append(out.Items, treeEntry(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
