package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/browse"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
)

// Download limits and timings.
const (
	// defaultDownloadLimit is Options.DownloadLimit's default, 4 GiB (the
	// server config's download_limit_mib).
	defaultDownloadLimit = 4 << 30
	// dumpDeadline is the agent's deadline for a dump job: a download
	// that takes longer is cut.
	dumpDeadline = 12 * time.Hour
	// dumpDispatchWait bounds the wait for the agent to accept the job.
	dumpDispatchWait = 30 * time.Second
	// KindDump is the job kind of a download (restic dump).
	KindDump = "dump"
)

// Downloader is what a download needs of the agent hub besides Agents:
// the live route of a job's raw output (core/hub's DataStream).
type Downloader interface {
	Online(hostID string) bool
	OpenData(hostID, jobID string) (*hub.DataStream, error)
}

// dumpIndex is what a download needs of the listing cache's store: the
// entry at a path and the size of a folder.
type dumpIndex interface {
	GetSnapshotNode(ctx context.Context, listingID int64, parent, name string) (store.SnapshotNode, error)
	SnapshotTreeSize(ctx context.Context, listingID int64, dir string) (size, entries int64, err error)
}

// dumpRoutes are downloads from a snapshot. A download hands out file
// contents, which viewers do not get: viewers see snapshot metadata (names,
// sizes, times) only, so downloading is operator+, like restore. Each
// download is audited as snapshot.dump with its host, snapshot and path.
func (a *API) dumpRoutes() []route {
	return []route{
		{name: "snapshot.dump", method: http.MethodGet, path: "/api/v1/hosts/{id}/snapshots/{snap}/dump", access: operator, handle: a.snapshotDump},
	}
}

// dumpArchiveTypes are a folder's archive formats and their media types.
var dumpArchiveTypes = map[string]string{"zip": "application/zip", "tar": "application/x-tar"}

