package backend

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// The repository-care jobs with the real restic: retention (dry run, then
// for real), copy to a second repository, the repository stats and a
// check of a subset of the data. Each runs against restictest.Binaries:
// the default restic, and any older one named in $RESTIC_EXTRA_BINARIES.

// configuredWith is configured for a given restic binary.
func configuredWith(t *testing.T, bin string) sdk.Backend {
	t.Helper()
	b := connect(t)
	cfg, _ := json.Marshal(map[string]any{
		"restic_binary": bin, "progress_fps": 20, "kill_grace": "5s",
		"cache_dir": filepath.Join(t.TempDir(), "cache"),
	})
	if err := b.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("configure %s: %v", bin, err)
	}
	return b
}

// eachRestic runs fn in a subtest per restic binary.
func eachRestic(t *testing.T, fn func(t *testing.T, b sdk.Backend)) {
	t.Helper()
	for _, bin := range restictest.Binaries(t) {
		t.Run(filepath.Base(filepath.Dir(bin))+"_"+filepath.Base(bin), func(t *testing.T) {
			t.Parallel()
			fn(t, configuredWith(t, bin))
		})
	}
}

// snapshotIDs lists the repository's snapshot ids, sorted.
func snapshotIDs(t *testing.T, b sdk.Backend, repo sdk.Repository) []string {
	t.Helper()
	_, res := mustRun(t, b, sdk.Job{ID: "list", Kind: sdk.JobSnapshots, Repository: repo})
	var snaps []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(res.Output, &snaps); err != nil {
		t.Fatalf("snapshots output %s: %v", res.Output, err)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return ids
}

// planOf decodes a forget job's output and checks it is one with its
// summary.
func planOf(t *testing.T, evs *recorder, res sdk.Result) forgetResultDoc {
	t.Helper()
	var plan forgetResultDoc
	if err := json.Unmarshal(res.Output, &plan); err != nil {
		t.Fatalf("forget output %s: %v", res.Output, err)
	}
	sums := evs.summaries()
	if len(sums) != 1 || string(sums[0].Raw) != string(res.Output) {
		t.Errorf("forget: the summary is not the output: %s", evs.dump())
	}
	// Each snapshot is in one group's keep or remove, and the top-level
	// lists are the groups' union.
	var kept, removed []string
	for _, g := range plan.Groups {
		for _, s := range g.Keep {
			kept = append(kept, s.ID)
			if len(s.Reasons) == 0 {
				t.Errorf("kept snapshot %s has no reason", s.ID)
			}
		}
		for _, s := range g.Remove {
			removed = append(removed, s.ID)
		}
	}
	sort.Strings(kept)
	sort.Strings(removed)
	if !slices.Equal(kept, sorted(plan.Kept)) || !slices.Equal(removed, sorted(plan.Removed)) {
		t.Errorf("plan lists disagree with its groups: %s", res.Output)
	}
	return plan
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// shorts is ids as short ids, sorted: restic before 0.17 reports a
// backup's snapshot by its short id.
func shorts(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, id[:min(8, len(id))])
	}
	sort.Strings(out)
	return out
}

func groupKey(g forgetPlanGroup) string {
	return g.Host + "|" + strings.Join(g.Paths, ",") + "|" + strings.Join(g.Tags, ",")
}

