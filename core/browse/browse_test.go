package browse

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "/", "/": "/", "/srv": "/srv", "/srv/": "/srv", "//srv//a": "/srv/a", "/a b/ü": "/a b/ü",
		"srv": "", "/srv/../etc": "", "/./srv": "", "/a\nb": "", "/a\x7fb": "", "/" + strings.Repeat("a", MaxPathLen): "",
	} {
		got, err := CleanPath(in)
		if want == "" {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("CleanPath(%q) = %q, %v; want ErrBadPath", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestNodesAndEviction feeds real-shaped node lines through the tap's
// entry point, skips lines that are no nodes, and keeps the cache at
// MaxSnapshots listings after a listing completes.
func TestNodesAndEviction(t *testing.T) {
	t.Parallel()
	c := newBenchCache(t)
	ctx := context.Background()
	c.svc.opts.MaxSnapshots = 1
	l, started, err := c.svc.Open(ctx, c.snap, "h1")
	if err != nil || !started || !c.svc.Tapped(l.JobID) || c.svc.Tapped("another job") {
		t.Fatalf("open: %+v %v %v", l, started, err)
	}
	lines := []string{
		`{"message_type":"node","name":"srv","type":"dir","path":"/srv","mtime":"2026-11-26T12:00:00Z"}`,
		`{"message_type":"node","name":"a.txt","type":"file","path":"/srv/a.txt","size":5,"mode":420}`,
		`{"message_type":"node","name":"x","type":"file","path":"relative/x"}`,
		`not json`,
	}
	if err := c.svc.Nodes(ctx, l.JobID, lines); err != nil {
		t.Fatal(err)
	}
	if err := c.db.FinishJob(ctx, l.JobID, store.JobEnd{Status: store.JobSucceeded, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	l, started, err = c.svc.Open(ctx, c.snap, "h1")
	if err != nil || started || l.Status != store.ListingComplete || l.Entries != 2 || c.svc.Tapped(l.JobID) {
		t.Fatalf("after the job: %+v %v %v", l, started, err)
	}
	p, err := c.svc.Folder(ctx, l, "/srv", "", 10)
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Size != 5 || p.Total != 1 {
		t.Fatalf("/srv: %+v, %v", p, err)
	}
	if _, err := c.svc.Folder(ctx, l, "/srv/a.txt", "", 10); !errors.Is(err, ErrNotFolder) {
		t.Errorf("a file as a folder: %v", err)
	}

	// A second snapshot listed: with room for one, the first goes.
	other := store.Snapshot{RepositoryID: "r1", ID: strings.Repeat("cd", 32), HostID: "h1", Time: time.Now()}
	if err := c.db.UpsertSnapshots(ctx, "", []store.Snapshot{other}, time.Now()); err != nil {
		t.Fatal(err)
	}
	l2, _, err := c.svc.Open(ctx, other, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.db.FinishJob(ctx, l2.JobID, store.JobEnd{Status: store.JobSucceeded, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.svc.Open(ctx, other, "h1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.db.GetSnapshotListing(ctx, "r1", c.snap.ID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the least recently browsed listing was not evicted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l, err := c.db.GetSnapshotListing(ctx, "r1", other.ID); err != nil || l.Status != store.ListingComplete {
		t.Errorf("the new listing: %+v, %v", l, err)
	}
}
