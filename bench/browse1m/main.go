// Command browse1m measures the snapshot browser on a real snapshot of a
// million files, with the real server, the real agent and real restic:
//
//   - it creates --files empty files (1,000,000 by default) in folders of
//     --per-dir, plus one folder of --wide files, on tmpfs (/dev/shm) when
//     it has room, and backs them up through the server and the agent into
//     a fresh local repository: a real restic snapshot;
//   - the first listing: the time from the first GET …/tree of a deep
//     folder (which starts the agent's `restic ls --json` of the whole
//     snapshot, streamed into the server's cache) until the tree answers
//     200, and the server's peak RSS meanwhile (VmHWM, reset before);
//   - later listings of other folders (cache hits), paging through the
//     --wide folder, and searches, each through the HTTP API;
//   - for comparison, bare `restic ls --json` of the same snapshot.
//
// It prints a markdown report on stdout and progress on stderr, and removes
// what it started and wrote when it ends, also on Ctrl-C (--keep keeps the
// work directory). It is a program, not a test: `go test ./...` does not
// run it.
//
//	go run ./bench/browse1m --files 50000     # a quick try, about a minute
//	go run ./bench/browse1m                   # 1,000,000 files
//
// Linux only (it reads /proc). docs/benchmarks.md records its figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

type options struct {
	files      int
	perDir     int
	wide       int
	folders    int
	poll       time.Duration
	timeout    time.Duration
	server     string
	agent      string
	restic     string
	workParent string
	treeParent string
	keep       bool
	bareLs     bool
}

func main() { benchkit.Main("browse1m", parseFlags, run) }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("browse1m", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.files, "files", 1_000_000, "files in the snapshot, the --wide folder's included")
	fs.IntVar(&o.perDir, "per-dir", 1000, "files per folder (the folders outside the --wide one)")
	fs.IntVar(&o.wide, "wide", 10_000, "files in the one wide folder the benchmark pages through")
	fs.IntVar(&o.folders, "folders", 20, "other folders opened from the cache after the first listing")
	fs.DurationVar(&o.poll, "poll", 250*time.Millisecond, "how often the tree is asked again while the first listing runs")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Hour, "bound on the backup and on the first listing, each")
	fs.StringVar(&o.server, "server", "", "restic-manager server binary (default: build ./core/cmd/restic-manager)")
	fs.StringVar(&o.agent, "agent", "", "restic-manager-agent binary (default: build ./agent/cmd/restic-manager-agent)")
	fs.StringVar(&o.restic, "restic", "", "restic binary (default: $RESTIC_BINARY, restic on PATH, $(go env GOPATH)/bin/restic)")
	fs.StringVar(&o.workParent, "workdir", "", "directory for the work directory: binaries, server data, repository (default: $TMPDIR)")
	fs.StringVar(&o.treeParent, "treedir", "", "directory for the generated files (default: /dev/shm when it has the inodes and space, else the work directory)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory and the files (logs, repository) for inspection")
	fs.BoolVar(&o.bareLs, "bare-ls", true, "also time bare `restic ls --json` of the snapshot")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch {
	case o.perDir < 2:
		return o, errors.New("--per-dir must be at least 2")
	case o.wide < 1:
		return o, errors.New("--wide must be at least 1")
	case o.files < o.wide+2*o.perDir:
		return o, fmt.Errorf("--files must be at least --wide + 2 × --per-dir (%d)", o.wide+2*o.perDir)
	case o.folders < 1:
		return o, errors.New("--folders must be at least 1")
	case o.poll <= 0:
		return o, errors.New("--poll must be positive")
	case o.timeout <= 0:
		return o, errors.New("--timeout must be positive")
	}
	return o, nil
}

// run makes the measurements and prints the report. Everything it starts
// is stopped, and what it wrote removed, before it returns.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	b, err := newBench(ctx, o, progress)
	if err != nil {
		return err
	}
	defer b.cleanUp()
	rep := &report{opts: o, env: environment{Environment: b.Env}, start: time.Now(), loadBefore: benchkit.LoadAverage()}
	if err := b.measure(ctx, rep); err != nil {
		return err
	}
	rep.env.treeFS = b.treeFS // known once the tree is made
	rep.end = time.Now()
	rep.loadAfter = benchkit.LoadAverage()
	rep.write(stdout)
	return nil
}
