package server

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/alert"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
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
			r, err := db.GetRepository(ctx, id)
			if err != nil {
				return "", "", nil, err
			}
			password, env, err := svc.RepositorySecrets(ctx, r.ID)
			return r.URL, password, env, err
		}),
	})
}
