package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

type report struct {
	env        benchkit.Environment
	opts       options
	start, end time.Time
	loadBefore string
	loadAfter  string
	tree       tree
	memory     []memReading
	overhead   overheadResult
	dispatch   dispatchResult
	logs       logsResult
}

const (
	targetRatio      = 1.05
	targetDispatch   = 50 * time.Millisecond
	targetLogLines   = 100_000 // lines per second, ingested and stored
	targetServerRSS  = 30 << 20
	targetServerText = "≤ 30 MB"
)

func (r *report) write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("# restic-manager overhead benchmark")
	p("")
	p("- date: %s (%s)", r.start.UTC().Format("2006-01-02 15:04 MST"), r.end.Sub(r.start).Round(time.Second))
	p("- machine: %d cores (%s), %s RAM, Linux %s; load average %s before, %s after",
		r.env.Cores, r.env.CPU, memTotal(r.env), r.env.Kernel, r.loadBefore, r.loadAfter)
	built := "given binaries"
	if r.env.Built {
		built = "built by the benchmark with " + r.env.GoVersion
		if r.env.Source != "" {
			built += " from " + r.env.Source
		}
	}
	p("- %s; restic-manager %s (server %s, agent %s)", r.env.ResticVersion, built, formatBytes(r.env.ServerSize), formatBytes(r.env.AgentSize))
	p("- command: `%s`", strings.Join(append([]string{"go run ./bench/overhead"}, r.flags()...), " "))
	p("")

	if len(r.overhead.runs) > 0 {
		r.writeOverhead(p)
	}
	if len(r.dispatch.samples) > 0 {
		r.writeDispatch(p)
	}
	if len(r.logs.runs) > 0 {
		r.writeLogs(p)
	}
	if len(r.memory) > 0 {
		r.writeMemory(p)
	}
}

// flags is the command line that repeats this run.
func (r *report) flags() []string {
	d := options{size: 500e6, runs: 5, dispatchJobs: 50, dispatchKind: "unlock", logFiles: 100_000, idle: 10 * time.Second, poll: 100 * time.Millisecond, seed: 1}
	o := r.opts
	var f []string
	if o.size != d.size {
		f = append(f, "--size "+sizeFlag(o.size))
	}
	if o.runs != d.runs {
		f = append(f, fmt.Sprintf("--runs %d", o.runs))
	}
	if o.dispatchJobs != d.dispatchJobs {
		f = append(f, fmt.Sprintf("--dispatch-jobs %d", o.dispatchJobs))
	}
	if o.dispatchKind != d.dispatchKind {
		f = append(f, "--dispatch-kind "+o.dispatchKind)
	}
	if o.logFiles != d.logFiles {
		f = append(f, fmt.Sprintf("--log-files %d", o.logFiles))
	}
	if o.idle != d.idle {
		f = append(f, "--idle "+o.idle.String())
	}
	if o.poll != d.poll {
		f = append(f, "--poll "+o.poll.String())
	}
	if o.seed != d.seed {
		f = append(f, fmt.Sprintf("--seed %d", o.seed))
	}
	if o.bareJSON {
		f = append(f, "--bare-json")
	}
	if len(o.phases) != len(allPhases) {
		var ph []string
		for _, n := range allPhases {
			if o.phases[n] {
				ph = append(ph, n)
			}
		}
		f = append(f, "--phases "+strings.Join(ph, ","))
	}
	return f
}

