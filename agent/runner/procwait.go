package runner

import (
	"context"
	"time"
)

// settlePoll is how often waitGone looks at the process table.
const settlePoll = 25 * time.Millisecond

// waitGone waits until none of the restic processes that appeared since
// before was taken is left, or until ctx ends; it reports whether they went.
//
// The SDK's Run returns as soon as the host cancels it, while the plugin is
// still interrupting restic (SIGINT, then SIGKILL after its kill grace). The
// protocol says job_finished follows a cancel "when restic's process group
// has gone", so the runner waits here, bounded by Config.CancelSettle. On
// systems without a process table to read (grandchildren returns nil) it
// returns at once. Processes of a job on another repository that started
// meanwhile are waited for too; the bound keeps that short.
func waitGone(ctx context.Context, before map[int]struct{}) bool {
	for {
		left := false
		for pid := range grandchildren() {
			if _, old := before[pid]; !old {
				left = true
				break
			}
		}
		if !left {
			return true
		}
		t := time.NewTimer(settlePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}
