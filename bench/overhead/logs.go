package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// logsRun is one run of the log measurement: `restic ls --json latest` of
// a snapshot of many files, bare and as an ls job through the manager.
type logsRun struct {
	bare, through time.Duration
	bareCPU       time.Duration
	mgrCPU        cpuUse
	split         parts
	lines, events int // output lines stored, in how many log events
	bareFirst     bool
}

type logsResult struct {
	files int
	runs  []logsRun
}

// logFilesPerDir is how many empty files each directory of the log tree holds.
const logFilesPerDir = 1000

// logs measures job logs end to end: restic prints one JSON line per file
// and directory, the plugin streams them, the agent spools them and sends
// them (several lines per event), and the server stores them. The time
// through the manager ends when the server has stored the job's end, which
// comes after every line (the agent sends a job's events in order).
func (b *bench) logs(ctx context.Context) (logsResult, error) {
	res := logsResult{files: b.opts.logFiles}
	dir := filepath.Join(b.Work, "logtree")
	b.Progress("log tree: %d empty files", res.files)
	if err := emptyTree(dir, res.files); err != nil {
		return res, fmt.Errorf("log tree: %w", err)
	}
	repoPath := filepath.Join(b.Work, "repos", "logs")
	if err := os.MkdirAll(filepath.Dir(repoPath), 0o700); err != nil {
		return res, err
	}
	const repo = "bench-logs"
	if err := b.AddRepository(ctx, repo, repoPath, b.repoPassword); err != nil {
		return res, err
	}
	j, err := b.API.RunJob(ctx, b.HostID, benchkit.JobRequest{Kind: "backup", Repository: repo, Paths: []string{dir}})
	if err != nil {
		return res, err
	}
	if j, _, err = b.API.WaitJob(ctx, j.ID, b.opts.poll, time.Hour); err != nil {
		return res, err
	}
	if j.Status != "succeeded" {
		return res, fmt.Errorf("backup of the log tree: %s: %s", j.Status, j.Error)
	}
	quiet := func() error {
		if err := b.API.WaitQuiet(ctx, b.HostID, 10*time.Minute); err != nil {
			return err
		}
		syscall.Sync()
		return nil
	}
	ls := benchkit.JobRequest{Kind: "ls", Repository: repo, Params: map[string]any{"snapshots": []string{"latest"}}}
	for i := range b.opts.runs {
		run := logsRun{bareFirst: i%2 == 0}
		bare := func() error {
			if err := quiet(); err != nil {
				return err
			}
			var err error
			run.bare, run.bareCPU, err = b.resticRun(ctx, repoPath, nil, "ls", "--json", "latest")
			return err
		}
		through := func() error {
			if err := quiet(); err != nil {
				return err
			}
			cpu0 := b.cpuByProcess()
			id, wall, _, split, err := b.throughJob(ctx, ls)
			if err != nil {
				return err
			}
			run.through, run.mgrCPU, run.split = wall, b.cpuByProcess().sub(cpu0), split
			run.lines, run.events, err = b.countLogLines(ctx, id)
			return err
		}
		steps := []func() error{bare, through}
		if !run.bareFirst {
			steps = []func() error{through, bare}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return res, err
			}
		}
		b.Progress("log run %d/%d: ls bare %s, through %s (%d lines in %d events)",
			i+1, b.opts.runs, sec(run.bare), sec(run.through), run.lines, run.events)
		res.runs = append(res.runs, run)
	}
	return res, quiet()
}

// emptyTree makes n empty files in directories of logFilesPerDir.
func emptyTree(dir string, n int) error {
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/logFilesPerDir))
		if i%logFilesPerDir == 0 {
			if err := os.MkdirAll(sub, 0o700); err != nil {
				return err
			}
		}
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("f%07d", i))) //nolint:gosec // G304: the benchmark's own tree
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// countLogLines reads a job's stored events and counts the output lines of
// its log events.
func (b *bench) countLogLines(ctx context.Context, jobID string) (lines, events int, err error) {
	cursor := ""
	for {
		// A stored event holds up to 256 lines (about 40 KB as JSON), so
		// pages stay small enough for api.call's 16 MiB limit.
		q := url.Values{"limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items []struct {
				Type string `json:"type"`
				Line string `json:"line"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := b.API.Call(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(jobID)+"/logs?"+q.Encode(), nil, &page); err != nil {
			return 0, 0, err
		}
		for _, it := range page.Items {
			if it.Type == "log" {
				events++
				lines += strings.Count(it.Line, "\n") + 1
			}
		}
		if page.NextCursor == "" {
			return lines, events, nil
		}
		cursor = page.NextCursor
	}
}
