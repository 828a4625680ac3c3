package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// measure creates the files, backs them up and makes every measurement,
// filling rep.
func (b *bench) measure(ctx context.Context, rep *report) error {
	parent, fs, err := treeParent(b.opts, b.Work)
	if err != nil {
		return err
	}
	b.treeRoot, err = os.MkdirTemp(parent, "rm-bench-browse1m-tree-")
	if err != nil {
		return err
	}
	b.treeFS = fs
	l := newLayout(filepath.Join(b.treeRoot, "data"), b.opts)
	rep.layout = l
	b.Progress("creating %d empty files in %d folders of %d and one of %d under %s (%s)", l.files, l.dirs, l.perDir, l.wide, l.root, fs)
	t0 := time.Now()
	if err := l.create(ctx); err != nil {
		return fmt.Errorf("creating the files: %w", err)
	}
	rep.create = time.Since(t0)
	b.Progress("created in %s", rep.create.Round(time.Millisecond))

	if err := b.StartServer(ctx, benchkit.ServerOptions{ClientTimeout: 10 * time.Minute, ReadyTimeout: 60 * time.Second}); err != nil {
		return err
	}
	if err := b.SetUp(ctx, benchkit.AgentOptions{Hostname: "bench-browse1m", LogLevel: "info"}); err != nil {
		return err
	}
	b.repoPassword = benchkit.RandomString(24)
	repo := filepath.Join(b.Work, "repo")
	if err := b.AddRepository(ctx, "bench", repo, b.repoPassword); err != nil {
		return err
	}
	snap, err := b.backup(ctx, l, rep)
	if err != nil {
		return err
	}
	if err := b.firstListing(ctx, l, snap, rep); err != nil {
		return fmt.Errorf("first listing: %w", err)
	}
	if err := b.cacheHits(ctx, l, snap, rep); err != nil {
		return fmt.Errorf("folders from the cache: %w", err)
	}
	if err := b.paging(ctx, l, snap, rep); err != nil {
		return fmt.Errorf("paging: %w", err)
	}
	if err := b.searches(ctx, l, snap, rep); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if b.opts.bareLs {
		if err := b.bareLs(ctx, repo, snap, rep); err != nil {
			return fmt.Errorf("bare restic ls: %w", err)
		}
	}
	return nil
}

// backup backs the tree up through the manager and returns the snapshot id.
func (b *bench) backup(ctx context.Context, l layout, rep *report) (string, error) {
	b.Progress("backing up %s through the server and the agent", l.root)
	t0 := time.Now()
	j, err := b.API.RunJob(ctx, b.HostID, benchkit.JobRequest{Kind: "backup", Repository: "bench", Paths: []string{l.root}})
	if err != nil {
		return "", err
	}
	if j, _, err = b.API.WaitJob(ctx, j.ID, time.Second, b.opts.timeout); err != nil {
		return "", err
	}
	rep.backup = time.Since(t0)
	if j.Status != "succeeded" {
		return "", fmt.Errorf("backup: %s: %s", j.Status, j.Error)
	}
	var sum struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if err := json.Unmarshal(j.Summary, &sum); err != nil || sum.SnapshotID == "" {
		return "", fmt.Errorf("backup summary %s: no snapshot_id", j.Summary)
	}
	rep.snapshot = sum.SnapshotID
	b.Progress("snapshot %s in %s; waiting for the host's follow-up jobs", sum.SnapshotID[:8], rep.backup.Round(time.Millisecond))
	if err := b.API.WaitQuiet(ctx, b.HostID, 30*time.Minute); err != nil {
		return "", err
	}
	return sum.SnapshotID, nil
}

