package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// Restore limits and the overwrite policies restic's --overwrite takes
// ("never" is the wizard's "skip existing").
const (
	maxStripComponents = 255
	originalTarget     = "/"
)

var overwritePolicies = []string{"always", "if-changed", "if-newer", "never"}

// restoreRoutes start restores: a snapshot's files back onto its host, or
// onto another host with a one-job key (restore_scoped.go).
func (a *API) restoreRoutes() []route {
	return []route{
		{name: "restore.run", method: http.MethodPost, path: "/api/v1/hosts/{id}/restore", access: operator, handle: a.runRestore},
	}
}

// restoreRequest is the body of POST /api/v1/hosts/{id}/restore.
type restoreRequest struct {
	Snapshot        string   `json:"snapshot"`
	Includes        []string `json:"includes"`
	Target          string   `json:"target"`
	StripComponents int      `json:"strip_components"`
	Overwrite       string   `json:"overwrite"`
	ToHost          string   `json:"to_host"`
	DryRun          bool     `json:"dry_run"`
	Deadline        string   `json:"deadline"`
}

// restoreExtra is a restore job's params.extra, as the restic backend
// takes it; zero values are left out so restic's defaults apply.
type restoreExtra struct {
	Overwrite       string `json:"overwrite,omitempty"`
	StripComponents int    `json:"strip_components,omitempty"`
}

// runRestore creates a restore job for a snapshot of host {id} and
// dispatches it like any other job: 202 with the job, which runs at once
// on an online host and waits for an offline one until its deadline.
func (a *API) runRestore(w http.ResponseWriter, r *http.Request) error {
	host, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	var req restoreRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	snap, err := a.restoreSnapshot(r.Context(), host, req.Snapshot)
	if err != nil {
		return err
	}
	params, err := restoreParams(req, snap)
	if err != nil {
		return err
	}
	onto := host
	if strings.TrimSpace(req.ToHost) != "" {
		if err := checkParamText("to_host", req.ToHost); err != nil {
			return err
		}
		if onto, err = a.lookupHostRef(r, req.ToHost); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status == http.StatusNotFound {
				return errorf(http.StatusBadRequest, "bad_params", "to_host: no host %q", truncateText(req.ToHost, 100))
			}
			return err
		}
	}
	if onto.ID != host.ID && strings.TrimSpace(req.Target) == "" {
		return errorf(http.StatusBadRequest, "bad_params",
			"target: restoring onto another host (%s) needs a target directory there; give target, or %q to restore to the snapshot's original paths", onto.Name, originalTarget)
	}
	if onto.Status == store.HostRevoked {
		return errorf(http.StatusConflict, "host_revoked", "host %q was removed; enroll it again to restore onto it", onto.Name)
	}
	repo, err := a.store.GetRepository(r.Context(), snap.RepositoryID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusConflict, "no_repository", "snapshot %s: its repository was removed", snap.ShortID)
	}
	if err != nil {
		return err
	}
	now := a.now()
	deadline, err := parseDeadline(req.Deadline, now)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	who := state(r).who
	j := store.Job{
		ID: auth.NewID(), HostID: onto.ID, Kind: "restore", Status: store.JobQueued, RepositoryID: repo.ID,
		Params: raw, CreatedBy: who.user.ID, CreatedAt: now, DeadlineAt: &deadline,
	}
	detail := map[string]any{
		"host_id": onto.ID, "kind": j.Kind, "repository": repo.Name, "snapshot": snap.ID,
		"target": params.Target, "includes": nonNilStrings(params.Includes),
		"overwrite": req.Overwrite, "strip_components": req.StripComponents, "dry_run": req.DryRun,
	}
	if onto.ID != host.ID {
		detail["source_host_id"] = host.ID
		if j, err = a.startScopedRestore(r, j, host, onto); err != nil {
			return err
		}
		setTarget(r, "job", j.ID)
		state(r).detail = detail
		writeJSON(w, http.StatusAccepted, a.newNames(r.Context()).job(j))
		return nil
	}
	if err := a.store.CreateJob(r.Context(), j); err != nil {
		return fmt.Errorf("create restore job: %w", err)
	}
	setTarget(r, "job", j.ID)
	state(r).detail = detail
	if a.opts.Agents != nil {
		// The job exists now; a client that hangs up must not leave its
		// dispatch half done.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), dispatchWait)
		defer cancel()
		if err := a.opts.Agents.Dispatch(ctx, j.ID); err != nil {
			a.logger.Debug("restore stays queued", "job_id", j.ID, "error", err)
		}
	}
	if j, err = a.store.GetJob(r.Context(), j.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, a.newNames(r.Context()).job(j))
	return nil
}

// restoreSnapshot resolves the request's snapshot (full or short id) among
// the host's snapshots.
func (a *API) restoreSnapshot(ctx context.Context, host store.Host, ref string) (store.Snapshot, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if ref == "" {
		return store.Snapshot{}, errorf(http.StatusBadRequest, "bad_params", "snapshot is required: the id (or short id) of one of %s's snapshots", host.Name)
	}
	if err := checkParamText("snapshot", ref); err != nil {
		return store.Snapshot{}, err
	}
	s, err := a.store.FindHostSnapshot(ctx, host.ID, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Snapshot{}, errorf(http.StatusBadRequest, "bad_params", "snapshot: %s has no snapshot %q (list them with GET /api/v1/hosts/%s/snapshots)", host.Name, truncateText(ref, 64), host.ID)
	case errors.Is(err, store.ErrConflict):
		return store.Snapshot{}, errorf(http.StatusBadRequest, "bad_params", "snapshot: %q names more than one snapshot; give the full id", truncateText(ref, 64))
	}
	return s, err
}

