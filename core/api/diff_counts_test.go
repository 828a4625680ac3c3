package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

// A diff's counts are counted once, by the first read after its job ended,
// and stored; later reads take them from the store instead of counting
// the whole log again. A job whose counts were never stored (one from
// before they were kept) is counted from its log.
func TestDiffCountsAreStoredOnce(t *testing.T) {
	t.Parallel()
	d := newDiffEnv(t)
	d.online()
	from, to := d.snaps[0], d.snaps[1]
	var run diffRunningJSON
	d.want(call{method: "GET", path: d.path(from, to, ""), token: d.viewer}, http.StatusAccepted).decode(t, &run)
	if _, err := d.db.DiffCounts(t.Context(), run.JobID); err == nil {
		t.Fatal("a running diff has stored counts")
	}
	d.finish(run.JobID, store.JobSucceeded,
		[]string{change("/srv/new.txt", "+"), change("/srv/gone.txt", "-")},
		[]string{change("/srv/edited.txt", "M"), change("/srv/also-new.txt", "+")},
	)
	var out diffJSON
	d.want(call{method: "GET", path: d.path(from, to, "&limit=1"), token: d.viewer}, http.StatusOK).decode(t, &out)
	want := diffCountsJSON{Added: 2, Removed: 1, Modified: 1, Total: 4}
	if out.Counts != want || len(out.Changes) != 1 || out.Next == "" {
		t.Fatalf("first read: counts %+v, %d changes, next %q", out.Counts, len(out.Changes), out.Next)
	}
	raw, err := d.db.DiffCounts(t.Context(), run.JobID)
	if err != nil {
		t.Fatalf("the first read stored no counts: %v", err)
	}
	var stored diffCountsJSON
	if err := json.Unmarshal(raw, &stored); err != nil || stored != want {
		t.Fatalf("stored counts %s (%v), want %+v", raw, err, want)
	}

	// Counts stored for a job are what every read answers: the log is
	// not counted again.
	var run2 diffRunningJSON
	d.want(call{method: "GET", path: d.path(d.snaps[1], d.snaps[2], ""), token: d.viewer}, http.StatusAccepted).decode(t, &run2)
	d.finish(run2.JobID, store.JobSucceeded, []string{change("/srv/a", "+"), change("/srv/b", "+"), change("/srv/c", "-")})
	if err := d.db.SaveDiffCounts(t.Context(), run2.JobID, json.RawMessage(`{"added":40,"removed":2,"total":42}`)); err != nil {
		t.Fatal(err)
	}
	var pages []string
	after := ""
	for range 5 {
		var p diffJSON
		d.want(call{method: "GET", path: d.path(d.snaps[1], d.snaps[2], "&limit=2&after="+after), token: d.viewer}, http.StatusOK).decode(t, &p)
		if p.Counts != (diffCountsJSON{Added: 40, Removed: 2, Total: 42}) {
			t.Fatalf("counts %+v, want the stored ones", p.Counts)
		}
		for _, c := range p.Changes {
			pages = append(pages, c.Path)
		}
		if after = p.Next; after == "" {
			break
		}
	}
	if len(pages) != 3 || pages[0] != "/srv/a" || pages[2] != "/srv/c" {
		t.Errorf("pages with stored counts: %v", pages)
	}
}
