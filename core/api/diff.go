package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// Limits and timing of the diff endpoint.
const (
	defaultDiffPage = 200
	maxDiffPage     = 1000
	// diffDeadline is a diff job's queue deadline.
	diffDeadline = time.Hour
	// diffRetryAfter is how long a failed diff is reported before the next
	// request starts a new one.
	diffRetryAfter = time.Minute
	// diffDispatchWait bounds the wait for the agent to take a new diff job.
	diffDispatchWait = 10 * time.Second
	// diffScanRows is how many job log rows a diff reads at a time.
	diffScanRows = 500
)

// changeLinePrefix starts every change line of `restic diff` as the restic
// backend writes it (plugins/backend-restic/backend/events.go).
const changeLinePrefix = `{"message_type":"change"`

// DiffStore is what the diff endpoint needs of the store beyond jobs.
type DiffStore interface {
	FindHostSnapshot(ctx context.Context, hostID, ref string) (store.Snapshot, error)
	FindDiffJob(ctx context.Context, hostID, repositoryID string, params json.RawMessage) (store.Job, error)
	StartDiffJob(ctx context.Context, j store.Job) (store.Job, bool, error)
}

// diffRoutes are the comparison of two snapshots of a host. Viewers may
// compare: they see the snapshots already, snapshots never change, and the
// diff job the first request starts only reads the repository (one per
// pair of snapshots; later requests reuse its result). Starting one is
// audited as diff.start under the caller's name.
func (a *API) diffRoutes() []route {
	return []route{
		{name: "snapshot.diff", method: http.MethodGet, path: "/api/v1/hosts/{id}/diff", access: viewer, handle: a.snapshotDiff},
	}
}

// diffKinds are the kinds of change, as ?filter and counts name them.
var diffKinds = []string{"added", "removed", "modified", "type_changed", "metadata_changed", "bitrot"}

// changeKind names restic's modifier: "+" added, "-" removed, and of the
// letters restic combines for a path in both snapshots T (type), M
// (content), ? (bitrot: content changed, metadata not) and U (metadata),
// the first that applies in that order.
func changeKind(modifier string) string {
	switch {
	case modifier == "+":
		return "added"
	case modifier == "-":
		return "removed"
	case strings.Contains(modifier, "T"):
		return "type_changed"
	case strings.Contains(modifier, "M"):
		return "modified"
	case strings.Contains(modifier, "?"):
		return "bitrot"
	case strings.Contains(modifier, "U"):
		return "metadata_changed"
	}
	return "other"
}

// diffCountsJSON counts a diff's changes by kind.
type diffCountsJSON struct {
	Added           int64 `json:"added"`
	Removed         int64 `json:"removed"`
	Modified        int64 `json:"modified"`
	TypeChanged     int64 `json:"type_changed"`
	MetadataChanged int64 `json:"metadata_changed"`
	Bitrot          int64 `json:"bitrot"`
	Other           int64 `json:"other"`
	Total           int64 `json:"total"`
}

func (c *diffCountsJSON) add(kind string) {
	switch kind {
	case "added":
		c.Added++
	case "removed":
		c.Removed++
	case "modified":
		c.Modified++
	case "type_changed":
		c.TypeChanged++
	case "metadata_changed":
		c.MetadataChanged++
	case "bitrot":
		c.Bitrot++
	default:
		c.Other++
	}
	c.Total++
}

// changeJSON is one changed path.
type changeJSON struct {
	Path     string `json:"path"`
	Modifier string `json:"modifier"`
	Change   string `json:"change"`
}

// diffJSON is a finished diff. changes is one page (of ?filter's kind);
// next continues it as ?after.
type diffJSON struct {
	Status  string          `json:"status"`
	JobID   string          `json:"job_id"`
	From    snapshotJSON    `json:"from"`
	To      snapshotJSON    `json:"to"`
	Counts  diffCountsJSON  `json:"counts"`
	Stats   json.RawMessage `json:"stats"`
	Filter  string          `json:"filter"`
	Changes []changeJSON    `json:"changes"`
	Next    string          `json:"next"`
}

// diffRunningJSON is the 202 answer while the diff job runs.
type diffRunningJSON struct {
	Status    string `json:"status"`
	JobID     string `json:"job_id"`
	JobStatus string `json:"job_status"`
}

// diffCursor is a position in a diff job's log: after line Line (0-based)
// of the event Seq. Line -1 is after the whole event.
type diffCursor struct {
	Seq  int64
	Line int
}

func (c diffCursor) String() string { return strconv.FormatInt(c.Seq, 10) + "." + strconv.Itoa(c.Line) }

