package api

import (
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// scheduleStale reports whether an enabled schedule's last success (or,
// before its first, its creation) is older than twice its interval: runs
// are failing, skipped or not firing at all. A cron schedule's interval is
// the time between its next two runs.
func scheduleStale(s store.Schedule, lastSuccess *time.Time, now time.Time) bool {
	if !s.Enabled {
		return false
	}
	interval := scheduleInterval(s, now)
	if interval <= 0 {
		return false
	}
	since := s.CreatedAt
	if lastSuccess != nil {
		since = *lastSuccess
	}
	return now.Sub(since) > 2*interval
}

// scheduleInterval is the time between a schedule's runs around now.
func scheduleInterval(s store.Schedule, now time.Time) time.Duration {
	every := time.Duration(s.EverySeconds) * time.Second
	if s.Cron == "" {
		return every
	}
	spec, err := timing.Parse(s.Cron, every, s.Timezone)
	if err != nil {
		return 0
	}
	next := spec.Next(now)
	if next.IsZero() {
		return 0
	}
	after := spec.Next(next)
	if after.IsZero() {
		return 0
	}
	return after.Sub(next)
}
