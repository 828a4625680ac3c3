package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

// Cross-host restore with a one-job key. A restore of host A's snapshot
// onto host B must not hand B the repository's password. So the server
// makes a key for that one job: a key_add on a key holder (A itself when
// it is online, else any online host that ran jobs on the repository with
// its password), with a random password sealed on the server while it is
// needed. B's restore waits (queued) until the key exists, then runs with
// that password in place of the repository's. When the restore ends, in
// whatever way, a key_remove on a key holder removes the key and the
// sealed password is deleted. A removal that cannot be sent yet stays in
// the store (scoped_keys) and is retried by the sweeper and when a key
// holder connects; a restart loses nothing.

// Job kinds of the backend's key management (sdk/backend).
const (
	kindKeyAdd    = "key_add"
	kindKeyRemove = "key_remove"
	kindRestore   = "restore"
)

// Audit actions of one-job keys.
const (
	scopedAddAction    = "repository.scoped_key.add"
	scopedRemoveAction = "repository.scoped_key.remove"
)

// scopedKeyUser labels one-job keys in `restic key list`.
const scopedKeyUser = "restic-manager-one-job"

// ErrNoKeyHolder means no host that holds the repository's password is
// online to make (or remove) a one-job key.
var ErrNoKeyHolder = errors.New("no host holding the repository's password is online")

// Sealer seals the one-job passwords at rest (the server's keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

var _ Sealer = (*secrets.Keyring)(nil)

// ScopedStore is what one-job keys need of the store.
type ScopedStore interface {
	CreateScopedRestore(ctx context.Context, restore, add store.Job, cred store.Credential, k store.ScopedKey) error
	ScopedKeyForJob(ctx context.Context, jobID string) (store.ScopedKey, error)
	OpenScopedKeys(ctx context.Context, limit int) ([]store.ScopedKey, error)
	ScopedKeyReady(ctx context.Context, jobID, keyID string, now time.Time) (bool, error)
	ScopedKeyRemoving(ctx context.Context, jobID string, now time.Time) (bool, error)
	ScopedKeyRemoveFailed(ctx context.Context, jobID, removeJobID, reason string, retryAt, now time.Time) (bool, error)
	ScopedKeyQueueRemoval(ctx context.Context, jobID string, remove store.Job, now time.Time) (bool, error)
	EndScopedKey(ctx context.Context, jobID, state, reason string, now time.Time) (bool, error)
	KeyHolderHosts(ctx context.Context, repoID string) ([]string, error)
	GetCredential(ctx context.Context, id string) (store.Credential, error)
}

// StartScopedRestore stores a cross-host restore: restore is the queued
// restore job for the target host, sourceHostID the snapshot's host. It
// picks a key holder (ErrNoKeyHolder when none is online: nothing is
// stored then), stores the restore, the key_add and the sealed one-job
// password together, and sends the key_add. The restore is sent once the
// key exists.
func (h *Hub) StartScopedRestore(ctx context.Context, restore store.Job, sourceHostID string) (store.Job, error) {
	if h.opts.Sealer == nil {
		return store.Job{}, errors.New("the server cannot seal one-job keys")
	}
	if restore.RepositoryID == "" || restore.Kind != kindRestore {
		return store.Job{}, errors.New("a one-job key is made for a restore of a repository")
	}
	holder, ok := h.keyHolder(ctx, restore.RepositoryID, sourceHostID)
	if !ok {
		return store.Job{}, ErrNoKeyHolder
	}
	target, err := h.store.GetHost(ctx, restore.HostID)
	if err != nil {
		return store.Job{}, err
	}
	pw, err := newScopedPassword()
	if err != nil {
		return store.Job{}, err
	}
	now := h.now()
	credID := newJobID()
	sealed, err := h.opts.Sealer.Seal([]byte(pw), store.CredentialAAD(credID))
	if err != nil {
		return store.Job{}, fmt.Errorf("seal the one-job key: %w", err)
	}
	keyID, err := secrets.KeyID(sealed)
	if err != nil {
		return store.Job{}, fmt.Errorf("seal the one-job key: %w", err)
	}
	params, err := json.Marshal(map[string]any{"extra": map[string]string{"host": target.Name, "user": scopedKeyUser}})
	if err != nil {
		return store.Job{}, err
	}
	add := store.Job{
		ID: newJobID(), HostID: holder, Kind: kindKeyAdd, Status: store.JobQueued, RepositoryID: restore.RepositoryID,
		Params: params, CreatedBy: restore.CreatedBy, CreatedAt: now, DeadlineAt: restore.DeadlineAt,
	}
	cred := store.Credential{ID: credID, Kind: store.CredentialScopedKey, KeyID: keyID, Sealed: sealed, CreatedAt: now, UpdatedAt: now}
	k := store.ScopedKey{RepositoryID: restore.RepositoryID, SourceHostID: sourceHostID, CreatedAt: now}
	if err := h.store.CreateScopedRestore(ctx, restore, add, cred, k); err != nil {
		return store.Job{}, fmt.Errorf("store the cross-host restore: %w", err)
	}
	h.log.Info("one-job key requested for a cross-host restore", "job_id", restore.ID, "add_job_id", add.ID,
		"key_holder", holder, "target_host_id", restore.HostID)
	if err := h.Dispatch(ctx, add.ID); err != nil {
		h.log.Debug("key_add stays queued", "job_id", add.ID, "error", err)
	}
	return h.store.GetJob(ctx, restore.ID)
}

