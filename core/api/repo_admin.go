package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

// A repository's admin password is a second key of the restic repository
// that may delete data (not append-only), for prune: a repository's
// "admin_password" on POST and PATCH (admin-only, as every repository
// change is), write-only like its password — answers say only
// has_admin_password. Prune jobs, and forgets that prune, are sent it
// instead of the day-to-day password; other jobs never are.

const maxAdminPassword = 4096

// RepoAdminStore keeps repositories' admin credentials.
type RepoAdminStore interface {
	SetRepositoryAdminCredential(ctx context.Context, repoID string, c *store.Credential, now int64) error
	RepositoryAdminCredential(ctx context.Context, repoID string) (string, error)
}

// checkAdminPassword validates a given admin_password ("" is removal on
// PATCH and refused on POST by the caller's order: it checks first).
func checkAdminPassword(pw *string) error {
	if pw == nil {
		return nil
	}
	switch {
	case *pw == "":
		return errorf(http.StatusBadRequest, "bad_admin_password", "admin_password: is empty; leave it out, or give the key restic prunes with")
	case len(*pw) > maxAdminPassword:
		return errorf(http.StatusBadRequest, "bad_admin_password", "admin_password: longer than %d bytes", maxAdminPassword)
	case strings.ContainsRune(*pw, 0):
		return errorf(http.StatusBadRequest, "bad_admin_password", "admin_password: contains NUL")
	}
	return nil
}

// setAdminPassword seals and stores a repository's admin password when the
// request gives one ("" removes it), and notes the change in the audit
// detail — never the value.
func (a *API) setAdminPassword(r *http.Request, repoID string, pw *string, detail map[string]any) error {
	if pw == nil {
		return nil
	}
	var c *store.Credential
	if *pw != "" {
		if a.opts.Sealer == nil {
			return errorf(http.StatusServiceUnavailable, "secrets_unavailable", "the server has no secret key to seal the admin password with")
		}
		id := auth.NewID()
		sealed, err := a.opts.Sealer.Seal([]byte(*pw), store.CredentialAAD(id))
		if err != nil {
			return fmt.Errorf("seal the admin password: %w", err)
		}
		keyID, err := secrets.KeyID(sealed)
		if err != nil {
			return fmt.Errorf("seal the admin password: %w", err)
		}
		now := a.now()
		c = &store.Credential{ID: id, Kind: store.KindRepositoryPassword, KeyID: keyID, Sealed: sealed, CreatedAt: now, UpdatedAt: now}
	}
	if err := a.store.SetRepositoryAdminCredential(r.Context(), repoID, c, a.now().UnixMilli()); err != nil {
		return fmt.Errorf("store the admin password: %w", err)
	}
	detail["admin_password_changed"] = true
	if c == nil {
		detail["admin_password_removed"] = true
	}
	return nil
}