func (r *report) writeOverhead(p func(string, ...any)) {
	t := r.tree
	runs := r.overhead.runs
	p("## Manager overhead on a backup")
	p("")
	p("Tree: %d files, %s of random (incompressible) data in %d directories: %d files of 1–64 KiB (%s), %d of 64 KiB–4 MiB (%s), %d of 4–64 MiB (%s).",
		t.files, formatBytes(t.bytes), t.dirs,
		t.classFiles[0], formatBytes(t.classBytes[0]), t.classFiles[1], formatBytes(t.classBytes[1]), t.classFiles[2], formatBytes(t.classBytes[2]))
	p("Bare: `%s` into repository A (local, fresh each run). Through the manager: from just before `POST /api/v1/hosts/{id}/jobs` (backup) until the server has stored the job's end (the hub's \"job finished\" log line; the benchmark polls the job every %s only to know when to look), into repository B (local, fresh each run); the agent's plugin runs `restic backup --json -- %s`. Medians of %d runs, bare and through interleaved in each run, which goes first alternating.",
		r.overhead.bareArgs, r.opts.poll, filepath.Base(t.path), len(runs))
	p("")
	p("| backup | bare restic (median) | through server+agent+plugin (median) | ratio of the medians | median of the per-run ratios | target | met (ratio of the medians) |")
	p("| --- | --- | --- | --- | --- | --- | --- |")
	for _, row := range []struct {
		name       string
		bare, thru func(overheadRun) time.Duration
	}{
		{"first (fresh repository)", func(o overheadRun) time.Duration { return o.bareFirst }, func(o overheadRun) time.Duration { return o.thruFirst }},
		{"no-change (second backup)", func(o overheadRun) time.Duration { return o.bareNoChange }, func(o overheadRun) time.Duration { return o.thruNoChange }},
	} {
		bare, thru := median(collect(runs, row.bare)), median(collect(runs, row.thru))
		ratio := thru.Seconds() / bare.Seconds()
		perRun := make([]float64, len(runs))
		for i, o := range runs {
			perRun[i] = row.thru(o).Seconds() / row.bare(o).Seconds()
		}
		p("| %s | %s | %s | %.3f | %.3f | ≤ %.2f | %s |", row.name, sec(bare), sec(thru), ratio, medianFloat(perRun), targetRatio, yesNo(ratio <= targetRatio))
	}
	p("")
	p("Every run (ratio = through / bare of that run). Through the manager, the time splits into before restic (API call → restic started), restic (the plugin's \"restic started\" → \"restic finished\" log lines, its clock, 1 ms resolution; compare with bare) and after (\"restic finished\" → the server stored the job's end). CPU: bare restic's own; the manager's is the server's, the agent's and its plugin's (not restic's) during the job.")
	p("")
	p("| run | backup | bare | through | ratio | through: before + restic + after | CPU: bare restic / manager |")
	p("| --- | --- | --- | --- | --- | --- | --- |")
	for i, o := range runs {
		order := "bare first"
		if !o.bareFirstSeen {
			order = "manager first"
		}
		p("| %d (%s) | first | %s | %s | %.3f | %s | %s / %s |", i+1, order,
			sec(o.bareFirst), sec(o.thruFirst), o.thruFirst.Seconds()/o.bareFirst.Seconds(),
			o.thruFirstParts, sec(o.bareCPUFirst), sec(o.mgrCPUFirst))
		p("| | no-change | %s | %s | %.3f | %s | %s / %s |",
			sec(o.bareNoChange), sec(o.thruNoChange), o.thruNoChange.Seconds()/o.bareNoChange.Seconds(),
			o.thruNoChangeParts, sec(o.bareCPUNoChange), sec(o.mgrCPUNoChange))
	}
	p("")
	p("Medians of the split: first backup %s; no-change %s.",
		medianParts(collectParts(runs, func(o overheadRun) parts { return o.thruFirstParts })),
		medianParts(collectParts(runs, func(o overheadRun) parts { return o.thruNoChangeParts })))
	p("")
}

func (p parts) String() string {
	return fmt.Sprintf("%s + %s + %s", ms(p.before), sec(p.restic), ms(p.after))
}

