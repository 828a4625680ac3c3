package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// listingFixture makes host h1, repository r1 and snapshot id of it, and
// starts a listing of it.
func listingFixture(t *testing.T, db *DB, id string) SnapshotListing {
	t.Helper()
	ctx := context.Background()
	if _, err := db.GetHost(ctx, "h1"); errors.Is(err, ErrNotFound) {
		addHost(t, db, "h1")
		addRepository(t, db, "r1")
	}
	if err := db.UpsertSnapshots(ctx, "", []Snapshot{{RepositoryID: "r1", ID: id, HostID: "h1", Time: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	l, err := db.StartSnapshotListing(ctx, Job{ID: "ls-" + id[:8], HostID: "h1", Kind: "ls", Status: JobQueued, RepositoryID: "r1", CreatedAt: t0}, "r1", id, t0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func names(nodes []SnapshotNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

func TestSnapshotListingPaging(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	l := listingFixture(t, db, snapID('a'))
	if l.Status != ListingRunning || l.JobID == "" {
		t.Fatalf("new listing %+v", l)
	}
	if _, err := db.StartSnapshotListing(ctx, Job{ID: "other", HostID: "h1", Kind: "ls", Status: JobQueued, CreatedAt: t0}, "r1", snapID('a'), t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second listing of a snapshot: %v, want ErrConflict", err)
	}
	nodes := []SnapshotNode{
		{Parent: "/", Name: "srv", Type: "dir"},
		{Parent: "/srv", Name: "b.txt", Type: "file", Size: 2, MTime: t0},
		{Parent: "/srv", Name: "a.txt", Type: "file", Size: 1},
		{Parent: "/srv", Name: "z", Type: "dir"},
		{Parent: "/srv", Name: "c", Type: "dir"},
		{Parent: "/srv", Name: "link", Type: "symlink"},
		{Parent: "/srv/c", Name: "deep.txt", Type: "file", Size: 9},
	}
	added, err := db.AddSnapshotNodes(ctx, l.ID, nodes)
	if err != nil || added != int64(len(nodes)) {
		t.Fatalf("add: %d, %v", added, err)
	}
	// The agent resends a batch after a reconnect: stored once.
	if added, err := db.AddSnapshotNodes(ctx, l.ID, nodes[:3]); err != nil || added != 0 {
		t.Fatalf("add again: %d, %v", added, err)
	}
	if err := db.FinishSnapshotListing(ctx, l.ID, ListingComplete, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	l, err = db.GetSnapshotListing(ctx, "r1", snapID('a'))
	if err != nil || l.Status != ListingComplete || l.Entries != int64(len(nodes)) {
		t.Fatalf("finished listing %+v, %v", l, err)
	}
	// Entries arriving after the end are dropped.
	if added, err := db.AddSnapshotNodes(ctx, l.ID, []SnapshotNode{{Parent: "/", Name: "late", Type: "file"}}); err != nil || added != 0 {
		t.Fatalf("add after the end: %d, %v", added, err)
	}

	want := []string{"c", "z", "a.txt", "b.txt", "link"} // folders first, then by name
	var got []string
	after := ""
	for range 10 {
		page, err := db.SnapshotNodes(ctx, l.ID, "/srv", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, names(page)...)
		after = page[len(page)-1].Name
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged /srv = %v, want %v", got, want)
	}
	// A cursor naming nothing continues with the files after that name.
	if page, _ := db.SnapshotNodes(ctx, l.ID, "/srv", "b", 10); fmt.Sprint(names(page)) != "[b.txt link]" {
		t.Errorf("after a name that is no entry: %v", names(page))
	}
	if n, err := db.CountSnapshotNodes(ctx, l.ID, "/srv"); err != nil || n != 5 {
		t.Errorf("count /srv = %d, %v", n, err)
	}
	if n, err := db.GetSnapshotNode(ctx, l.ID, "/srv", "b.txt"); err != nil || n.Size != 2 || !n.MTime.Equal(t0) || n.Path() != "/srv/b.txt" {
		t.Errorf("node /srv/b.txt = %+v, %v", n, err)
	}
	if _, err := db.GetSnapshotNode(ctx, l.ID, "/srv", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing node: %v", err)
	}
	hits, err := db.SearchSnapshotNodes(ctx, l.ID, "C/DEEP", 10)
	if err != nil || len(hits) != 1 || hits[0].Path() != "/srv/c/deep.txt" {
		t.Errorf("search C/DEEP = %+v, %v", hits, err)
	}
	if hits, _ := db.SearchSnapshotNodes(ctx, l.ID, "%", 10); len(hits) != 0 {
		t.Errorf("search %% matched %v: LIKE wildcards must be literal", names(hits))
	}
	if hits, _ := db.SearchSnapshotNodes(ctx, l.ID, ".txt", 2); len(hits) != 2 {
		t.Errorf("search bounded by limit 2: %v", names(hits))
	}
}

func TestSnapshotListingFailsAndIsReplaced(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	l := listingFixture(t, db, snapID('b'))
	if _, err := db.AddSnapshotNodes(ctx, l.ID, []SnapshotNode{{Parent: "/", Name: "x", Type: "file"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSnapshotListing(ctx, l.ID, ListingFailed, "restic: repository locked", t0); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountSnapshotNodes(ctx, l.ID, "/"); n != 0 {
		t.Errorf("a failed listing kept %d entries", n)
	}
	running, err := db.RunningSnapshotListings(ctx)
	if err != nil || len(running) != 0 {
		t.Errorf("running listings %v, %v", running, err)
	}
	l2, err := db.StartSnapshotListing(ctx, Job{ID: "retry", HostID: "h1", Kind: "ls", Status: JobQueued, CreatedAt: t0}, "r1", snapID('b'), t0)
	if err != nil || l2.ID == l.ID || l2.Status != ListingRunning {
		t.Fatalf("retry after a failure: %+v, %v", l2, err)
	}
	if running, _ := db.RunningSnapshotListings(ctx); len(running) != 1 || running[0].JobID != "retry" {
		t.Errorf("running listings %+v", running)
	}
}

func TestSnapshotListingEviction(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var ls []SnapshotListing
	for i, c := range []byte("cdef") {
		l := listingFixture(t, db, snapID(c))
		nodes := make([]SnapshotNode, evictChunk+10) // more than one chunk
		for k := range nodes {
			nodes[k] = SnapshotNode{Parent: "/d", Name: fmt.Sprintf("f%05d", k), Type: "file"}
		}
		if _, err := db.AddSnapshotNodes(ctx, l.ID, nodes); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishSnapshotListing(ctx, l.ID, ListingComplete, "", t0); err != nil {
			t.Fatal(err)
		}
		if err := db.TouchSnapshotListing(ctx, l.ID, t0.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	// 'c' is browsed again: now 'd' is the least recently browsed.
	if err := db.TouchSnapshotListing(ctx, ls[0].ID, t0.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	running := listingFixture(t, db, snapID('g')) // running listings count, but are never evicted
	n, err := db.EvictSnapshotListings(ctx, 3)
	if err != nil || n != 2 {
		t.Fatalf("evicted %d, %v; want 2", n, err)
	}
	for _, c := range []byte("de") {
		if _, err := db.GetSnapshotListing(ctx, "r1", snapID(c)); !errors.Is(err, ErrNotFound) {
			t.Errorf("listing %c survived eviction: %v", c, err)
		}
	}
	for _, c := range []byte("cfg") {
		if _, err := db.GetSnapshotListing(ctx, "r1", snapID(c)); err != nil {
			t.Errorf("listing %c was evicted: %v", c, err)
		}
	}
	var left int
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM snapshot_nodes WHERE listing_id IN (?, ?)`, ls[1].ID, ls[2].ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d entries of evicted listings left, %v", left, err)
	}
	if _, err := db.GetSnapshotListing(ctx, "r1", snapID('g')); err != nil || running.Status != ListingRunning {
		t.Errorf("running listing: %v", err)
	}

	// Forgetting a snapshot drops its listing and entries with it.
	if err := db.ReplaceSnapshots(ctx, "r1", "", []Snapshot{{RepositoryID: "r1", ID: snapID('g'), HostID: "h1", Time: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSnapshotListing(ctx, "r1", snapID('c')); !errors.Is(err, ErrNotFound) {
		t.Errorf("listing of a forgotten snapshot: %v", err)
	}
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM snapshot_nodes`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d entries of forgotten snapshots left, %v", left, err)
	}
}

func TestFindHostSnapshot(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	listingFixture(t, db, snapID('a'))
	if s, err := db.FindHostSnapshot(ctx, "h1", snapID('a')[:8]); err != nil || s.ID != snapID('a') {
		t.Errorf("by short id: %+v, %v", s, err)
	}
	if s, err := db.FindHostSnapshot(ctx, "h1", snapID('a')); err != nil || s.ID != snapID('a') {
		t.Errorf("by id: %+v, %v", s, err)
	}
	if _, err := db.FindHostSnapshot(ctx, "h2", snapID('a')); !errors.Is(err, ErrNotFound) {
		t.Errorf("another host's snapshot: %v", err)
	}
}
