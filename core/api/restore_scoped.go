package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
)

// A restore onto another host than the snapshot's runs with a one-job
// repository key (core/hub/scoped.go): the target host never receives the
// repository's password.

// ScopedKeyStore reads the one-job key of a cross-host restore.
type ScopedKeyStore interface {
	ScopedKeyForJob(ctx context.Context, jobID string) (store.ScopedKey, error)
}

// ScopedRestorer starts a cross-host restore (the agent hub).
type ScopedRestorer interface {
	StartScopedRestore(ctx context.Context, restore store.Job, sourceHostID string) (store.Job, error)
}

// scopedKeyJSON is a cross-host restore's one-job key as jobs show it;
// never the password.
type scopedKeyJSON struct {
	// State is adding (the restore waits for the key), ready, removing
	// (the restore ended; the key is being removed), removed or failed.
	State        string `json:"state"`
	Note         string `json:"note"`
	SourceHostID string `json:"source_host_id"`
	SourceHost   string `json:"source_host"`
	AddJobID     string `json:"add_job_id"`
	RemoveJobID  string `json:"remove_job_id,omitempty"`
	KeyID        string `json:"key_id,omitempty"`
	Attempts     int    `json:"removal_attempts,omitempty"`
	Error        string `json:"error,omitempty"`
}

// scopedNotes say in words what each state means for the restore.
var scopedNotes = map[string]string{
	store.ScopedAdding:   "waiting for a one-job key",
	store.ScopedReady:    "runs with a one-job key",
	store.ScopedRemoving: "removing the one-job key",
	store.ScopedRemoved:  "the one-job key was removed",
	store.ScopedFailed:   "the one-job key could not be made",
}

// scopedKey returns a restore's one-job key, nil for a restore onto the
// snapshot's own host.
func (n *names) scopedKey(jobID string) *scopedKeyJSON {
	k, err := n.a.store.ScopedKeyForJob(n.ctx, jobID)
	if err != nil || k.JobID != jobID {
		return nil
	}
	out := &scopedKeyJSON{
		State: k.State, Note: scopedNotes[k.State], SourceHostID: k.SourceHostID, SourceHost: n.host(k.SourceHostID),
		AddJobID: k.AddJobID, RemoveJobID: k.RemoveJobID, KeyID: k.KeyID, Attempts: k.Attempts, Error: k.Error,
	}
	return out
}

// startScopedRestore creates and starts a restore of source's snapshot on
// another host: 409 when no host holding the repository's password is
// online to make the key (nothing is created then), 501 when the server
// runs without an agent hub that can.
func (a *API) startScopedRestore(r *http.Request, j store.Job, source, onto store.Host) (store.Job, error) {
	sr, ok := a.opts.Agents.(ScopedRestorer)
	if !ok {
		return store.Job{}, errorf(http.StatusNotImplemented, "not_implemented",
			"to_host: this server cannot make one-job repository keys, so it cannot restore onto another host")
	}
	// The job exists once this returns; a client that hangs up must not
	// leave the key_add's dispatch half done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), dispatchWait)
	defer cancel()
	out, err := sr.StartScopedRestore(ctx, j, source.ID)
	if errors.Is(err, hub.ErrNoKeyHolder) {
		return store.Job{}, errorf(http.StatusConflict, "no_key_holder",
			"to_host: restoring onto %s needs a one-job key for the repository, made by a host that holds its password; %s is offline and no other host that ran jobs on the repository is online: bring %s online and try again",
			onto.Name, source.Name, source.Name)
	}
	return out, err
}
