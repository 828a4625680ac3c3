package store

import (
	"context"
	"fmt"
	"sync"
)

// nodeChunkHooks maps a *DB to a func(rows int64) that learns how many
// entries each chunked delete statement of that DB removed (tests only).
var nodeChunkHooks sync.Map

func (db *DB) nodeChunkDone(rows int64) {
	if f, ok := nodeChunkHooks.Load(db); ok {
		f.(func(int64))(rows)
	}
}

// dropForgottenListings removes, in chunks of evictChunk entries (one
// short write each), the cached listings of the repository's snapshots
// that are not in keep: those ReplaceSnapshots is about to delete. Left to
// the snapshots' ON DELETE CASCADE, a listing of a million entries would
// go in ReplaceSnapshots' one transaction and hold the writer for seconds.
// A listing started meanwhile still goes by the cascade.
func (db *DB) dropForgottenListings(ctx context.Context, repositoryID string, keep map[string]bool) error {
	rows, err := db.r.QueryContext(ctx, `SELECT id, snapshot_id FROM snapshot_listings WHERE repository_id = ?`, repositoryID)
	if err != nil {
		return err
	}
	var gone []int64
	for rows.Next() {
		var id int64
		var snap string
		if err := rows.Scan(&id, &snap); err != nil {
			rows.Close()
			return err
		}
		if !keep[snap] {
			gone = append(gone, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range gone {
		if err := db.DeleteSnapshotListing(ctx, id); err != nil {
			return fmt.Errorf("drop the listing of a forgotten snapshot: %w", err)
		}
	}
	return nil
}
