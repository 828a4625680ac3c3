package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// snapshotRoutes are the snapshot projection.
func (a *API) snapshotRoutes() []route {
	return []route{
		{name: "snapshot.list", method: http.MethodGet, path: "/api/v1/hosts/{id}/snapshots", access: viewer, handle: a.listSnapshots},
	}
}

// snapshotJSON is a snapshot as the API shows it. repository is the
// repository's name; size is restic's total_bytes_processed when the
// snapshot carries a summary (restic 0.17 and later).
type snapshotJSON struct {
	ID             string          `json:"id"`
	ShortID        string          `json:"short_id"`
	Time           time.Time       `json:"time"`
	Paths          []string        `json:"paths"`
	Tags           []string        `json:"tags"`
	Hostname       string          `json:"hostname"`
	Username       string          `json:"username"`
	Repository     string          `json:"repository"`
	RepositoryID   string          `json:"repository_id"`
	HostID         string          `json:"host_id"`
	Parent         string          `json:"parent"`
	Tree           string          `json:"tree"`
	ProgramVersion string          `json:"program_version"`
	JobID          string          `json:"job_id"`
	Size           *uint64         `json:"size"`
	Summary        json.RawMessage `json:"summary"`
}

func (n *names) snapshot(s store.Snapshot) snapshotJSON {
	out := snapshotJSON{
		ID: s.ID, ShortID: s.ShortID, Time: s.Time, Paths: nonNilStrings(s.Paths), Tags: nonNilStrings(s.Tags),
		Hostname: s.Hostname, Username: s.Username, Repository: n.repo(s.RepositoryID), RepositoryID: s.RepositoryID,
		HostID: s.HostID, Parent: s.Parent, Tree: s.Tree, ProgramVersion: s.ProgramVersion, JobID: s.JobID, Summary: s.Summary,
	}
	if len(s.Summary) > 0 {
		var sum struct {
			TotalBytesProcessed *uint64 `json:"total_bytes_processed"`
		}
		if json.Unmarshal(s.Summary, &sum) == nil {
			out.Size = sum.TotalBytesProcessed
		}
	}
	return out
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// listSnapshots lists the snapshots the projection has for a host, newest
// first, optionally of one repository (?repository=ID or name).
func (a *API) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	host, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	f := store.SnapshotFilter{HostID: host.ID, After: cursor, Limit: limit + 1}
	if ref := r.URL.Query().Get("repository"); ref != "" {
		repo, err := a.store.GetRepository(r.Context(), ref)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "not_found", "no repository %q", truncateText(ref, 100))
		}
		if err != nil {
			return err
		}
		f.RepositoryID = repo.ID
	}
	snaps, err := a.store.ListSnapshots(r.Context(), f)
	if err != nil {
		return err
	}
	writePage(w, snaps, limit, func(s store.Snapshot) string { return s.RepositoryID + "/" + s.ID }, a.newNames(r.Context()).snapshot)
	return nil
}
