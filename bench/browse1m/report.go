package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// report is what the run measured.
type report struct {
	opts                  options
	env                   environment
	start, end            time.Time
	loadBefore, loadAfter string
	layout                layout
	create, backup        time.Duration
	snapshot              string
	deep                  string
	listJob               string
	firstAnswer           time.Duration // the first request's 202
	firstEntries          time.Duration // first poll that saw entries
	firstListing          time.Duration // first request → the tree answers 200
	listRan               time.Duration // the ls job's run, as the server recorded it
	firstPage             treePage
	listCPU               cpuUse
	serverRSSBefore       int64 // KiB
	serverRSSPeak         int64
	serverRSSAfter        int64
	agentRSSBefore        int64 // agent and its plugin, KiB
	agentRSSPeak          int64
	folders               []time.Duration
	afterCursor           time.Duration
	rootFolder            time.Duration
	groupFolder           time.Duration
	paging                []pagingResult
	searches              []searchTiming
	bareLs, bareLsCPU     time.Duration
	bareLsLines           int64
	bareLsBytes           int64
}

type pagingResult struct {
	limit int
	pages []time.Duration
	total time.Duration
}

type searchTiming struct {
	label, q string
	hits     int
	took     time.Duration
}

func (r *report) write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	l := r.layout
	p("# Snapshot browser, %s files (bench/browse1m)", thousands(int64(l.files)))
	p("")
	p("%s to %s UTC, load average %s before and %s after.", r.start.UTC().Format("2006-01-02 15:04"), r.end.UTC().Format("15:04"), r.loadBefore, r.loadAfter)
	p("%d cores (%s), %s RAM, Linux %s, %s, %s.", r.env.Cores, r.env.CPU, r.env.memTotal(), r.env.Kernel, r.env.GoVersion, r.env.ResticVersion)
	if r.env.Source != "" {
		p("Server and agent built from %s.", r.env.Source)
	}
	p("")
	p("Command: `%s`", strings.TrimSpace("go run ./bench/browse1m "+r.flags()))
	p("")
	p("- Tree: %s empty files, %d folders of %d in %s and one folder of %d, on %s; created in %s.",
		thousands(int64(l.files)), l.dirs, l.perDir, plural(l.groups(), "group"), l.wide, r.env.treeFS, r.create.Round(time.Millisecond))
	p("- Backup through the server and the agent (API call → job ended): %s, snapshot %s.", r.backup.Round(time.Millisecond), short(r.snapshot))
	p("- The listing holds %s entries (files, folders and the folders above the tree).", thousands(r.firstPage.Entries))
	p("")
	p("| measurement | through the HTTP API |")
	p("| --- | --- |")
	p("| first listing: `GET …/tree` of `%s` → 202, the agent's `restic ls --json` streamed into the cache, until the tree answers 200 | **%s** (%.0f entries/s; the ls job ran %s; first answer 202 in %s, first entries seen after %s) |",
		strings.TrimPrefix(r.deep, l.root), fmtDur(r.firstListing), float64(r.firstPage.Entries)/r.firstListing.Seconds(), fmtDur(r.listRan), fmtDur(r.firstAnswer), fmtDur(r.firstEntries))
	p("| CPU during the first listing | server %s, agent %s, backend plugin %s (restic's own not counted) |", fmtDur(r.listCPU.server), fmtDur(r.listCPU.agent), fmtDur(r.listCPU.plugins))
	p("| server RSS during the first listing | %.1f MiB before, **peak %.1f MiB** (+%.1f MiB), %.1f MiB after |",
		mib(r.serverRSSBefore), mib(r.serverRSSPeak), mib(r.serverRSSPeak-r.serverRSSBefore), mib(r.serverRSSAfter))
	p("| agent + plugin RSS during the first listing | %.1f MiB before, peak %.1f MiB (sum of each process's peak) |", mib(r.agentRSSBefore), mib(r.agentRSSPeak))
	p("| %d other folders of %d files, first page of 200 (cache) | median **%s**, min %s, max %s |",
		len(r.folders), l.perDir, fmtDur(median(r.folders)), fmtDur(slices.Min(r.folders)), fmtDur(slices.Max(r.folders)))
	p("| a page of 200 after a cursor (`after=%s`) | %s |", fileName(l.perDir/2-1, l.perDir), fmtDur(r.afterCursor))
	p("| the tree's top folder (%d entries) | %s |", l.groups()+1, fmtDur(r.rootFolder))
	p("| a group folder (%d folders) | %s |", min(dirsPerGroup, l.dirs), fmtDur(r.groupFolder))
	for _, pr := range r.paging {
		p("| paging the %d-entry folder, limit %d: %d pages | %s in all; per page median %s, max %s |",
			l.wide, pr.limit, len(pr.pages), fmtDur(pr.total), fmtDur(median(pr.pages)), fmtDur(slices.Max(pr.pages)))
	}
	for _, s := range r.searches {
		p("| search, %s: `q=%s` → %s | %s |", s.label, s.q, plural(s.hits, "hit"), fmtDur(s.took))
	}
	if r.bareLsLines > 0 {
		p("| bare `restic ls --json` of the snapshot, output counted and dropped (for comparison) | %s, %s lines (%.0f MB), %s CPU |", fmtDur(r.bareLs), thousands(r.bareLsLines), float64(r.bareLsBytes)/1e6, fmtDur(r.bareLsCPU))
	}
}

func (r *report) flags() string {
	var f []string
	if r.opts.files != 1_000_000 {
		f = append(f, fmt.Sprintf("--files %d", r.opts.files))
	}
	if r.opts.perDir != 1000 {
		f = append(f, fmt.Sprintf("--per-dir %d", r.opts.perDir))
	}
	if r.opts.wide != 10_000 {
		f = append(f, fmt.Sprintf("--wide %d", r.opts.wide))
	}
	if r.opts.folders != 20 {
		f = append(f, fmt.Sprintf("--folders %d", r.opts.folders))
	}
	return strings.Join(f, " ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// thousands writes n with commas: 1,000,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}