// firstListing opens a deep folder of a snapshot the cache lacks, asks
// again every --poll until the listing is complete, and reads the
// processes' peak RSS (reset just before) and CPU.
func (b *bench) firstListing(ctx context.Context, l layout, snap string, rep *report) error {
	deep := l.dirPath(l.dirs / 2)
	rep.deep = deep
	pids := []int{b.Server.PID(), b.Agent.PID()}
	plugins := b.agentPlugins()
	pids = append(pids, plugins...)
	for _, pid := range pids {
		// "5" resets VmHWM to the current RSS (Linux 4.0 and later).
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o600); err != nil { //nolint:gosec // G703: /proc of our own child
			return fmt.Errorf("resetting the peak RSS of %d: %w", pid, err)
		}
	}
	rep.serverRSSBefore, _ = benchkit.StatusField(fmt.Sprintf("/proc/%d/status", b.Server.PID()), "VmRSS")
	rep.agentRSSBefore = b.rssSum(append([]int{b.Agent.PID()}, plugins...), "VmRSS")
	cpu0 := b.cpu()

	b.Progress("first listing: opening %s", deep)
	t0 := time.Now()
	first, code, err := folderPage(ctx, b.API, b.HostID, snap, deep, "", 200)
	if err != nil {
		return err
	}
	rep.firstAnswer = time.Since(t0)
	if code != http.StatusAccepted || first.Status != "listing" || first.JobID == "" {
		return fmt.Errorf("first request: HTTP %d, status %q, job %q: want 202, listing and a job", code, first.Status, first.JobID)
	}
	rep.listJob = first.JobID
	deadline := t0.Add(b.opts.timeout)
	lastReport := t0
	for {
		if err := benchkit.Sleep(ctx, b.opts.poll); err != nil {
			return err
		}
		p, code, err := folderPage(ctx, b.API, b.HostID, snap, deep, "", 200)
		if err != nil {
			return err
		}
		now := time.Now()
		if code == http.StatusOK {
			rep.firstListing = now.Sub(t0)
			rep.firstPage = p
			break
		}
		if p.JobID != first.JobID {
			return fmt.Errorf("while listing: job %q, want %q", p.JobID, first.JobID)
		}
		if p.EntriesSoFar > 0 && rep.firstEntries == 0 {
			rep.firstEntries = now.Sub(t0)
		}
		if now.Sub(lastReport) >= 30*time.Second {
			b.Progress("  %d entries so far (%s)", p.EntriesSoFar, now.Sub(t0).Round(time.Second))
			lastReport = now
		}
		if now.After(deadline) {
			return fmt.Errorf("not complete after %s: %d entries so far", b.opts.timeout, p.EntriesSoFar)
		}
		if b.Server.Exited() || b.Agent.Exited() {
			return errors.New("the server or the agent exited")
		}
	}
	rep.listCPU = b.cpu().sub(cpu0)
	rep.serverRSSPeak, _ = benchkit.StatusField(fmt.Sprintf("/proc/%d/status", b.Server.PID()), "VmHWM")
	rep.serverRSSAfter, _ = benchkit.StatusField(fmt.Sprintf("/proc/%d/status", b.Server.PID()), "VmRSS")
	rep.agentRSSPeak = b.rssSum(append([]int{b.Agent.PID()}, plugins...), "VmHWM")
	j, err := b.API.Job(ctx, first.JobID)
	if err != nil {
		return err
	}
	rep.listRan = j.Ran()
	p := rep.firstPage
	if p.Total != int64(l.filesIn(l.dirs/2)) || len(p.Items) != min(200, l.filesIn(l.dirs/2)) || p.Items[0].Name != fileName(0, l.perDir) {
		return fmt.Errorf("%s: total %d, %d items: want %d files from %s", deep, p.Total, len(p.Items), l.filesIn(l.dirs/2), fileName(0, l.perDir))
	}
	if p.Entries != int64(l.entries()) {
		return fmt.Errorf("the listing holds %d entries, want %d", p.Entries, l.entries())
	}
	b.Progress("listed %d entries in %s (job ran %s)", p.Entries, rep.firstListing.Round(time.Millisecond), rep.listRan.Round(time.Millisecond))
	return nil
}

// cacheHits opens other folders' first pages, a page after a cursor, the
// tree's root (its groups and the wide folder) and a group (its folders).
func (b *bench) cacheHits(ctx context.Context, l layout, snap string, rep *report) error {
	n := min(b.opts.folders, l.dirs-1)
	for k := range n {
		i := (k*l.dirs/n + 7) % l.dirs
		if i == l.dirs/2 {
			i = (i + 1) % l.dirs
		}
		d, err := b.timedTree(ctx, snap, l.dirPath(i), "", 200, int64(l.filesIn(i)))
		if err != nil {
			return err
		}
		rep.folders = append(rep.folders, d)
	}
	mid := fileName(l.perDir/2-1, l.perDir) // --per-dir is at least 2
	var err error
	if rep.afterCursor, err = b.timedTree(ctx, snap, l.dirPath(1), mid, 200, int64(l.filesIn(1))); err != nil {
		return err
	}
	if rep.rootFolder, err = b.timedTree(ctx, snap, l.root, "", 1000, int64(l.groups()+1)); err != nil {
		return err
	}
	if rep.groupFolder, err = b.timedTree(ctx, snap, l.groupPath(0), "", 1000, int64(min(dirsPerGroup, l.dirs))); err != nil {
		return err
	}
	b.Progress("%d folders from the cache, median %s", len(rep.folders), median(rep.folders).Round(time.Microsecond))
	return nil
}

func (b *bench) timedTree(ctx context.Context, snap, dir, after string, limit int, total int64) (time.Duration, error) {
	t0 := time.Now()
	p, code, err := folderPage(ctx, b.API, b.HostID, snap, dir, after, limit)
	d := time.Since(t0)
	if err != nil {
		return d, err
	}
	if code != http.StatusOK || p.Total != total || len(p.Items) == 0 {
		return d, fmt.Errorf("%s: HTTP %d, total %d, %d items: want 200 and %d entries", dir, code, p.Total, len(p.Items), total)
	}
	return d, nil
}

