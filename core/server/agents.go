package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/alert"
	"github.com/restic-manager/restic-manager/core/hookspec"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// newHub starts the agent hub over db. Repository credentials are opened
// with the keyring through core/repos, only when a job is dispatched.
// Job ends and host status changes go to the alert engine as the hub
// records them.
func newHub(ctx context.Context, db *store.DB, kr *secrets.Keyring, logger hclog.Logger, alerts *alert.Engine) *hub.Hub {
	svc := repos.New(db, kr, time.Now)
	return hub.New(ctx, hub.Options{
		Store:  alertingStore{Store: db, engine: alerts},
		Logger: logger,
		Secrets: hub.RepoSecretsFunc(func(ctx context.Context, id string) (string, string, map[string]string, error) {
			return svc.RepositorySecrets(ctx, id)
		}),
		AdminSecrets: hub.AdminSecretsFunc(func(ctx context.Context, id string) (string, bool, error) {
			return adminPassword(ctx, db, kr, id)
		}),
		Sealer: kr,
		Hooks: hub.HookSourceFunc(func(ctx context.Context, s store.Schedule, hostID string) (pre, post *wire.Hook, err error) {
			return scheduleHooks(ctx, db, kr, s, hostID)
		}),
	})
}

// adminPassword opens a repository's admin password, if it has one.
func adminPassword(ctx context.Context, db *store.DB, kr *secrets.Keyring, repoID string) (string, bool, error) {
	id, err := db.RepositoryAdminCredential(ctx, repoID)
	if err != nil || id == "" {
		return "", false, err
	}
	c, err := db.GetCredential(ctx, id)
	if err != nil {
		return "", false, err
	}
	pw, err := kr.Open(c.Sealed, store.CredentialAAD(id))
	if err != nil {
		return "", false, fmt.Errorf("open the admin password: %w", err)
	}
	return string(pw), true, nil
}

// scheduleHooks opens the hooks a schedule runs on a host: its own, each
// one it lacks from the host's defaults.
func scheduleHooks(ctx context.Context, db *store.DB, kr *secrets.Keyring, s store.Schedule, hostID string) (pre, post *wire.Hook, err error) {
	own, err := hookspec.Open(ctx, db, kr, s.HooksCredentialID)
	if err != nil {
		return nil, nil, err
	}
	hostCred, err := db.HostHooksCredential(ctx, hostID)
	if err != nil {
		return nil, nil, err
	}
	def, err := hookspec.Open(ctx, db, kr, hostCred)
	if err != nil {
		return nil, nil, err
	}
	set := own.Over(def)
	toWire := func(h *hookspec.Hook) *wire.Hook {
		if h == nil {
			return nil
		}
		return &wire.Hook{Command: h.Command, TimeoutSeconds: int64(h.Timeout() / time.Second)}
	}
	return toWire(set.Pre), toWire(set.Post), nil
}
