package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// repositoryStats are the repository panel's figures as the repository API
// reports them, recorded by the last stats and check jobs. Each is nil
// until measured (or while the API does not report it).
type repositoryStats struct {
	TotalSize       *int64     `json:"total_size"`
	RawSize         *int64     `json:"raw_size"`
	SnapshotCount   *int64     `json:"snapshot_count"`
	LastCheckAt     *time.Time `json:"last_check_at"`
	LastCheckStatus *string    `json:"last_check_status"`
	Locked          *bool      `json:"locked"`
	StatsUpdatedAt  *time.Time `json:"stats_updated_at"`
}

// TotalText is what restoring every snapshot would write.
func (s repositoryStats) TotalText() string { return sizeOrDash(s.TotalSize) }

// RawText is what the repository stores, after deduplication and
// compression.
func (s repositoryStats) RawText() string { return sizeOrDash(s.RawSize) }

// Ratio is the total size over the stored size ("3.2×"): what
// deduplication and compression save together; "" when not measured.
func (s repositoryStats) Ratio() string {
	if s.TotalSize == nil || s.RawSize == nil || *s.RawSize <= 0 || *s.TotalSize < 0 {
		return ""
	}
	return fmt.Sprintf("%.1f×", float64(*s.TotalSize)/float64(*s.RawSize))
}

// Measured says whether a stats job has recorded figures.
func (s repositoryStats) Measured() bool {
	return s.TotalSize != nil || s.RawSize != nil || s.StatsUpdatedAt != nil
}

// LockWord is the lock state in words; "" when unknown.
func (s repositoryStats) LockWord() string {
	switch {
	case s.Locked == nil:
		return ""
	case *s.Locked:
		return "locked"
	}
	return "not locked"
}

func sizeOrDash(n *int64) string {
	if n == nil || *n < 0 {
		return "—"
	}
	return sizeIEC(uint64(*n))
}

// statsHosts fills each repository's Hosts: those whose schedules or last
// backup use it, else every host not revoked.
func (u *UI) statsHosts(r *http.Request, c *api.Caller, items []repositoryItem) error {
	hosts, err := allItems[hostItem](u, r, c, "/api/v1/hosts")
	if err != nil {
		return err
	}
	scheds, err := allItems[scheduleItem](u, r, c, "/api/v1/schedules")
	if err != nil {
		return err
	}
	for i := range items {
		repo := &items[i]
		var all []hostItem
		for _, h := range hosts {
			if h.Status == "revoked" {
				continue
			}
			all = append(all, h)
			uses := h.LastBackup != nil && h.LastBackup.RepositoryID == repo.ID
			uses = uses || slices.ContainsFunc(scheds, func(s scheduleItem) bool {
				return s.RepositoryID == repo.ID &&
					(s.HostID != nil && *s.HostID == h.ID || s.HostTag != nil && slices.Contains(h.Tags, *s.HostTag))
			})
			if uses {
				repo.Hosts = append(repo.Hosts, h)
			}
		}
		repo.HostsUse = len(repo.Hosts) > 0
		if !repo.HostsUse {
			repo.Hosts = all
		}
	}
	return nil
}

// repositoryStats runs a stats job in the repository mode through the
// chosen host and opens it; the job's result updates the panel.
func (u *UI) repositoryStats(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	id := mux.Vars(r)["id"]
	host := strings.TrimSpace(r.PostFormValue("host"))
	if host == "" {
		u.back(w, r, "/repositories", formError("Host: choose the host that measures the repository."), "")
		return
	}
	body := map[string]any{"kind": "stats", "repository": id, "params": map[string]any{"extra": map[string]any{"mode": "repository"}}}
	var job struct {
		ID string `json:"id"`
	}
	if err := u.call(r, c, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(host)+"/jobs", body, &job); err != nil {
		u.back(w, r, "/repositories", err, "")
		return
	}
	u.back(w, r, "/jobs/"+url.PathEscape(job.ID), nil, "Statistics started; the repository panel shows them when the job ends.")
}
