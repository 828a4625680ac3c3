package alert

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// scheduleBar is the backup schedule a host and repository are measured
// by for a backup_stale rule with intervals.
type scheduleBar struct {
	name string
	// interval is the time between two runs: the schedule's every, or the
	// shortest gap between its next cron firings.
	interval time.Duration
	// since is when the schedule was made: a pair never backed up is
	// stale from then on, not from the host's enrollment.
	since time.Time
}

// backupSchedules maps host id → repository id → the enabled backup
// schedule with the shortest interval, for the hosts rules with intervals
// may cover. It reads nothing when no rule uses intervals.
func (e *Engine) backupSchedules(ctx context.Context, rules []activeRule, hosts []store.Host) map[string]map[string]scheduleBar {
	out := map[string]map[string]scheduleBar{}
	for _, h := range hosts {
		wanted := false
		for _, r := range rules {
			if r.spec.Intervals > 0 && r.matchHost(h) {
				wanted = true
			}
		}
		if !wanted {
			continue
		}
		scheds, err := e.store.HostSchedules(ctx, h.ID)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("reading a host's schedules failed", "host_id", h.ID, "error", err)
			}
			continue
		}
		for _, s := range scheds {
			if s.Kind != "backup" || !s.Enabled || s.RepositoryID == "" {
				continue
			}
			iv := scheduleInterval(s, e.now())
			if iv <= 0 {
				continue
			}
			if out[h.ID] == nil {
				out[h.ID] = map[string]scheduleBar{}
			}
			if b, ok := out[h.ID][s.RepositoryID]; !ok || iv < b.interval {
				out[h.ID][s.RepositoryID] = scheduleBar{name: s.Name, interval: iv, since: s.CreatedAt}
			}
		}
	}
	return out
}

// scheduleInterval is the time between a schedule's runs from now on; 0
// when its timing does not parse or it never fires again.
func scheduleInterval(s store.Schedule, now time.Time) time.Duration {
	spec, err := timing.Parse(s.Cron, time.Duration(s.EverySeconds)*time.Second, s.Timezone)
	if err != nil {
		return 0
	}
	return spec.MinGap(now)
}