// paging walks the wide folder page by page with each page size, checking
// every name comes once and in order.
func (b *bench) paging(ctx context.Context, l layout, snap string, rep *report) error {
	for _, limit := range []int{200, 1000} {
		pr := pagingResult{limit: limit}
		after, seen := "", 0
		t0 := time.Now()
		for {
			t1 := time.Now()
			p, code, err := folderPage(ctx, b.API, b.HostID, snap, l.widePath(), after, limit)
			if err != nil {
				return err
			}
			pr.pages = append(pr.pages, time.Since(t1))
			if code != http.StatusOK || p.Total != int64(l.wide) {
				return fmt.Errorf("%s: HTTP %d, total %d", l.widePath(), code, p.Total)
			}
			for _, it := range p.Items {
				if it.Name != fileName(seen, l.wide) {
					return fmt.Errorf("%s: entry %d is %q, want %q", l.widePath(), seen, it.Name, fileName(seen, l.wide))
				}
				seen++
			}
			if p.NextCursor == "" {
				break
			}
			after = p.NextCursor
		}
		pr.total = time.Since(t0)
		if seen != l.wide {
			return fmt.Errorf("%s: %d entries over %d pages, want %d", l.widePath(), seen, len(pr.pages), l.wide)
		}
		rep.paging = append(rep.paging, pr)
	}
	return nil
}

// searches: one path that matches once (the whole snapshot is scanned), a
// name in every folder (stops at the limit) and a text that matches
// nothing (a full scan).
func (b *bench) searches(ctx context.Context, l layout, snap string, rep *report) error {
	last := l.dirs - 1
	one := filepath.Base(l.dirPath(last)) + "/" + fileName(l.filesIn(last)-1, l.perDir)
	every := "/" + fileName(0, l.perDir)
	n := l.nameMatches(every)
	cases := []struct {
		label, q  string
		hits      int
		truncated bool
	}{
		{"one match, in the last folder", one, 1, false},
		{"a name in every folder (limit 100)", every, min(n, 100), n > 100},
		{"no match", "no-such-entry", 0, false},
	}
	for _, c := range cases {
		t0 := time.Now()
		r, err := searchSnapshot(ctx, b.API, b.HostID, snap, c.q, 100)
		d := time.Since(t0)
		if err != nil {
			return err
		}
		if len(r.Items) != c.hits || r.Truncated != c.truncated {
			return fmt.Errorf("search %q: %d hits, truncated %v: want %d, %v", c.q, len(r.Items), r.Truncated, c.hits, c.truncated)
		}
		rep.searches = append(rep.searches, searchTiming{label: c.label, q: c.q, hits: len(r.Items), took: d})
	}
	return nil
}

// bareLs times `restic ls --json SNAP` with its output counted and
// dropped, as the plugin runs it.
func (b *bench) bareLs(ctx context.Context, repo, snap string, rep *report) error {
	b.Progress("bare restic ls --json")
	cmd := exec.CommandContext(ctx, b.Env.Restic, "ls", "--json", snap) //nolint:gosec // G204: the restic under test
	cmd.Env = append(b.ChildEnv(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+b.repoPassword)
	lines := &lineCounter{}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = lines, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, stderr.String())
	}
	rep.bareLs = time.Since(t0)
	rep.bareLsLines, rep.bareLsBytes = lines.n, lines.bytes
	rep.bareLsCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return nil
}

type lineCounter struct{ n, bytes int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += int64(bytes.Count(p, []byte{'\n'}))
	c.bytes += int64(len(p))
	return len(p), nil
}

// agentPlugins are the agent's child processes other than restic.
func (b *bench) agentPlugins() []int {
	var out []int
	for _, pid := range benchkit.Descendants(b.Agent.PID()) {
		if benchkit.ExePath(pid) != b.Env.Restic {
			out = append(out, pid)
		}
	}
	return out
}

func (b *bench) rssSum(pids []int, field string) int64 {
	var sum int64
	for _, pid := range pids {
		if kb, err := benchkit.StatusField("/proc/"+strconv.Itoa(pid)+"/status", field); err == nil {
			sum += kb
		}
	}
	return sum
}

// cpuUse is CPU time used so far, by process.
type cpuUse struct {
	server, agent, plugins time.Duration
}

func (c cpuUse) sub(d cpuUse) cpuUse {
	return cpuUse{server: c.server - d.server, agent: c.agent - d.agent, plugins: c.plugins - d.plugins}
}

func (b *bench) cpu() cpuUse {
	var c cpuUse
	add := func(to *time.Duration, pid int) {
		if st, err := benchkit.ReadStat(pid); err == nil {
			*to += st.CPU
		}
	}
	add(&c.server, b.Server.PID())
	add(&c.agent, b.Agent.PID())
	for _, pid := range b.agentPlugins() {
		add(&c.plugins, pid)
	}
	return c
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
