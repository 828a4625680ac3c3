package hub

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// A repository may have an admin password: a key that may delete data,
// kept apart from the append-only one agents use day to day. Only jobs
// that remove data — prune, and forget with prune — use it, in place of
// the repository's password; every other job gets the usual one. A job
// the server dispatches is sent it; a scheduled run asks for it when it
// is about to run (adminkey.go).

// AdminSecrets opens a repository's admin password; ok is false when the
// repository has none.
type AdminSecrets interface {
	AdminPassword(ctx context.Context, repoID string) (password string, ok bool, err error)
}

// AdminSecretsFunc adapts a function to AdminSecrets.
type AdminSecretsFunc func(ctx context.Context, repoID string) (string, bool, error)

// AdminPassword calls f.
func (f AdminSecretsFunc) AdminPassword(ctx context.Context, repoID string) (string, bool, error) {
	return f(ctx, repoID)
}

// prunes reports whether a job of kind with params removes data.
func prunes(kind string, params json.RawMessage) bool {
	switch kind {
	case "prune":
		return true
	case "forget":
		var p struct {
			Prune bool `json:"prune"`
		}
		return len(params) > 0 && json.Unmarshal(params, &p) == nil && p.Prune
	}
	return false
}

// withAdminPassword puts the repository's admin password in repo when the
// job prunes and the repository has one.
func (h *Hub) withAdminPassword(ctx context.Context, repo wire.Repository, kind string, params json.RawMessage) (wire.Repository, error) {
	if h.opts.AdminSecrets == nil || repo.ID == "" || !prunes(kind, params) {
		return repo, nil
	}
	pw, ok, err := h.opts.AdminSecrets.AdminPassword(ctx, repo.ID)
	if err != nil {
		return wire.Repository{}, fmt.Errorf("repository %s: admin password: %w", repo.Name, err)
	}
	if ok {
		repo.Password = wire.NewSecret(pw)
	}
	return repo, nil
}

// jobRepository is the repository a dispatched job is sent.
func (h *Hub) jobRepository(ctx context.Context, j store.Job) (wire.Repository, error) {
	repo, err := h.repository(ctx, j.RepositoryID)
	if err != nil {
		return repo, err
	}
	return h.withAdminPassword(ctx, repo, j.Kind, j.Params)
}

// adminScrubValues adds a pruning job's admin password to what its events
// are scrubbed of.
func (h *Hub) adminScrubValues(ctx context.Context, j store.Job) []string {
	if h.opts.AdminSecrets == nil || j.RepositoryID == "" || !prunes(j.Kind, j.Params) {
		return nil
	}
	pw, ok, err := h.opts.AdminSecrets.AdminPassword(ctx, j.RepositoryID)
	if err != nil || !ok {
		return nil
	}
	return secretForms(pw) // adminkey.go
}

// jsonEscaped is s as it shows inside a JSON string.
func jsonEscaped(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		return s
	}
	return string(b[1 : len(b)-1])
}
