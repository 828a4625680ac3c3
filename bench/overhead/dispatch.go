package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// dispatchSample is one job's timeline, each span from the moment before
// the API call.
type dispatchSample struct {
	answer        time.Duration // the API's 201 (the server waits for the agent's accept)
	hub           time.Duration // the hub's own dispatch round trip ("job dispatched" latency)
	accepted      time.Duration // the agent logged "job accepted"
	running       time.Duration // the agent logged "job running" (calls the plugin)
	pluginStarted time.Duration // the plugin logged "job started"
	resticStarted time.Duration // the plugin logged "restic started" (its clock, ms)
	resticRelayed time.Duration // the same line as the agent relayed it (µs)
	ended         time.Duration // the server stored the job's end
}

type dispatchResult struct {
	kind    string
	samples []dispatchSample
}

// dispatch times jobs one at a time on a repository of their own, after
// one job that is not counted.
func (b *bench) dispatch(ctx context.Context) (dispatchResult, error) {
	res := dispatchResult{kind: b.opts.dispatchKind}
	name := "bench-dispatch"
	if err := b.AddRepository(ctx, name, filepath.Join(b.Work, "repos", "dispatch"), b.repoPassword); err != nil {
		return res, err
	}
	b.Progress("dispatch: %d %s jobs, one at a time (and one more first, not counted)", b.opts.dispatchJobs, res.kind)
	for i := -1; i < b.opts.dispatchJobs; i++ {
		if err := b.API.WaitQuiet(ctx, b.HostID, 5*time.Minute); err != nil {
			return res, err
		}
		s, err := b.dispatchOne(ctx, name)
		if err != nil {
			return res, err
		}
		if i >= 0 {
			res.samples = append(res.samples, s)
		}
	}
	return res, nil
}

func (b *bench) dispatchOne(ctx context.Context, repo string) (dispatchSample, error) {
	var s dispatchSample
	t0 := time.Now()
	j, err := b.API.RunJob(ctx, b.HostID, benchkit.JobRequest{Kind: b.opts.dispatchKind, Repository: repo})
	if err != nil {
		return s, err
	}
	s.answer = time.Since(t0)
	j, _, err = b.API.WaitJob(ctx, j.ID, b.opts.poll, 5*time.Minute)
	if err != nil {
		return s, err
	}
	if j.Status != "succeeded" {
		return s, fmt.Errorf("%s job %s %s: %s", j.Kind, j.ID, j.Status, j.Error)
	}
	end, err := b.serverLog.finishedAt(ctx, j.ID)
	if err != nil {
		return s, err
	}
	s.ended = end.Sub(t0)
	// The log lines arrive through pipes; give them a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		aj, okA := b.agentLog.get(j.ID)
		dl, okS := b.serverLog.get(j.ID)
		if okA && okS && !aj.resticStarted.IsZero() && !aj.accepted.IsZero() {
			s.hub = dl.latency
			s.accepted = aj.accepted.Sub(t0)
			s.running = aj.running.Sub(t0)
			s.pluginStarted = aj.pluginStarted.Sub(t0)
			s.resticStarted = aj.resticStarted.Sub(t0)
			s.resticRelayed = aj.resticRelayed.Sub(t0)
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("job %s: no \"job dispatched\", \"job accepted\" or \"restic started\" log line", j.ID)
		}
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
			return s, err
		}
	}
}