// parseDiffCursor reads ?after: "" (the start), SEQ (after event SEQ) or
// SEQ.LINE (the next of a previous page).
func parseDiffCursor(s string) (diffCursor, error) {
	bad := errorf(http.StatusBadRequest, "bad_cursor", "after must be the next of a previous page (SEQ or SEQ.LINE)")
	if s == "" {
		return diffCursor{Line: -1}, nil
	}
	seqText, lineText, dotted := strings.Cut(s, ".")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 0 {
		return diffCursor{}, bad
	}
	c := diffCursor{Seq: seq, Line: -1}
	if dotted {
		if c.Line, err = strconv.Atoi(lineText); err != nil || c.Line < 0 {
			return diffCursor{}, bad
		}
	}
	return c, nil
}

// diffSnapshot resolves the query parameter field (from or to) to a
// snapshot of host.
func (a *API) diffSnapshot(r *http.Request, host store.Host, field string) (store.Snapshot, error) {
	ref := r.URL.Query().Get(field)
	switch {
	case strings.TrimSpace(ref) == "":
		return store.Snapshot{}, errorf(http.StatusBadRequest, "bad_snapshot", "%s is required: a snapshot id (full or short) of host %q", field, host.Name)
	case len(ref) > 64 || strings.ContainsFunc(ref, func(c rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", c) }):
		return store.Snapshot{}, errorf(http.StatusBadRequest, "bad_snapshot", "%s: %q is not a snapshot id (hexadecimal, full or short)", field, truncateText(ref, 64))
	}
	s, err := a.store.FindHostSnapshot(r.Context(), host.ID, strings.ToLower(ref))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s, errorf(http.StatusNotFound, "not_found", "%s: host %q has no snapshot %q", field, host.Name, ref)
	case errors.Is(err, store.ErrConflict):
		return s, errorf(http.StatusConflict, "ambiguous", "%s: %q names more than one snapshot of host %q; use the full id", field, ref, host.Name)
	}
	return s, err
}

// snapshotDiff compares ?from with ?to, two snapshots of host {id} in one
// repository. The first request starts a diff job and answers 202 with its
// id; once the job has succeeded every request answers 200 from its log:
// the counts of every kind of change, restic's statistics and one page of
// changes (?filter one kind, ?limit, ?after the previous page's next).
func (a *API) snapshotDiff(w http.ResponseWriter, r *http.Request) error {
	host, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	filter := q.Get("filter")
	if filter != "" && !slices.Contains(diffKinds, filter) {
		return errorf(http.StatusBadRequest, "bad_filter", "filter %q: want one of %s", truncateText(filter, 40), strings.Join(diffKinds, ", "))
	}
	limit, err := queryLimit(r, defaultDiffPage, maxDiffPage)
	if err != nil {
		return err
	}
	after, err := parseDiffCursor(q.Get("after"))
	if err != nil {
		return err
	}
	from, err := a.diffSnapshot(r, host, "from")
	if err != nil {
		return err
	}
	to, err := a.diffSnapshot(r, host, "to")
	if err != nil {
		return err
	}
	switch {
	case from.ID == to.ID:
		return errorf(http.StatusBadRequest, "bad_snapshot", "from and to are the same snapshot %s; pick two", from.ShortID)
	case from.RepositoryID != to.RepositoryID:
		return errorf(http.StatusBadRequest, "bad_snapshot", "from (%s) and to (%s) are in different repositories; restic compares snapshots of one repository", from.ShortID, to.ShortID)
	}
	params, err := json.Marshal(struct {
		Snapshots []string `json:"snapshots"`
	}{[]string{from.ID, to.ID}})
	if err != nil {
		return err
	}
	j, err := a.diffJob(w, r, host, from, params)
	if err != nil || j.ID == "" {
		return err
	}
	out := diffJSON{
		Status: "complete", JobID: j.ID, Filter: filter, Stats: j.Summary, Changes: []changeJSON{},
	}
	n := a.newNames(r.Context())
	out.From, out.To = n.snapshot(from), n.snapshot(to)
	if len(out.Stats) == 0 {
		out.Stats = json.RawMessage("null")
	}
	if err := a.readDiff(r.Context(), j.ID, filter, after, limit, &out); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// diffJob returns the succeeded diff job of the pair. When there is none
// it answers itself (202 while one runs, having started it if needed; 502
// for a recent failure) and returns a zero job.
func (a *API) diffJob(w http.ResponseWriter, r *http.Request, host store.Host, from store.Snapshot, params json.RawMessage) (store.Job, error) {
	ctx := r.Context()
	j, err := a.store.FindDiffJob(ctx, host.ID, from.RepositoryID, params)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return store.Job{}, err
	case j.Status == store.JobSucceeded:
		setTarget(r, "job", j.ID)
		return j, nil
	case !store.Terminal(j.Status):
		writeJSON(w, http.StatusAccepted, diffRunningJSON{Status: "running", JobID: j.ID, JobStatus: j.Status})
		return store.Job{}, nil
	case j.FinishedAt != nil && a.now().Sub(*j.FinishedAt) < diffRetryAfter:
		reason := j.Error
		if reason == "" {
			reason = "the job " + j.Status
		}
		return store.Job{}, &Error{
			Status: http.StatusBadGateway, Code: "diff_failed",
			Message:    fmt.Sprintf("the diff job %s failed: %s; a request after %s starts a new one", j.ID, reason, diffRetryAfter),
			RetryAfter: int(diffRetryAfter / time.Second),
		}
	}
	switch host.Status {
	case store.HostRevoked:
		return store.Job{}, errorf(http.StatusConflict, "host_revoked", "host %q was removed; its snapshots cannot be compared", host.Name)
	case store.HostOnline:
	default:
		return store.Job{}, errorf(http.StatusConflict, "host_offline", "host %q is offline and these snapshots were not compared yet; the diff runs on the host's agent, try again when it is online", host.Name)
	}
	now := a.now()
	deadline := now.Add(diffDeadline)
	j, started, err := a.store.StartDiffJob(ctx, store.Job{
		ID: auth.NewID(), HostID: host.ID, Kind: store.KindDiff, Status: store.JobQueued, RepositoryID: from.RepositoryID,
		Params: params, CreatedBy: state(r).who.user.ID, CreatedAt: now, DeadlineAt: &deadline,
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("start diff job: %w", err)
	}
	if started {
		a.auditDiffStart(r, host, j)
		if a.opts.Agents != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diffDispatchWait)
			defer cancel()
			if err := a.opts.Agents.Dispatch(dctx, j.ID); err != nil {
				a.logger.Debug("diff job stays queued", "job_id", j.ID, "error", err)
			}
			if cur, err := a.store.GetJob(ctx, j.ID); err == nil {
				j = cur
			}
		}
	}
	if j.Status == store.JobSucceeded {
		setTarget(r, "job", j.ID)
		return j, nil
	}
	writeJSON(w, http.StatusAccepted, diffRunningJSON{Status: "running", JobID: j.ID, JobStatus: j.Status})
	return store.Job{}, nil
}