// snapshotDump streams a file of a snapshot, or a folder as a zip or tar
// archive, from the host's agent (restic dump) straight to the client:
// nothing is stored on the server and at most a few hundred KiB are held
// in memory. The entry's type and size come from the snapshot's listing
// (the browser's cache), so a download too large for the limit is refused
// before it starts; one that crosses it anyway (archive overhead) is cut.
func (a *API) snapshotDump(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p, err := browse.CleanPath(q.Get("path"))
	if err != nil || q.Get("path") == "" {
		return errorf(http.StatusBadRequest, "bad_path", "path: give the absolute path of a file or folder in the snapshot, such as /home/alice/report.pdf")
	}
	format := q.Get("format")
	if format == "" {
		format = "zip"
	}
	if _, known := dumpArchiveTypes[format]; !known {
		return errorf(http.StatusBadRequest, "bad_format", "format must be zip or tar, got %q", truncateText(format, 32))
	}
	dl, ok := a.opts.Agents.(Downloader)
	idx, okIdx := a.store.(dumpIndex)
	if a.opts.Browse == nil || !ok || !okIdx {
		return errorf(http.StatusNotImplemented, "not_implemented", "downloads are not available on this server (no agent hub or snapshot browser)")
	}
	host, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	ref := mux.Vars(r)["snap"]
	snap, err := a.opts.Browse.Snapshot(r.Context(), host.ID, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "host %q has no snapshot %q", host.Name, truncateText(ref, 64))
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "ambiguous", "%q names more than one snapshot of host %q; use the full id", truncateText(ref, 64), host.Name)
	case err != nil:
		return err
	}
	setTarget(r, "snapshot", snap.ID)
	if !dl.Online(host.ID) {
		return errorf(http.StatusConflict, "host_offline", "host %q is offline; a download runs restic on the host's agent, try again when it is online", host.Name)
	}
	node, size, err := a.dumpEntry(r, idx, host, snap, p)
	if err != nil {
		return err
	}
	limit := a.opts.DownloadLimit
	if limit <= 0 {
		limit = defaultDownloadLimit
	}
	if size > limit {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "%s holds %s, more than this server's download limit of %s (download_limit_mib in the server config); restore it instead",
			p, humanBytes(size), humanBytes(limit))
	}

	params, err := dumpParams(snap.ID, p, node.Type == "dir", format)
	if err != nil {
		return err
	}
	now := a.now()
	deadline := now.Add(dumpDeadline)
	j := store.Job{
		ID: auth.NewID(), HostID: host.ID, Kind: KindDump, Status: store.JobQueued, RepositoryID: snap.RepositoryID,
		Params: params, CreatedBy: state(r).who.user.ID, CreatedAt: now, DeadlineAt: &deadline,
	}
	if err := a.store.CreateJob(r.Context(), j); err != nil {
		return fmt.Errorf("create dump job: %w", err)
	}
	a.auditDump(r, host, snap, p, node.Type, format, j.ID)
	stream, err := dl.OpenData(host.ID, j.ID)
	if err != nil {
		a.endDump(j.ID, "the download could not start: "+err.Error())
		if errors.Is(err, hub.ErrDataOffline) {
			return errorf(http.StatusConflict, "host_offline", "host %q went offline; try again when it is online", host.Name)
		}
		return err
	}
	defer stream.Close()
	finished := false
	defer func() {
		if !finished {
			a.endDump(j.ID, "the download was not completed")
		}
	}()

	dctx, cancel := context.WithTimeout(r.Context(), dumpDispatchWait)
	err = a.opts.Agents.Dispatch(dctx, j.ID)
	cancel()
	if err != nil {
		return &Error{Status: http.StatusGatewayTimeout, Code: "agent_timeout", Message: fmt.Sprintf("the agent on %q did not take the download in time; try again", host.Name)}
	}

	// The first piece decides the answer: an error before it (restic
	// could not open the repository, say) is still a JSON error.
	first, err := stream.Next(r.Context())
	if err != nil && !errors.Is(err, io.EOF) {
		return dumpError(r, err, j.ID)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // a long download outlives the server's read timeout
	_ = rc.SetWriteDeadline(time.Time{})
	setDumpHeaders(w, node, size, snap, p, format, j.ID)
	w.WriteHeader(http.StatusOK)
	sent := int64(0)
	piece := first
	for {
		if len(piece) > 0 {
			sent += int64(len(piece))
			if sent > limit {
				a.logger.Warn("download cut at the size limit", "job_id", j.ID, "host_id", host.ID, "limit", limit)
				a.endDump(j.ID, fmt.Sprintf("the download crossed the server's limit of %s", humanBytes(limit)))
				finished = true
				panic(http.ErrAbortHandler) // the client sees an incomplete download, not a short file
			}
			if _, werr := w.Write(piece); werr != nil {
				a.logger.Info("download ended by the client", "job_id", j.ID, "error", werr)
				return nil // the deferred cancel stops the job
			}
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			finished = true
			a.logger.Info("download complete", "job_id", j.ID, "host_id", host.ID, "bytes", sent)
			return nil
		}
		piece, err = stream.Next(r.Context())
		switch {
		case err == nil, errors.Is(err, io.EOF):
		case r.Context().Err() != nil:
			a.logger.Info("download ended by the client", "job_id", j.ID)
			return nil
		default:
			a.logger.Warn("download failed", "job_id", j.ID, "host_id", host.ID, "bytes", sent, "error", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// dumpEntry finds path p in the snapshot's listing: the entry (a folder
// for "/") and the bytes a download of it holds. A listing still running
// answers 503 with Retry-After (it was started if needed).
func (a *API) dumpEntry(r *http.Request, idx dumpIndex, host store.Host, snap store.Snapshot, p string) (store.SnapshotNode, int64, error) {
	l, started, err := a.opts.Browse.Open(r.Context(), snap, host.ID)
	switch {
	case errors.Is(err, browse.ErrHostOffline):
		return store.SnapshotNode{}, 0, errorf(http.StatusConflict, "host_offline", "host %q is offline", host.Name)
	case errors.Is(err, browse.ErrListingFailed):
		return store.SnapshotNode{}, 0, &Error{Status: http.StatusBadGateway, Code: "listing_failed", Message: err.Error(), RetryAfter: int(browse.DefaultRetryAfter / time.Second)}
	case err != nil:
		return store.SnapshotNode{}, 0, err
	}
	if started {
		a.auditListing(r, snap, host, l)
	}
	if l.Status != store.ListingComplete {
		return store.SnapshotNode{}, 0, &Error{
			Status: http.StatusServiceUnavailable, Code: "listing_running", RetryAfter: 2,
			Message: fmt.Sprintf("snapshot %s is being listed (job %s) to learn what %s is and how large; try again in a moment", snap.ShortID, l.JobID, p),
		}
	}
	node := store.SnapshotNode{Parent: "/", Name: "", Type: "dir"}
	if p != "/" {
		node, err = idx.GetSnapshotNode(r.Context(), l.ID, path.Dir(p), path.Base(p))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return store.SnapshotNode{}, 0, errorf(http.StatusNotFound, "not_found", "snapshot %s has no %s", snap.ShortID, p)
		case err != nil:
			return store.SnapshotNode{}, 0, err
		}
	}
	switch node.Type {
	case "file":
		return node, node.Size, nil
	case "dir":
		size, _, err := idx.SnapshotTreeSize(r.Context(), l.ID, p)
		return node, size, err
	}
	return store.SnapshotNode{}, 0, errorf(http.StatusBadRequest, "bad_path", "%s is a %s; only files and folders can be downloaded", p, node.Type)
}

// dumpParams are a dump job's params (the backend's Args): the archive
// format for a folder only, since a file is written as it is.
func dumpParams(snapshotID, p string, dir bool, format string) (json.RawMessage, error) {
	type extra struct {
		Archive string `json:"archive"`
	}
	args := struct {
		Snapshots []string `json:"snapshots"`
		Paths     []string `json:"paths"`
		Extra     *extra   `json:"extra,omitempty"`
	}{Snapshots: []string{snapshotID}, Paths: []string{p}}
	if dir {
		args.Extra = &extra{Archive: format}
	}
	return json.Marshal(args)
}

// setDumpHeaders describes the download: an attachment with a safe name,
// its media type, its exact length for a file (restic dump writes a file's
// bytes as they are), and X-Download-Size, the bytes the listing holds
// under the path: a file's exact size, for a folder the sum of its files'
// sizes, which its archive exceeds by headers or undercuts by compression.
// The snapshot page's progress bar measures against it.
func setDumpHeaders(w http.ResponseWriter, node store.SnapshotNode, size int64, snap store.Snapshot, p, format, jobID string) {
	name := safeFilename(path.Base(p))
	if p == "/" || name == "" {
		name = "snapshot-" + safeFilename(snap.ShortID)
	}
	h := w.Header()
	if node.Type == "dir" {
		name += "." + format
		h.Set("Content-Type", dumpArchiveTypes[format])
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", fmt.Sprint(node.Size))
	}
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Download-Size", fmt.Sprint(size))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Job-Id", jobID)
}

// safeFilename keeps a name a browser saves as it is: no path separators,
// quotes or control characters, at most 200 bytes.
func safeFilename(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '/', r == '\\', r == '"', r == ':', r == unicode.ReplacementChar:
			return '_'
		}
		return r
	}, strings.ToValidUTF8(s, "_"))
	s = strings.Trim(s, ". ")
	if len(s) > 200 {
		s = truncateText(s, 200)
	}
	return s
}

