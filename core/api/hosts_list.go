package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// Host list limits.
const (
	maxHostSearch = 253 // a hostname's length
	maxHostOffset = 1_000_000
)

// hostSummaryJSON is what the host list and host.show add to a host: its
// last finished backup, its snapshot count and the size of the repository
// of that backup (null until a stats run records it).
type hostSummaryJSON struct {
	LastBackup     *lastBackupJSON `json:"last_backup"`
	SnapshotCount  int             `json:"snapshot_count"`
	RepositorySize *int64          `json:"repository_size"`
}

// lastBackupJSON is a host's last finished backup job.
type lastBackupJSON struct {
	JobID           string     `json:"job_id"`
	Status          string     `json:"status"`
	Repository      string     `json:"repository"`
	RepositoryID    string     `json:"repository_id"`
	StartedAt       *time.Time `json:"started_at"`
	FinishedAt      time.Time  `json:"finished_at"`
	DurationSeconds *float64   `json:"duration_seconds"`
}

// hostWithSummaryJSON is a host object with its summary fields.
type hostWithSummaryJSON struct {
	hostJSON
	hostSummaryJSON
}

func (n *names) hostWithSummary(h store.Host) hostWithSummaryJSON {
	out := hostWithSummaryJSON{hostJSON: toHostJSON(h)}
	if h.Summary == nil {
		return out
	}
	out.SnapshotCount, out.RepositorySize = h.Summary.SnapshotCount, h.Summary.RepositorySize
	if b := h.Summary.LastBackup; b != nil {
		out.LastBackup = &lastBackupJSON{
			JobID: b.JobID, Status: b.Status, Repository: n.repo(b.RepositoryID), RepositoryID: b.RepositoryID,
			StartedAt: b.StartedAt, FinishedAt: b.FinishedAt,
		}
		if b.StartedAt != nil {
			d := b.Duration().Seconds()
			out.LastBackup.DurationSeconds = &d
		}
	}
	return out
}

// hostListJSON is a page of hosts; total counts every host the filters
// match, over all pages.
type hostListJSON struct {
	Items      []hostWithSummaryJSON `json:"items"`
	NextCursor string                `json:"next_cursor"`
	Total      int                   `json:"total"`
}

// hostFilter reads the host list's query: status, name (exact), search (a
// part of the name), sort, order and offset; limit and cursor are page's.
func hostFilter(r *http.Request, limit int, cursor string) (store.HostFilter, error) {
	q := r.URL.Query()
	f := store.HostFilter{
		Status: q.Get("status"), Name: q.Get("name"), Search: strings.TrimSpace(q.Get("search")),
		Sort: q.Get("sort"), After: cursor, Limit: limit + 1,
	}
	switch f.Status {
	case "", store.HostOnline, store.HostOffline, store.HostRevoked:
	default:
		return f, errorf(http.StatusBadRequest, "bad_request", "status must be online, offline or revoked")
	}
	if len(f.Search) > maxHostSearch {
		return f, errorf(http.StatusBadRequest, "bad_request", "search is longer than %d characters", maxHostSearch)
	}
	switch f.Sort {
	case "", store.HostSortName, store.HostSortStatus, store.HostSortLastSeen, store.HostSortLastBackup:
	default:
		return f, errorf(http.StatusBadRequest, "bad_sort", "sort must be name, status, last_seen or last_backup")
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return f, errorf(http.StatusBadRequest, "bad_order", "order must be asc or desc")
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxHostOffset {
			return f, errorf(http.StatusBadRequest, "bad_request", "offset must be a number from 0 to %d", maxHostOffset)
		}
		if cursor != "" {
			return f, errorf(http.StatusBadRequest, "bad_request", "give cursor or offset, not both")
		}
		f.Offset = n
	}
	return f, nil
}

// listHosts lists one page of hosts with their summaries and the count of
// all hosts that match.
func (a *API) listHosts(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	f, err := hostFilter(r, limit, cursor)
	if err != nil {
		return err
	}
	hosts, err := a.store.ListHosts(r.Context(), f)
	if err != nil {
		return err
	}
	total, err := a.store.CountHosts(r.Context(), f)
	if err != nil {
		return err
	}
	out := hostListJSON{Items: make([]hostWithSummaryJSON, 0, min(len(hosts), limit)), Total: total}
	if len(hosts) > limit {
		hosts = hosts[:limit]
		out.NextCursor = encodeCursor(hosts[limit-1].ID)
	}
	n := a.newNames(r.Context())
	for _, h := range hosts {
		out.Items = append(out.Items, n.hostWithSummary(h))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) showHost(w http.ResponseWriter, r *http.Request) error {
	h, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	if h, err = a.store.GetHostWithSummary(r.Context(), h.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.newNames(r.Context()).hostWithSummary(h))
	return nil
}
