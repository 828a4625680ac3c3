package api

import (
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
)

// Which key a schedule prunes with, as its JSON's "prune_key" says:
// "admin" when the schedule removes data (a prune schedule, a forget
// schedule with prune, a backup schedule whose retention prunes) and its
// repository has an admin password, which the agent then asks the server
// for right before that step; "default" when it removes data with the
// repository's own password; null when it removes no data.

const (
	pruneKeyAdmin   = "admin"
	pruneKeyDefault = "default"
)

// pruneKey is a schedule's prune_key (nil: it removes no data).
func (n *names) pruneKey(s store.Schedule) *string {
	if !hub.SchedulePrunes(s) {
		return nil
	}
	key := pruneKeyDefault
	id, err := n.a.store.RepositoryAdminCredential(n.ctx, s.RepositoryID)
	switch {
	case err != nil:
		n.a.logger.Warn("reading whether a schedule's repository has an admin key failed", "schedule_id", s.ID, "error", err)
		return nil
	case id != "":
		key = pruneKeyAdmin
	}
	return &key
}