// dumpError turns a failure before the first byte into the answer.
func dumpError(r *http.Request, err error, jobID string) error {
	var ended *hub.JobEndedError
	switch {
	case errors.As(err, &ended):
		return errorf(http.StatusBadGateway, "dump_failed", "the download failed on the host (job %s): %s", jobID, truncateText(ended.Error(), 1000))
	case errors.Is(err, hub.ErrDataLost):
		return errorf(http.StatusBadGateway, "agent_lost", "the connection to the host's agent dropped; try again")
	case r.Context().Err() != nil:
		return r.Context().Err()
	}
	return err
}

// endDump cancels a download's job unless it has ended.
func (a *API) endDump(jobID, reason string) {
	if a.opts.Agents == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.opts.Agents.Cancel(ctx, jobID, reason); err != nil && !errors.Is(err, store.ErrJobFinished) {
		a.logger.Warn("cancelling a download's job failed", "job_id", jobID, "error", err)
	}
}

// auditDump records a download: a GET that hands out a snapshot's data.
func (a *API) auditDump(r *http.Request, host store.Host, snap store.Snapshot, p, typ, format, jobID string) {
	st := *state(r)
	st.status = http.StatusOK
	st.targetKind, st.targetID = "snapshot", snap.ID
	st.detail = map[string]any{"host_id": host.ID, "snapshot_id": snap.ID, "repository_id": snap.RepositoryID, "path": p, "type": typ, "job_id": jobID}
	if typ == "dir" {
		st.detail["format"] = format
	}
	a.audit(r, &st)
}

// humanBytes writes n in binary units for messages.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
