// Command overhead measures what restic-manager adds to restic, with the
// real binaries and the real restic:
//
//   - manager overhead: a first and a no-change backup of a generated tree,
//     bare `restic backup` against the same backup through the server, the
//     agent and its backend plugin (API call until the server has stored
//     the job's end), interleaved in the same run, as medians and their
//     ratio, with the time through the manager split around restic's run;
//   - dispatch latency: API call until restic has started on the agent,
//     from the agent's and the plugin's own log lines, p50 and p99;
//   - job logs end to end: `restic ls --json` of a snapshot of many empty
//     files, bare against an ls job through the manager until the server
//     has stored every line, as lines per second;
//   - idle resident memory of the server, the agent and their plugin
//     subprocesses (VmRSS from /proc).
//
// It builds the server and the agent into a temporary directory (or takes
// --server and --agent), starts them in process groups of their own on a
// free loopback port with a data directory in that temporary directory,
// prints a markdown report on stdout and progress on stderr, and removes
// what it started and wrote when it ends, also on Ctrl-C.
//
//	go run ./bench/overhead                   # the defaults: 500MB, 5 runs, 50 dispatches
//	go run ./bench/overhead --size 100MB --runs 3 --dispatch-jobs 20
//
// Linux only (it reads /proc). docs/benchmarks.md records its figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

type options struct {
	size         int64
	runs         int
	dispatchJobs int
	dispatchKind string
	logFiles     int
	idle         time.Duration
	poll         time.Duration
	seed         uint64
	server       string
	agent        string
	restic       string
	workParent   string
	keep         bool
	bareJSON     bool
	phases       map[string]bool
}

const (
	phaseMemory   = "memory"
	phaseOverhead = "overhead"
	phaseDispatch = "dispatch"
	phaseLogs     = "logs"
)

var allPhases = []string{phaseMemory, phaseOverhead, phaseDispatch, phaseLogs}

func main() { benchkit.Main("overhead", parseFlags, run) }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("overhead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	size := fs.String("size", "500MB", "size of the generated tree (MB = 10^6 bytes, MiB = 2^20; KB, GB, KiB, GiB too)")
	fs.IntVar(&o.runs, "runs", 5, "overhead runs; each is a first and a no-change backup, bare and through the manager")
	fs.IntVar(&o.dispatchJobs, "dispatch-jobs", 50, "jobs timed for the dispatch latency")
	fs.StringVar(&o.dispatchKind, "dispatch-kind", "unlock", "job kind timed for the dispatch latency (unlock or snapshots)")
	fs.IntVar(&o.logFiles, "log-files", 100_000, "empty files in the snapshot the logs phase lists (restic ls prints a line for each)")
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "idle time before each memory reading")
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "how often a job is polled while waiting for it to end (the times come from the server's log, not the poll)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated tree (same seed, same bytes)")
	fs.StringVar(&o.server, "server", "", "restic-manager server binary (default: build ./core/cmd/restic-manager)")
	fs.StringVar(&o.agent, "agent", "", "restic-manager-agent binary (default: build ./agent/cmd/restic-manager-agent)")
	fs.StringVar(&o.restic, "restic", "", "restic binary (default: $RESTIC_BINARY, restic on PATH, $(go env GOPATH)/bin/restic)")
	fs.StringVar(&o.workParent, "workdir", "", "directory to create the temporary work directory in (default: $TMPDIR)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, tree, repositories) for inspection")
	fs.BoolVar(&o.bareJSON, "bare-json", false, "run the bare backup as the plugin does (backup --json, RESTIC_PROGRESS_FPS=1) instead of plain restic backup")
	phases := fs.String("phases", strings.Join(allPhases, ","), "which measurements to make")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	n, err := parseSize(*size)
	if err != nil {
		return o, err
	}
	o.size = n
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allPhases, p) {
			return o, fmt.Errorf("unknown phase %q (%s)", p, strings.Join(allPhases, ", "))
		}
		o.phases[p] = true
	}
	switch {
	case o.runs < 1:
		return o, errors.New("--runs must be at least 1")
	case o.dispatchJobs < 1:
		return o, errors.New("--dispatch-jobs must be at least 1")
	case o.dispatchKind != "unlock" && o.dispatchKind != "snapshots":
		return o, errors.New("--dispatch-kind must be unlock or snapshots")
	case o.logFiles < 1:
		return o, errors.New("--log-files must be at least 1")
	case o.poll <= 0:
		return o, errors.New("--poll must be positive")
	}
	return o, nil
}

