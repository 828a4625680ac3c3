package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Forgetting a snapshot whose listing is cached drops the listing's
// entries in chunks of at most evictChunk rows, each its own short write,
// not in the one transaction that replaces the projection; the listing of
// a snapshot that stays is untouched.
func TestForgetDropsListingInChunks(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	gone := listingFixture(t, db, snapID('a'))
	kept := listingFixture(t, db, snapID('b'))
	const entries = 2*evictChunk + 123
	nodes := make([]SnapshotNode, entries)
	for i := range nodes {
		nodes[i] = SnapshotNode{Parent: fmt.Sprintf("/d%03d", i%500), Name: fmt.Sprintf("f%06d", i), Type: "file", Size: 1}
	}
	for _, l := range []SnapshotListing{gone, kept} {
		if _, err := db.AddSnapshotNodes(ctx, l.ID, nodes); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishSnapshotListing(ctx, l.ID, ListingComplete, "", t0); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var chunks []int64
	nodeChunkHooks.Store(db, func(n int64) {
		mu.Lock()
		chunks = append(chunks, n)
		mu.Unlock()
	})
	defer nodeChunkHooks.Delete(db)

	snaps, err := db.ListSnapshots(ctx, SnapshotFilter{RepositoryID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	var keep []Snapshot
	for _, s := range snaps {
		if s.ID == snapID('b') {
			keep = append(keep, s)
		}
	}
	if len(keep) != 1 {
		t.Fatalf("fixture snapshots: %+v", snaps)
	}
	if err := db.ReplaceSnapshots(ctx, "r1", "h1", keep, t0); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	total := int64(0)
	for _, n := range chunks {
		if n > evictChunk {
			t.Errorf("one statement deleted %d entries, more than %d", n, evictChunk)
		}
		total += n
	}
	if total != entries || len(chunks) < 3 {
		t.Errorf("the forgotten listing went in %d chunks of %d entries in all, want >= 3 chunks and %d", len(chunks), total, entries)
	}
	if _, err := db.GetSnapshotListing(ctx, "r1", snapID('a')); err == nil {
		t.Error("the forgotten snapshot's listing is still cached")
	}
	var left int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM snapshot_nodes WHERE listing_id = ?`, gone.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d entries of the forgotten listing left (%v)", left, err)
	}
	l, err := db.GetSnapshotListing(ctx, "r1", snapID('b'))
	if err != nil || l.Status != ListingComplete || l.Entries != entries {
		t.Errorf("the kept listing: %+v, %v", l, err)
	}
}