// restoreParams checks a restore request against its snapshot and turns it
// into the job's params. Each error names the field as the request spells
// it.
func restoreParams(req restoreRequest, snap store.Snapshot) (jobParams, error) {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "bad_params", format, args...)
	}
	if len(req.Includes) > maxJobListItems {
		return jobParams{}, bad("includes: at most %d paths", maxJobListItems)
	}
	for _, inc := range req.Includes {
		if err := checkRestorePath("includes", inc); err != nil {
			return jobParams{}, err
		}
		if !insideSnapshot(inc, snap.Paths) {
			return jobParams{}, bad("includes: %q is not inside the snapshot's paths (%s)", truncateText(inc, 200), strings.Join(snap.Paths, ", "))
		}
	}
	target := req.Target
	if target == "" {
		target = originalTarget
	}
	if err := checkRestorePath("target", target); err != nil {
		return jobParams{}, err
	}
	switch {
	case req.StripComponents < 0 || req.StripComponents > maxStripComponents:
		return jobParams{}, bad("strip_components: %d: want 0 to %d", req.StripComponents, maxStripComponents)
	case req.StripComponents > 0 && target == originalTarget:
		return jobParams{}, bad("strip_components: stripping path components needs a target other than the original location; give target")
	}
	if req.StripComponents > 0 {
		if err := checkStrip(req.StripComponents, req.Includes); err != nil {
			return jobParams{}, err
		}
	}
	if req.Overwrite != "" && !contains(overwritePolicies, req.Overwrite) {
		return jobParams{}, bad("overwrite: %q: want one of %s (never skips files that exist)", truncateText(req.Overwrite, 40), strings.Join(overwritePolicies, ", "))
	}
	p := jobParams{Snapshots: []string{snap.ID}, Target: target, Includes: req.Includes, DryRun: req.DryRun}
	if req.Overwrite != "" || req.StripComponents > 0 {
		extra, err := json.Marshal(restoreExtra{Overwrite: req.Overwrite, StripComponents: req.StripComponents})
		if err != nil {
			return jobParams{}, err
		}
		p.Extra = extra
	}
	return p, checkParams("restore", p)
}

// checkStrip checks strip_components against the includes as the agent
// applies it: restic restores the folder the includes share in their
// first n components (restic's snapshot:subfolder), so there must be
// includes, each at least n components deep, all sharing those n.
func checkStrip(n int, includes []string) error {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "bad_params", "strip_components: "+format, args...)
	}
	if len(includes) == 0 {
		return bad("stripping needs includes: the components stripped are the ones the includes share")
	}
	var shared string
	for _, inc := range includes {
		parts := strings.Split(strings.Trim(strings.ReplaceAll(inc, `\`, "/"), "/"), "/")
		if d := pathDepth(inc); n > d {
			return bad("%d is more than the %d components of %q", n, d, truncateText(inc, 200))
		}
		prefix := strings.Join(parts[:n], "/")
		switch {
		case shared == "":
			shared = prefix
		case prefix != shared:
			return bad("the includes %q and %q do not share their first %d components", truncateText(includes[0], 100), truncateText(inc, 100), n)
		}
	}
	return nil
}

// checkRestorePath refuses what is not a clean absolute path: relative
// paths, "." and ".." components, doubled or trailing separators and
// control characters. Windows paths (C:\x) are checked with "\" as the
// separator.
func checkRestorePath(field, p string) error {
	if err := checkParamText(field, p); err != nil {
		return err
	}
	if !absolutePath(p) {
		return errorf(http.StatusBadRequest, "bad_params", "%s: %q is not an absolute path; give one such as /home/alice/file.txt", field, truncateText(p, 200))
	}
	slashed := strings.ReplaceAll(p, `\`, "/")
	for _, part := range strings.Split(slashed, "/") {
		if part == ".." || part == "." {
			return errorf(http.StatusBadRequest, "bad_params", "%s: %q has a %q component; give the path without it", field, truncateText(p, 200), part)
		}
	}
	if strings.HasPrefix(slashed, "/") && !strings.HasPrefix(slashed, "//") && path.Clean(slashed) != slashed {
		return errorf(http.StatusBadRequest, "bad_params", "%s: %q is not clean (doubled or trailing separators); give %q", field, truncateText(p, 200), path.Clean(slashed))
	}
	return nil
}

// insideSnapshot reports whether p is one of the snapshot's paths or
// below one. Snapshots without paths, and paths of another form than p's
// (a Windows snapshot), are not checked here: the agent checks again.
func insideSnapshot(p string, roots []string) bool {
	checked := false
	for _, root := range roots {
		if !strings.HasPrefix(root, "/") || !strings.HasPrefix(p, "/") {
			continue
		}
		checked = true
		root = path.Clean(root)
		if p == root || root == "/" || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return !checked
}

// pathDepth counts p's components: /a/b is 2.
func pathDepth(p string) int {
	n := 0
	for _, part := range strings.Split(strings.ReplaceAll(p, `\`, "/"), "/") {
		if part != "" && !strings.HasSuffix(part, ":") {
			n++
		}
	}
	return n
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