// TestRetentionDryRunIsWhatForgetRemoves: a dry run's plan lists, per
// group, exactly the snapshots the real forget then removes and keeps,
// for grouping by host and paths and by host alone, with and without
// prune.
func TestRetentionDryRunIsWhatForgetRemoves(t *testing.T) {
	t.Parallel()
	eachRestic(t, func(t *testing.T, b sdk.Backend) {
		repo := newRepository(t, b)
		dataA := filepath.Join(t.TempDir(), "a")
		dataB := filepath.Join(t.TempDir(), "b")
		backup := func(host, dir string, n int, tags ...string) []string {
			var ids []string
			for i := range n {
				restictest.WriteFile(t, filepath.Join(dir, "f.txt"), restictest.RandomBytes(t, 64+i))
				_, res := mustRun(t, b, sdk.Job{ID: "backup", Kind: sdk.JobBackup, Repository: repo, Args: sdk.Args{
					Paths: []string{dir}, Host: host, Tags: tags,
				}})
				ids = append(ids, res.SnapshotID)
			}
			return ids
		}
		alphaA := backup("alpha", dataA, 4)
		alphaB := backup("alpha", dataB, 2)
		betaA := backup("beta", dataA, 3, "db")
		all := snapshotIDs(t, b, repo)
		if len(all) != 9 {
			t.Fatalf("%d snapshots after 9 backups", len(all))
		}

		// keep-last 2 per host and paths (restic's default grouping): the
		// two oldest of alpha:/a and the oldest of beta:/a go.
		policy := &sdk.Retention{KeepLast: 2, GroupBy: "host,paths"}
		evs, res := mustRun(t, b, sdk.Job{ID: "plan1", Kind: sdk.JobForget, Repository: repo, Args: sdk.Args{Retention: policy, DryRun: true}})
		plan := planOf(t, evs, res)
		if !plan.DryRun || len(plan.Groups) != 3 {
			t.Fatalf("plan: %s", res.Output)
		}
		wantGroups := map[string][2][]string{
			"alpha|" + dataA + "|": {alphaA[2:], alphaA[:2]},
			"alpha|" + dataB + "|": {alphaB, nil},
			"beta|" + dataA + "|":  {betaA[1:], betaA[:1]},
		}
		for _, g := range plan.Groups {
			want, ok := wantGroups[groupKey(g)]
			if !ok {
				t.Errorf("unexpected group %s", groupKey(g))
				continue
			}
			var keep, remove []string
			for _, s := range g.Keep {
				keep = append(keep, s.ID)
			}
			for _, s := range g.Remove {
				remove = append(remove, s.ID)
			}
			if !slices.Equal(shorts(keep), shorts(want[0])) || !slices.Equal(shorts(remove), shorts(want[1])) {
				t.Errorf("group %s: keep %v remove %v, want keep %v remove %v", groupKey(g), keep, remove, want[0], want[1])
			}
		}
		if got := snapshotIDs(t, b, repo); !slices.Equal(got, all) {
			t.Fatalf("a dry run removed snapshots: %v", got)
		}

		// The real forget removes exactly the plan's snapshots.
		evs, res = mustRun(t, b, sdk.Job{ID: "forget1", Kind: sdk.JobForget, Repository: repo, Args: sdk.Args{Retention: policy}})
		done := planOf(t, evs, res)
		if done.DryRun || !slices.Equal(sorted(done.Removed), sorted(plan.Removed)) {
			t.Errorf("forget removed %v, the plan said %v", done.Removed, plan.Removed)
		}
		if got := snapshotIDs(t, b, repo); !slices.Equal(got, sorted(plan.Kept)) {
			t.Errorf("after forget: %v, the plan kept %v", got, sorted(plan.Kept))
		}

		// keep-last 1 per host, with prune: a dry run (prune's too), then
		// for real.
		policy = &sdk.Retention{KeepLast: 1, GroupBy: "host"}
		evs, res = mustRun(t, b, sdk.Job{ID: "plan2", Kind: sdk.JobForget, Repository: repo, Args: sdk.Args{Retention: policy, DryRun: true, Prune: true}})
		plan = planOf(t, evs, res)
		if len(plan.Groups) != 2 || len(plan.Kept) != 2 || len(plan.Removed) != 4 {
			t.Fatalf("plan by host: %s", res.Output)
		}
		for _, g := range plan.Groups {
			if len(g.Paths) != 0 || (g.Host != "alpha" && g.Host != "beta") {
				t.Errorf("group by host has %+v", g)
			}
		}
		before := snapshotIDs(t, b, repo)
		if len(before) != 6 {
			t.Fatalf("a dry run with prune removed snapshots: %v", before)
		}
		evs, res = mustRun(t, b, sdk.Job{ID: "forget2", Kind: sdk.JobForget, Repository: repo, Args: sdk.Args{Retention: policy, Prune: true}})
		done = planOf(t, evs, res)
		if !slices.Equal(sorted(done.Removed), sorted(plan.Removed)) {
			t.Errorf("forget --prune removed %v, the plan said %v", done.Removed, plan.Removed)
		}
		if got := snapshotIDs(t, b, repo); !slices.Equal(got, sorted(plan.Kept)) {
			t.Errorf("after forget --prune: %v, the plan kept %v", got, sorted(plan.Kept))
		}
		if !strings.Contains(evs.text(), "remaining") {
			t.Errorf("forget --prune: no prune report in the log: %s", evs.dump())
		}
		for _, e := range []*recorder{evs} {
			if strings.Contains(e.text(), repo.Password) {
				t.Fatal("the password is in the events")
			}
		}
	})
}

