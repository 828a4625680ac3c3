package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// overheadRun is one run: a first and a no-change backup, bare and
// through the manager.
type overheadRun struct {
	bareFirst, bareNoChange time.Duration
	thruFirst, thruNoChange time.Duration
	// CPU time of bare restic, and of the server+agent+plugin processes
	// (without restic) during the backups through the manager.
	bareCPUFirst, bareCPUNoChange time.Duration
	mgrCPUFirst, mgrCPUNoChange   time.Duration
	// Where the time through the manager went: restic's run between the
	// plugin's "restic started" and "restic finished" lines, and the rest
	// before and after it.
	thruFirstParts, thruNoChangeParts parts
	bareFirstSeen                     bool // bare ran before through in this run
}

type parts struct {
	before, restic, after time.Duration
}

type overheadResult struct {
	runs     []overheadRun
	bareArgs string
}

// overhead runs the interleaved backups: in even runs bare restic goes
// first, in odd runs the manager does, so that a drift in the machine's
// load does not favour either. Every backup waits until the host has no
// job (the snapshot refresh queued after a backup) and the page cache's
// dirty data has been written.
func (b *bench) overhead(ctx context.Context) (overheadResult, error) {
	res := overheadResult{}
	bareArgs := []string{"backup", "--", b.tree.path}
	var bareEnv []string
	if b.opts.bareJSON {
		bareArgs = []string{"backup", "--json", "--", b.tree.path}
		bareEnv = []string{"RESTIC_PROGRESS_FPS=1"}
	}
	res.bareArgs = "restic " + strings.Join(bareArgs, " ")
	repos := filepath.Join(b.Work, "repos")
	if err := os.MkdirAll(repos, 0o700); err != nil {
		return res, err
	}
	quiet := func() error {
		if err := b.API.WaitQuiet(ctx, b.HostID, 10*time.Minute); err != nil {
			return err
		}
		syscall.Sync()
		return nil
	}
	for i := range b.opts.runs {
		run := overheadRun{bareFirstSeen: i%2 == 0}
		repoA := filepath.Join(repos, fmt.Sprintf("a-%d", i+1))
		repoB := filepath.Join(repos, fmt.Sprintf("b-%d", i+1))
		nameB := fmt.Sprintf("bench-b-%d", i+1)
		if _, _, err := b.resticRun(ctx, repoA, nil, "init"); err != nil {
			return res, err
		}
		if err := b.AddRepository(ctx, nameB, repoB, b.repoPassword); err != nil {
			return res, err
		}
		bare := func() error {
			var err error
			if err = quiet(); err != nil {
				return err
			}
			if run.bareFirst, run.bareCPUFirst, err = b.resticRun(ctx, repoA, bareEnv, bareArgs...); err != nil {
				return err
			}
			if err = quiet(); err != nil {
				return err
			}
			run.bareNoChange, run.bareCPUNoChange, err = b.resticRun(ctx, repoA, bareEnv, bareArgs...)
			return err
		}
		through := func() error {
			var err error
			if err = quiet(); err != nil {
				return err
			}
			if run.thruFirst, run.mgrCPUFirst, run.thruFirstParts, err = b.throughBackup(ctx, nameB); err != nil {
				return err
			}
			if err = quiet(); err != nil {
				return err
			}
			run.thruNoChange, run.mgrCPUNoChange, run.thruNoChangeParts, err = b.throughBackup(ctx, nameB)
			return err
		}
		steps := []func() error{bare, through}
		if !run.bareFirstSeen {
			steps = []func() error{through, bare}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return res, err
			}
		}
		if err := quiet(); err != nil {
			return res, err
		}
		b.Progress("run %d/%d: first backup bare %s, through %s; no-change bare %s, through %s",
			i+1, b.opts.runs, sec(run.bareFirst), sec(run.thruFirst), sec(run.bareNoChange), sec(run.thruNoChange))
		res.runs = append(res.runs, run)
		for _, r := range []string{repoA, repoB} {
			if err := os.RemoveAll(r); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// throughBackup runs a backup job of the tree through the API; see
// throughJob.
func (b *bench) throughBackup(ctx context.Context, repo string) (wall, cpu time.Duration, split parts, err error) {
	_, wall, cpu, split, err = b.throughJob(ctx, benchkit.JobRequest{Kind: "backup", Repository: repo, Paths: []string{b.tree.path}})
	return wall, cpu, split, err
}

// throughJob runs a job through the API and returns its id, the time from
// the API call until the server stored the job's end (its "job finished"
// log line, so that the poll interval does not count), the manager's CPU
// time meanwhile, and how the time divides around restic's own run. The
// job must succeed.
func (b *bench) throughJob(ctx context.Context, req benchkit.JobRequest) (id string, wall, cpu time.Duration, split parts, err error) {
	cpu0 := b.managerCPU()
	t0 := time.Now()
	j, err := b.API.RunJob(ctx, b.HostID, req)
	if err != nil {
		return "", 0, 0, split, err
	}
	j, _, err = b.API.WaitJob(ctx, j.ID, b.opts.poll, time.Hour)
	if err != nil {
		return "", 0, 0, split, err
	}
	cpu = b.managerCPU() - cpu0
	if j.Status != "succeeded" {
		return "", 0, 0, split, fmt.Errorf("%s job %s %s: %s", req.Kind, j.ID, j.Status, j.Error)
	}
	end, err := b.serverLog.finishedAt(ctx, j.ID)
	if err != nil {
		return "", 0, 0, split, err
	}
	wall = end.Sub(t0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if aj, ok := b.agentLog.get(j.ID); ok && !aj.resticFinished.IsZero() {
			split.before = aj.resticStarted.Sub(t0)
			split.restic = aj.resticFinished.Sub(aj.resticStarted)
			split.after = end.Sub(aj.resticFinished)
			return j.ID, wall, cpu, split, nil
		}
		if time.Now().After(deadline) {
			return "", 0, 0, split, fmt.Errorf("%s job %s: no \"restic finished\" line in the agent's log", req.Kind, j.ID)
		}
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
			return "", 0, 0, split, err
		}
	}
}
