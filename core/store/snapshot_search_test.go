package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A search without "/" matches folders and names as stored (no path is
// built); it finds what the whole-path match finds, in the same order, and
// one with "/" still matches across a folder and a name.
func TestSnapshotSearchContains(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	l := listingFixture(t, db, snapID('c'))
	nodes := []SnapshotNode{
		{Parent: "/", Name: "Home", Type: "dir"},
		{Parent: "/Home", Name: "Alice", Type: "dir"},
		{Parent: "/Home/Alice", Name: "Report.pdf", Type: "file", Size: 7},
		{Parent: "/Home/Alice", Name: "report-old.pdf", Type: "file"},
		{Parent: "/Home/Alice", Name: "my report.txt", Type: "file"},
		{Parent: "/Home/Alice", Name: "reporter", Type: "dir"},
		{Parent: "/Home/Alice/reporter", Name: "notes", Type: "file"},
		{Parent: "/Home", Name: "Bob", Type: "dir"},
		{Parent: "/Home/Bob", Name: "repo%rt", Type: "file"},
		{Parent: "/Home/Bob", Name: "rep", Type: "file"},
		{Parent: "/Home/Bob", Name: "résumé", Type: "file"},
	}
	if _, err := db.AddSnapshotNodes(ctx, l.ID, nodes); err != nil {
		t.Fatal(err)
	}
	paths := func(ns []SnapshotNode) string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = n.Path()
		}
		return fmt.Sprint(out)
	}
	// The reference: every entry whose whole path contains q, ASCII case
	// ignored, in key order (folder, folders first, name).
	want := func(q string) string {
		var hits []SnapshotNode
		for _, n := range nodes {
			if strings.Contains(asciiFold(n.Path()), asciiFold(q)) {
				hits = append(hits, n)
			}
		}
		slices.SortFunc(hits, func(a, b SnapshotNode) int {
			return cmp.Or(cmp.Compare(a.Parent, b.Parent), cmp.Compare(dirRank(a.Type), dirRank(b.Type)), cmp.Compare(a.Name, b.Name))
		})
		return paths(hits)
	}
	for _, q := range []string{"ALICE", "port", "rep", "e/a", "/home/bob/", "%", "_", "o%r", "é", "Home", "notes", "x"} {
		got, err := db.SearchSnapshotNodes(ctx, l.ID, q, 100)
		if err != nil || paths(got) != want(q) {
			t.Errorf("search %q: %s, %v; want %s", q, paths(got), err, want(q))
		}
	}
	if got, _ := db.SearchSnapshotNodes(ctx, l.ID, "alice", 2); paths(got) != "[/Home/Alice /Home/Alice/reporter]" {
		t.Errorf("search bounded by its limit: %s", paths(got))
	}
}

func asciiFold(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