// procWatch records, while a job runs, every process whose argv holds
// one of the needles, and whether a restic copy was seen at all.
type procWatch struct {
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	leaks    []string
	sawCopy  bool
	listFail error
}

func watchArgv(t *testing.T, needles ...string) *procWatch {
	t.Helper()
	w := &procWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			procs, err := restictest.Procs()
			w.mu.Lock()
			if err != nil {
				w.listFail = err
			}
			for _, p := range procs {
				argv := strings.Join(p.Argv, " ")
				if strings.Contains(argv, " copy ") && strings.Contains(argv, "restic") {
					w.sawCopy = true
				}
				for _, n := range needles {
					if strings.Contains(argv, n) {
						w.leaks = append(w.leaks, argv)
					}
				}
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *procWatch) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listFail != nil {
		t.Logf("process list: %v", w.listFail)
		return
	}
	if len(w.leaks) > 0 {
		t.Errorf("a password in argv: %q", w.leaks)
	}
	if !w.sawCopy {
		t.Error("the watcher never saw restic copy running; it proves nothing")
	}
}

// TestCopyToSecondRepository copies the latest snapshot of a host, then
// the rest, into a second repository with its own password: the copies
// have the same trees as the originals, restic skips what it copied
// before, and neither password reaches argv or the events.
func TestCopyToSecondRepository(t *testing.T) {
	t.Parallel()
	eachRestic(t, func(t *testing.T, b sdk.Backend) {
		src := newRepository(t, b)
		dst := newRepository(t, b)
		data := filepath.Join(t.TempDir(), "data")
		restictest.WriteRandomFile(t, filepath.Join(data, "big.bin"), 8<<20)
		type snap struct {
			ID       string `json:"id"`
			ShortID  string `json:"short_id"`
			Tree     string `json:"tree"`
			Original string `json:"original"`
			Hostname string `json:"hostname"`
		}
		list := func(repo sdk.Repository) []snap {
			_, res := mustRun(t, b, sdk.Job{ID: "list", Kind: sdk.JobSnapshots, Repository: repo})
			var out []snap
			if err := json.Unmarshal(res.Output, &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		mustRun(t, b, sdk.Job{ID: "b1", Kind: sdk.JobBackup, Repository: src, Args: sdk.Args{Paths: []string{data}, Host: "web1"}})
		restictest.WriteFile(t, filepath.Join(data, "more.txt"), []byte("more\n"))
		_, res := mustRun(t, b, sdk.Job{ID: "b2", Kind: sdk.JobBackup, Repository: src, Args: sdk.Args{Paths: []string{data}, Host: "web1"}})
		latest := res.SnapshotID[:8]
		mustRun(t, b, sdk.Job{ID: "b3", Kind: sdk.JobBackup, Repository: src, Args: sdk.Args{Paths: []string{data}, Host: "db1"}})
		srcSnaps := list(src)
		if len(srcSnaps) != 3 {
			t.Fatalf("source has %d snapshots", len(srcSnaps))
		}

		copyJob := func(id string, args sdk.Args) (*recorder, sdk.Result) {
			args.ToRepository = "repo_dst"
			return mustRun(t, b, sdk.Job{ID: id, Kind: sdk.JobCopy, Repository: src, ToRepository: &dst, Args: args})
		}
		watch := watchArgv(t, src.Password, dst.Password)
		evs, res := copyJob("copy1", sdk.Args{Snapshots: []string{"latest"}, Host: "web1"})
		watch.finish(t)
		var out copyResultDoc
		if err := json.Unmarshal(res.Output, &out); err != nil || out.MessageType != "copy_result" ||
			len(out.Copied) != 1 || out.Copied[0].Source != latest || len(out.Skipped) != 0 {
			t.Fatalf("copy output %s (%v); events %s", res.Output, err, evs.dump())
		}
		dstSnaps := list(dst)
		if len(dstSnaps) != 1 {
			t.Fatalf("destination has %d snapshots", len(dstSnaps))
		}
		var orig snap
		for _, s := range srcSnaps {
			if s.ShortID == latest {
				orig = s
			}
		}
		got := dstSnaps[0]
		if got.Tree != orig.Tree || got.Original != orig.ID || got.ShortID != out.Copied[0].Snapshot || got.Hostname != "web1" {
			t.Errorf("copy %+v of %+v: want the same tree, original = the source's id", got, orig)
		}

		// Copy everything: two new ones, the one from before skipped.
		evs2, res := copyJob("copy2", sdk.Args{})
		if err := json.Unmarshal(res.Output, &out); err != nil || len(out.Copied) != 2 || len(out.Skipped) != 1 ||
			out.Skipped[0].Source != latest || out.Skipped[0].Snapshot != got.ShortID {
			t.Fatalf("second copy output %s", res.Output)
		}
		trees := map[string]string{}
		for _, s := range srcSnaps {
			trees[s.ID] = s.Tree
		}
		dstSnaps = list(dst)
		if len(dstSnaps) != 3 {
			t.Fatalf("destination has %d snapshots after copying all", len(dstSnaps))
		}
		for _, s := range dstSnaps {
			if trees[s.Original] != s.Tree {
				t.Errorf("copy %s of %s has tree %s, the original %s", s.ID, s.Original, s.Tree, trees[s.Original])
			}
		}
		for _, e := range []*recorder{evs, evs2} {
			if strings.Contains(e.text(), src.Password) || strings.Contains(e.text(), dst.Password) {
				t.Fatalf("a password is in the events: %s", e.dump())
			}
		}

		// A wrong destination password is restic's error, with no secret.
		bad := dst
		bad.Password = "wrong-" + dst.Password
		_, _, err := run(t, b, sdk.Job{ID: "copy3", Kind: sdk.JobCopy, Repository: src, ToRepository: &bad})
		if err == nil || strings.Contains(err.Error(), bad.Password) || strings.Contains(err.Error(), src.Password) {
			t.Errorf("copy with a wrong destination password: %v", err)
		}
	})
}

// TestCopyWithoutDestination: a copy whose host passed no destination
// credentials is unsupported, before restic runs.
func TestCopyWithoutDestination(t *testing.T) {
	t.Parallel()
	b := configured(t)
	repo := sdk.Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: "pw"}
	evs, res, err := run(t, b, sdk.Job{ID: "c", Kind: sdk.JobCopy, Repository: repo, Args: sdk.Args{ToRepository: "repo_2"}})
	if !errors.Is(err, plugin.ErrUnsupported) || !strings.Contains(err.Error(), "repo_2") || len(evs.all()) != 0 || res.ExitCode != 0 {
		t.Fatalf("copy without destination: %v, %+v, %s", err, res, evs.dump())
	}
	// The same repository on both sides is refused.
	_, _, err = run(t, b, sdk.Job{ID: "c2", Kind: sdk.JobCopy, Repository: repo, ToRepository: &repo})
	if err == nil || !strings.Contains(err.Error(), "same repository") {
		t.Fatalf("copy onto itself: %v", err)
	}
}

// TestRepositoryStatsAndCheckSubset: the repository mode reports both of
// restic's views as one document; raw-data alone gives restic's fields;
// check reads each form of subset, and a bad one is refused unrun.
func TestRepositoryStatsAndCheckSubset(t *testing.T) {
	t.Parallel()
	eachRestic(t, func(t *testing.T, b sdk.Backend) {
		repo := newRepository(t, b)
		data := filepath.Join(t.TempDir(), "data")
		// 4 MiB that compresses well, and 2 MiB that does not.
		restictest.WriteFile(t, filepath.Join(data, "text.txt"), []byte(strings.Repeat("restic-manager stats ", 200_000)))
		restictest.WriteRandomFile(t, filepath.Join(data, "random.bin"), 2<<20)
		for range 2 { // the same data twice: deduplicated
			mustRun(t, b, sdk.Job{ID: "b", Kind: sdk.JobBackup, Repository: repo, Args: sdk.Args{Paths: []string{data}}})
		}
		const fileBytes = 200_000*21 + 2<<20

		evs, res := mustRun(t, b, sdk.Job{ID: "st", Kind: sdk.JobStats, Repository: repo, Args: sdk.Args{Extra: json.RawMessage(`{"mode":"repository"}`)}})
		var doc map[string]any
		if err := json.Unmarshal(res.Output, &doc); err != nil {
			t.Fatalf("stats output %s", res.Output)
		}
		num := func(k string) float64 { v, _ := doc[k].(float64); return v }
		if doc["message_type"] != "repository_stats" || num("snapshots_count") != 2 ||
			num("total_size") != 2*fileBytes || num("total_file_count") < 4 || // restore-size counts directories too
			num("raw_data_size") <= 0 || num("raw_data_size") > fileBytes || num("total_blob_count") <= 0 ||
			num("dedup_ratio") < 1.9 || num("space_saving") < 50 {
			t.Errorf("repository stats %s", res.Output)
		}
		if sums := evs.summaries(); len(sums) != 1 || string(sums[0].Raw) != string(res.Output) {
			t.Errorf("stats summary: %s", evs.dump())
		}
		modes := map[any]bool{}
		for _, l := range evs.data(t, "stats") {
			modes[l["mode"]] = true
		}
		if !modes["raw-data"] || !modes["restore-size"] {
			t.Errorf("stats lines: %s", evs.dump())
		}
		compressed := false
		if _, ok := doc["total_uncompressed_size"]; ok {
			// Repository format 2 (restic >= 0.15 reports compression).
			compressed = true
			if num("total_uncompressed_size") < num("raw_data_size") || num("compression_ratio") <= 1.5 ||
				num("compression_space_saving") <= 0 {
				t.Errorf("compression figures %s", res.Output)
			}
		}
		t.Logf("repository stats (compression reported: %v): %s", compressed, res.Output)

		// raw-data alone: restic's document as it printed it.
		_, res = mustRun(t, b, sdk.Job{ID: "raw", Kind: sdk.JobStats, Repository: repo, Args: sdk.Args{Extra: json.RawMessage(`{"mode":"raw-data"}`)}})
		var raw rawDataStats
		if err := json.Unmarshal(res.Output, &raw); err != nil || raw.SnapshotsCount != 2 || raw.TotalSize != uint64(num("raw_data_size")) {
			t.Errorf("raw-data output %s", res.Output)
		}

		for _, subset := range []string{"1/2", "2/2", "30%", "1M"} {
			evs, _ := mustRun(t, b, sdk.Job{ID: "check", Kind: sdk.JobCheck, Repository: repo, Args: sdk.Args{ReadDataSubset: subset}})
			if len(evs.errors()) != 0 {
				t.Errorf("check %s: %s", subset, evs.dump())
			}
		}
		for _, subset := range []string{"0/2", "3/2", "0%", "150%", "lots"} {
			evs, _, err := run(t, b, sdk.Job{ID: "check", Kind: sdk.JobCheck, Repository: repo, Args: sdk.Args{ReadDataSubset: subset}})
			if err == nil || !strings.Contains(err.Error(), "read-data-subset") || len(evs.all()) != 0 {
				t.Errorf("check %s: %v, %s", subset, err, evs.dump())
			}
		}
	})
}
