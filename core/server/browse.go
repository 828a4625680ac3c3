package server

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/browse"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
)

// newBrowser starts the snapshot browser's listing cache and makes it the
// hub's tap for its listing jobs.
func newBrowser(ctx context.Context, db *store.DB, agents *hub.Hub, maxSnapshots int, logger hclog.Logger) (*browse.Service, error) {
	b, err := browse.New(ctx, browse.Options{Store: db, Agents: agents, Logger: logger, MaxSnapshots: maxSnapshots})
	if err != nil {
		return nil, fmt.Errorf("snapshot browser: %w", err)
	}
	agents.SetTap(b)
	return b, nil
}