// auditDiffStart records that the request started a diff job: a GET that
// makes the server run restic on a host.
func (a *API) auditDiffStart(r *http.Request, host store.Host, j store.Job) {
	st := *state(r)
	st.route.name = "diff.start"
	st.status = http.StatusAccepted
	st.targetKind, st.targetID = "job", j.ID
	st.detail = map[string]any{"host_id": host.ID, "repository_id": j.RepositoryID, "params": j.Params}
	a.audit(r, &st)
}

// diffCountStore keeps a diff job's counts once they were counted
// (core/store diff_counts.go).
type diffCountStore interface {
	DiffCounts(ctx context.Context, jobID string) (json.RawMessage, error)
	SaveDiffCounts(ctx context.Context, jobID string, counts json.RawMessage) error
}

// readDiff reads a diff job's change lines and keeps the page after the
// cursor (of kind filter, if given) in out. The counts of every kind come
// from the store once the first read after the job's end counted them
// all and saved them; then a page reads only as far as it shows. A job
// whose counts were never saved (the first read, or a job from before
// they were kept) is counted from its whole log.
func (a *API) readDiff(ctx context.Context, jobID, filter string, after diffCursor, limit int, out *diffJSON) error {
	cs, _ := a.store.(diffCountStore)
	known := false
	if cs != nil {
		if raw, err := cs.DiffCounts(ctx, jobID); err == nil && json.Unmarshal(raw, &out.Counts) == nil {
			known = true
		}
	}
	var seq int64
	var cursors []diffCursor
	full := func() bool { return known && len(out.Changes) > limit }
	for !full() {
		rows, err := a.store.JobLogs(ctx, jobID, seq, diffScanRows)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if full() {
				break
			}
			if row.Type != "log" || row.Stream != "stdout" || !strings.Contains(row.Line, changeLinePrefix) {
				continue
			}
			for i, line := range strings.Split(row.Line, "\n") {
				if !strings.HasPrefix(line, changeLinePrefix) {
					continue
				}
				var c changeJSON
				if err := json.Unmarshal([]byte(line), &c); err != nil || c.Path == "" {
					continue
				}
				c.Change = changeKind(c.Modifier)
				if !known {
					out.Counts.add(c.Change)
				}
				past := row.Seq > after.Seq || (row.Seq == after.Seq && after.Line >= 0 && i > after.Line)
				if !past || (filter != "" && c.Change != filter) {
					continue
				}
				if len(out.Changes) <= limit {
					out.Changes = append(out.Changes, c)
					cursors = append(cursors, diffCursor{Seq: row.Seq, Line: i})
				}
			}
		}
		if len(rows) < diffScanRows {
			break
		}
		seq = rows[len(rows)-1].Seq
	}
	if len(out.Changes) > limit {
		out.Changes = out.Changes[:limit]
		out.Next = cursors[limit-1].String()
	}
	if !known && cs != nil {
		if raw, err := json.Marshal(out.Counts); err == nil {
			if err := cs.SaveDiffCounts(context.WithoutCancel(ctx), jobID, raw); err != nil {
				a.logger.Warn("saving a diff's counts failed; they are counted again next time", "job_id", jobID, "error", err)
			}
		}
	}
	return nil
}