// newScopedPassword is 32 random bytes, base64url.
func newScopedPassword() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("one-job key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// keyHolder picks an online host that holds the repository's password:
// prefer when it is online, else the one that ran a job on the
// repository most recently.
func (h *Hub) keyHolder(ctx context.Context, repoID, prefer string) (string, bool) {
	online := func(id string) bool {
		ac := h.conn(id)
		return ac != nil && ac.helloDone.Load()
	}
	if prefer != "" && online(prefer) {
		return prefer, true
	}
	ids, err := h.store.KeyHolderHosts(ctx, repoID)
	if err != nil {
		h.log.Warn("listing the repository's key holders failed", "repository_id", repoID, "error", err)
		return "", false
	}
	for _, id := range ids {
		if online(id) {
			return id, true
		}
	}
	return "", false
}

// scopedPassword opens a one-job key's sealed password; "" when it is
// gone.
func (h *Hub) scopedPassword(ctx context.Context, k store.ScopedKey) (string, error) {
	if k.CredentialID == "" {
		return "", errors.New("its one-job key was already removed")
	}
	if h.opts.Sealer == nil {
		return "", errors.New("the server cannot open one-job keys")
	}
	c, err := h.store.GetCredential(ctx, k.CredentialID)
	if err != nil {
		return "", fmt.Errorf("one-job key: %w", err)
	}
	pw, err := h.opts.Sealer.Open(c.Sealed, store.CredentialAAD(c.ID))
	if err != nil {
		return "", fmt.Errorf("open the one-job key: %w", err)
	}
	return string(pw), nil
}

// scopedKeyOf returns the one-job key a restore or key_add job is part of;
// ok is false for every other job.
func (h *Hub) scopedKeyOf(ctx context.Context, j store.Job) (store.ScopedKey, bool) {
	if j.Kind != kindRestore && j.Kind != kindKeyAdd {
		return store.ScopedKey{}, false
	}
	k, err := h.store.ScopedKeyForJob(ctx, j.ID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("looking up a job's one-job key failed", "job_id", j.ID, "error", err)
		}
		return store.ScopedKey{}, false
	}
	return k, k.JobID == j.ID || k.AddJobID == j.ID
}

// scopedWaiting reports whether j is a cross-host restore whose one-job
// key is not made yet: it stays queued.
func (h *Hub) scopedWaiting(ctx context.Context, j store.Job) bool {
	if j.Kind != kindRestore {
		return false
	}
	k, ok := h.scopedKeyOf(ctx, j)
	return ok && k.JobID == j.ID && k.State == store.ScopedAdding
}

// scopedScrubValues are the one-job password as it may show in the events
// of the restore that uses it and of the key_add that makes it.
func (h *Hub) scopedScrubValues(ctx context.Context, j store.Job) []string {
	k, ok := h.scopedKeyOf(ctx, j)
	if !ok || k.CredentialID == "" {
		return nil
	}
	pw, err := h.scopedPassword(ctx, k)
	if err != nil {
		return nil
	}
	return secretForms(pw)
}
