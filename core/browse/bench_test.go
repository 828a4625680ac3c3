package browse

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the host row is written beside the store

	"github.com/restic-manager/restic-manager/core/store"
)

// The listing cache with the real store, fed with real `restic ls --json`
// output: a 1,000-file snapshot made with the real restic, its node lines
// rewritten as the restic backend sends them, and copied under /cNNNN
// folders to reach the size wanted. The lines go through Service.Nodes,
// the hub tap's entry point, in batches as the hub's batcher hands them
// over. docs/benchmarks.md has the figures.

// resticBinary is $RESTIC_BINARY, else restic on PATH, else
// ~/go/bin/restic.
func resticBinary(tb testing.TB) string {
	tb.Helper()
	cands := []string{os.Getenv("RESTIC_BINARY"), "restic"}
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(home, "go", "bin", "restic"))
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	tb.Fatal("no restic binary: set RESTIC_BINARY")
	return ""
}

// resticNodeLines backs up a tree of 1,000 small files in 10 folders with
// the real restic and returns its `ls --json` node lines in the form the
// restic backend streams them: {"message_type":"node",…}.
func resticNodeLines(tb testing.TB) []string {
	tb.Helper()
	restic := resticBinary(tb)
	dir := tb.TempDir()
	src := filepath.Join(dir, "src")
	for i := range 1000 {
		p := filepath.Join(src, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("file-%04d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", i)), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	env := append(os.Environ(), "RESTIC_REPOSITORY="+filepath.Join(dir, "repo"), "RESTIC_PASSWORD=bench",
		"RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"))
	run := func(args ...string) []byte {
		cmd := exec.Command(restic, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			tb.Fatalf("restic %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	run("init")
	run("backup", "--json", src)
	var lines []string
	for raw := range strings.SplitSeq(string(run("ls", "--json", "latest")), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(raw), &m) != nil || m["message_type"] != "node" {
			continue
		}
		delete(m, "message_type")
		delete(m, "struct_type")
		b, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, `{"message_type":"node",`+string(b[1:]))
	}
	if len(lines) < 1000 {
		tb.Fatalf("restic ls gave %d node lines", len(lines))
	}
	return lines
}

type benchAgents struct{}

func (benchAgents) Online(string) bool                     { return true }
func (benchAgents) Dispatch(context.Context, string) error { return nil }

// benchCache is a store with host h1, repository r1 and a snapshot, and a
// Service over it.
type benchCache struct {
	db   *store.DB
	svc  *Service
	snap store.Snapshot
}

func newBenchCache(tb testing.TB) *benchCache {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "rm.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	if _, err := raw.Exec(`INSERT INTO hosts (id, name, enrolled_at, created_at, updated_at) VALUES ('h1', 'h1', ?, ?, ?)`,
		now.UnixMilli(), now.UnixMilli(), now.UnixMilli()); err != nil {
		tb.Fatal(err)
	}
	_ = raw.Close()
	if err := db.CreateRepository(ctx, store.Repository{ID: "r1", Name: "r1", URL: "/srv/r1", CreatedAt: now, UpdatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	snap := store.Snapshot{RepositoryID: "r1", ID: strings.Repeat("ab", 32), HostID: "h1", Time: now}
	if err := db.UpsertSnapshots(ctx, "", []store.Snapshot{snap}, now); err != nil {
		tb.Fatal(err)
	}
	svc, err := New(tb.Context(), Options{Store: db, Agents: benchAgents{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(svc.Wait)
	return &benchCache{db: db, svc: svc, snap: snap}
}

// fill lists the snapshot with copies × the restic lines (each copy under
// /cNNNN), batch lines per Nodes call, and returns the complete listing.
func (c *benchCache) fill(tb testing.TB, lines []string, copies, batch int) store.SnapshotListing {
	tb.Helper()
	ctx := context.Background()
	l, started, err := c.svc.Open(ctx, c.snap, "h1")
	if err != nil || !started {
		tb.Fatalf("open: %v, started %v", err, started)
	}
	buf := make([]string, 0, batch)
	flush := func() {
		if err := c.svc.Nodes(ctx, l.JobID, buf); err != nil {
			tb.Fatal(err)
		}
		buf = buf[:0]
	}
	for k := range copies {
		prefix := fmt.Sprintf("/c%04d", k)
		buf = append(buf, fmt.Sprintf(`{"message_type":"node","name":"c%04d","type":"dir","path":%q,"mode":2147484141,"mtime":"2026-11-26T12:00:00Z"}`, k, prefix))
		for _, line := range lines {
			buf = append(buf, strings.Replace(line, `"path":"/`, `"path":"`+prefix+`/`, 1))
			if len(buf) == batch {
				flush()
			}
		}
	}
	flush()
	if err := c.db.FinishJob(ctx, l.JobID, store.JobEnd{Status: store.JobSucceeded, At: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	l, _, err = c.svc.Open(ctx, c.snap, "h1")
	if err != nil || l.Status != store.ListingComplete {
		tb.Fatalf("listing %+v, %v", l, err)
	}
	return l
}

var (
	linesOnce sync.Once
	benchLine []string
)

func benchLines(b *testing.B) []string {
	linesOnce.Do(func() { benchLine = resticNodeLines(b) })
	return benchLine
}

// BenchmarkListingIngest stores a whole listing: entries/s is the rate at
// which the cache takes a listing in.
func BenchmarkListingIngest(b *testing.B) {
	lines := benchLines(b)
	for _, copies := range []int{200, 1000} {
		b.Run(fmt.Sprintf("entries=%d", copies*len(lines)), func(b *testing.B) {
			for range b.N {
				c := newBenchCache(b)
				start := time.Now()
				l := c.fill(b, lines, copies, 2560)
				b.ReportMetric(float64(l.Entries)/time.Since(start).Seconds(), "entries/s")
			}
		})
	}
}

// BenchmarkFolderFromCache reads folders of a 1,000,000-entry listing: a
// 100-entry folder's first page, a page after a cursor, the top folder
// (1,000 folders), and a search.
func BenchmarkFolderFromCache(b *testing.B) {
	lines := benchLines(b)
	c := newBenchCache(b)
	copies := 1_000_000 / len(lines)
	start := time.Now()
	l := c.fill(b, lines, copies, 2560)
	b.Logf("listed %d entries in %s", l.Entries, time.Since(start))
	ctx := context.Background()
	// The d05 folder (100 files) of the middle copy.
	hits, err := c.db.SearchSnapshotNodes(ctx, l.ID, "/d05/file-0500", 1)
	if err != nil || len(hits) == 0 {
		b.Fatalf("no d05 folder: %v", err)
	}
	dir := fmt.Sprintf("/c%04d", copies/2) + hits[0].Parent[len("/c0000"):]
	for name, read := range map[string]func() (int, error){
		"folder_100_first_page": func() (int, error) {
			p, err := c.svc.Folder(ctx, l, dir, "", DefaultPageSize)
			return len(p.Entries), err
		},
		"folder_100_after_cursor": func() (int, error) {
			p, err := c.svc.Folder(ctx, l, dir, "file-0549.txt", DefaultPageSize)
			return len(p.Entries), err
		},
		"top_folder_1000_dirs": func() (int, error) {
			p, err := c.svc.Folder(ctx, l, "/", "", MaxPageSize)
			return len(p.Entries), err
		},
		"search_1M": func() (int, error) {
			nodes, _, err := c.svc.Search(ctx, l, "c0500/", DefaultHits)
			return len(nodes), err
		},
		// A name in every copy (1,000 hits, the first 100 kept), case
		// changed: read until 101 are found.
		"search_name_contains": func() (int, error) {
			nodes, _, err := c.svc.Search(ctx, l, "FILE-0500.txt", DefaultHits)
			return len(nodes), err
		},
		// A word that matches nothing: the whole listing is read. Without
		// a "/" each folder and name is matched as stored; with one, every
		// entry's path is built and matched.
		"search_contains_none": func() (int, error) {
			nodes, _, err := c.svc.Search(ctx, l, "no-such-entry", DefaultHits)
			return len(nodes) + 1, err
		},
		"search_contains_none_slash": func() (int, error) {
			nodes, _, err := c.svc.Search(ctx, l, "no-such/entry", DefaultHits)
			return len(nodes) + 1, err
		},
	} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				n, err := read()
				if err != nil || n == 0 {
					b.Fatalf("%d entries, %v", n, err)
				}
			}
		})
	}
}
