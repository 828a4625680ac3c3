package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// environment is what the measurements ran with, as the report says it.
type environment struct {
	benchkit.Environment
	treeFS string // the file system the generated files are on
}

// memTotal is the machine's memory as the report writes it.
func (e environment) memTotal() string {
	if e.MemTotalKB == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GB", float64(e.MemTotalKB)*1024/1e9)
}

// bench holds the running server and agent.
type bench struct {
	*benchkit.Stack
	opts         options
	treeRoot     string // the generated files' parent, removed at the end
	treeFS       string // the file system the generated files are on
	repoPassword string
}

// newBench makes the work directory, finds restic and builds the binaries
// not given. On error it has removed what it made.
func newBench(ctx context.Context, o options, progress func(string, ...any)) (_ *bench, err error) {
	work, err := os.MkdirTemp(o.workParent, "rm-bench-browse1m-")
	if err != nil {
		return nil, err
	}
	b := &bench{Stack: &benchkit.Stack{Progress: progress}, opts: o}
	b.Work, err = filepath.Abs(work)
	if err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	defer func() {
		if err != nil {
			b.cleanUp()
		}
	}()
	progress("work directory %s", b.Work)
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) prepare(ctx context.Context) (err error) {
	bins := benchkit.Binaries{Server: b.opts.server, Agent: b.opts.agent, Restic: b.opts.restic}
	b.Env, err = benchkit.Prepare(ctx, bins, b.Work, b.Progress)
	return err
}

// cleanUp stops the agent (gracefully first: it interrupts restic), then
// the server, and removes the generated files and the work directory
// unless --keep.
func (b *bench) cleanUp() {
	b.Stop()
	if b.opts.keep {
		b.Progress("kept %s and %s", b.Work, b.treeRoot)
		return
	}
	for _, dir := range []string{b.treeRoot, b.Work} {
		if dir == "" {
			continue
		}
		b.Progress("removing %s", dir)
		if err := os.RemoveAll(dir); err != nil { //nolint:gosec // G703: the directories this run made
			b.Progress("could not remove %s: %v", dir, err)
		}
	}
}