func collectParts(runs []overheadRun, f func(overheadRun) parts) []parts {
	out := make([]parts, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

func medianParts(ps []parts) parts {
	return parts{
		before: median(collect(ps, func(p parts) time.Duration { return p.before })),
		restic: median(collect(ps, func(p parts) time.Duration { return p.restic })),
		after:  median(collect(ps, func(p parts) time.Duration { return p.after })),
	}
}

func (r *report) writeDispatch(p func(string, ...any)) {
	s := r.dispatch.samples
	p("## Dispatch latency")
	p("")
	p("%d `%s` jobs, one at a time on an idle host (after one job not counted); each span starts just before the API call. Percentiles are nearest-rank: with %d jobs p99 is value %d of %d in order.",
		len(s), r.dispatch.kind, len(s), int(math.Ceil(0.99*float64(len(s)))), len(s))
	p("")
	p("| span | p50 | p99 | max |")
	p("| --- | --- | --- | --- |")
	rows := []struct {
		name string
		get  func(dispatchSample) time.Duration
	}{
		{"hub's dispatch round trip (`job_dispatch` → `job_accept`, the server's \"job dispatched\" latency)", func(d dispatchSample) time.Duration { return d.hub }},
		{"API call → the agent logged \"job accepted\" (recorded in its spool)", func(d dispatchSample) time.Duration { return d.accepted }},
		{"API call → the agent logged \"job running\" (calls the backend plugin over gRPC)", func(d dispatchSample) time.Duration { return d.running }},
		{"API call → 201 answer (the server waits for the accept)", func(d dispatchSample) time.Duration { return d.answer }},
		{"API call → the plugin logged \"job started\"", func(d dispatchSample) time.Duration { return d.pluginStarted }},
		{"**API call → restic started** (the plugin's \"restic started\", its clock, 1 ms resolution)", func(d dispatchSample) time.Duration { return d.resticStarted }},
		{"API call → restic started, as the agent relayed that line", func(d dispatchSample) time.Duration { return d.resticRelayed }},
		{"API call → the server stored the job's end (the whole job)", func(d dispatchSample) time.Duration { return d.ended }},
	}
	for _, row := range rows {
		v := collect(s, row.get)
		p("| %s | %s | %s | %s |", row.name, ms(percentile(v, 50)), ms(percentile(v, 99)), ms(slices.Max(v)))
	}
	p50 := percentile(collect(s, func(d dispatchSample) time.Duration { return d.resticStarted }), 50)
	p("")
	p("Target: API call → restic started, p50 ≤ %s: %s (p50 %s).", ms(targetDispatch), yesNo(p50 <= targetDispatch), ms(p50))
	p("")
}

func (r *report) writeLogs(p func(string, ...any)) {
	runs := r.logs.runs
	p("## Job logs end to end")
	p("")
	p("A snapshot of %d empty files in %d directories; `restic ls --json latest` prints one line for each (and each directory). Bare: restic's output to /dev/null. Through the manager: an `ls` job from just before `POST /api/v1/hosts/{id}/jobs` until the server has stored the job's end, which follows every line (the plugin streams each line over gRPC, the agent spools them and sends those that come within 5 ms of each other as one event, the server stores each event as one row). Lines and events are counted in the stored log afterwards. %d runs, bare and through interleaved, which goes first alternating.",
		r.logs.files, (r.logs.files+logFilesPerDir-1)/logFilesPerDir, len(runs))
	p("")
	p("| run | bare | through | ratio | through: before + restic + after | lines stored | log events | lines per event | lines/s through | CPU: bare restic / plugin + agent + server |")
	p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	rates := make([]float64, 0, len(runs))
	for i, run := range runs {
		order := "manager first"
		if run.bareFirst {
			order = "bare first"
		}
		rate := float64(run.lines) / run.through.Seconds()
		rates = append(rates, rate)
		perEvent := 0.0
		if run.events > 0 {
			perEvent = float64(run.lines) / float64(run.events)
		}
		p("| %d (%s) | %s | %s | %.3f | %s | %d | %d | %.1f | %.0f | %s / %s + %s + %s |", i+1, order, sec(run.bare), sec(run.through),
			run.through.Seconds()/run.bare.Seconds(), run.split, run.lines, run.events, perEvent, rate,
			sec(run.bareCPU), sec(run.mgrCPU.plugins), sec(run.mgrCPU.agent), sec(run.mgrCPU.server))
	}
	bare := median(collect(runs, func(r logsRun) time.Duration { return r.bare }))
	through := median(collect(runs, func(r logsRun) time.Duration { return r.through }))
	rate := medianFloat(rates)
	p("")
	p("Medians: bare %s, through %s (ratio %.3f); %.0f lines/s from restic to the server's database. Target ≥ %d lines/s: %s.",
		sec(bare), sec(through), through.Seconds()/bare.Seconds(), rate, targetLogLines, yesNo(rate >= targetLogLines))
	p("")
}

func (r *report) writeMemory(p func(string, ...any)) {
	p("## Idle resident memory")
	p("")
	p("VmRSS from /proc/PID/status after %s idle (RssAnon, the process's own heap and stacks, in parentheses; the rest is the mapped executable and libraries).", r.opts.idle)
	p("")
	p("| state | server | server %s | server plugin processes | agent | agent plugin processes |", targetServerText)
	p("| --- | --- | --- | --- | --- | --- |")
	for _, m := range r.memory {
		agent := "not started"
		if m.agent.PID != 0 {
			agent = rss(m.agent)
		}
		p("| %s | %s | %s | %s | %s | %s |", m.label, rss(m.server), yesNo(m.server.RSSKB*1024 <= targetServerRSS),
			plugins(m.serverPlugins), agent, plugins(m.agentPlugins))
	}
	p("")
	p("MB = 10^6 bytes. Plugin processes are those running at the reading (children of the server or the agent, restic excluded).")
	p("")
}

func plugins(ps []benchkit.ProcInfo) string {
	if len(ps) == 0 {
		return "none running"
	}
	var parts []string
	for _, pi := range ps {
		name := pi.Cmdline
		if f := strings.Fields(name); len(f) > 0 {
			f[0] = filepath.Base(f[0])
			name = strings.Join(f, " ")
		}
		parts = append(parts, fmt.Sprintf("`%s`: %s", name, rss(pi)))
	}
	return strings.Join(parts, "; ")
}

func rss(pi benchkit.ProcInfo) string {
	return fmt.Sprintf("%.1f MB (%.1f MB)", float64(pi.RSSKB)*1024/1e6, float64(pi.AnonKB)*1024/1e6)
}

func collect[T any](xs []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func median(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medianFloat(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile is the nearest-rank percentile.
func percentile(v []time.Duration, pct float64) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	rank := int(math.Ceil(pct / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func yesNo(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func formatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// sizeFlag writes a size as --size reads it.
func sizeFlag(n int64) string {
	if n%1e6 == 0 {
		return fmt.Sprintf("%dMB", n/1e6)
	}
	return fmt.Sprint(n)
}

// memTotal is the machine's memory as the report writes it.
func memTotal(env benchkit.Environment) string {
	if env.MemTotalKB == 0 {
		return "unknown"
	}
	return formatBytes(env.MemTotalKB * 1024)
}