// parseSize reads "500MB", "1GiB", "64KiB" or a number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10},
		{"MiB", 1 << 20},
		{"GiB", 1 << 30},
		{"KB", 1e3},
		{"MB", 1e6},
		{"GB", 1e9},
		{"B", 1},
	}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(f * float64(mult)), nil
}

// run makes the measurements and prints the report. Everything it starts
// is stopped, and its work directory removed, before it returns.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	work, err := os.MkdirTemp(o.workParent, "rm-bench-overhead-")
	if err != nil {
		return err
	}
	work, err = filepath.Abs(work)
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			progress("kept the work directory %s", work)
			return
		}
		if rmErr := os.RemoveAll(work); rmErr != nil {
			progress("could not remove the work directory: %v", rmErr)
		}
	}()
	progress("work directory %s", work)

	env, err := benchkit.Prepare(ctx, benchkit.Binaries{Server: o.server, Agent: o.agent, Restic: o.restic}, work, progress)
	if err != nil {
		return err
	}
	b := &bench{Stack: &benchkit.Stack{Work: work, Env: env, Progress: progress}, opts: o}
	defer b.shutdown()
	rep := &report{env: env, opts: o, start: time.Now(), loadBefore: benchkit.LoadAverage()}

	if o.phases[phaseOverhead] {
		progress("generating the tree (%s, seed %d)", formatBytes(o.size), o.seed)
		t0 := time.Now()
		tree, err := generateTree(filepath.Join(work, "tree"), o.size, o.seed)
		if err != nil {
			return fmt.Errorf("generating the tree: %w", err)
		}
		b.tree = tree
		rep.tree = tree
		progress("tree: %d files, %s in %d directories (%s)", tree.files, formatBytes(tree.bytes), tree.dirs, time.Since(t0).Round(time.Millisecond))
	}

	if err := b.startServer(ctx); err != nil {
		return err
	}
	if o.phases[phaseMemory] {
		progress("idle %s: server after startup, setup pending", o.idle)
		if err := benchkit.Sleep(ctx, o.idle); err != nil {
			return err
		}
		rep.memory = append(rep.memory, b.memory("after startup, setup pending (no admin yet)"))
	}
	if err := b.setUp(ctx); err != nil {
		return err
	}
	if o.phases[phaseMemory] {
		progress("idle %s: server bootstrapped, agent connected", o.idle)
		if err := benchkit.Sleep(ctx, o.idle); err != nil {
			return err
		}
		rep.memory = append(rep.memory, b.memory("admin bootstrapped, agent connected, no job run yet"))
	}
	if o.phases[phaseOverhead] {
		res, err := b.overhead(ctx)
		if err != nil {
			return fmt.Errorf("overhead: %w", err)
		}
		rep.overhead = res
	}
	if o.phases[phaseDispatch] {
		res, err := b.dispatch(ctx)
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		rep.dispatch = res
	}
	if o.phases[phaseLogs] {
		res, err := b.logs(ctx)
		if err != nil {
			return fmt.Errorf("logs: %w", err)
		}
		rep.logs = res
	}
	if o.phases[phaseMemory] && (o.phases[phaseOverhead] || o.phases[phaseDispatch] || o.phases[phaseLogs]) {
		progress("idle %s: after the workload", o.idle)
		if err := benchkit.Sleep(ctx, o.idle); err != nil {
			return err
		}
		rep.memory = append(rep.memory, b.memory("after the measurements above, idle"))
	}
	rep.end = time.Now()
	rep.loadAfter = benchkit.LoadAverage()
	rep.write(stdout)
	return nil
}
