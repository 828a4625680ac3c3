package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestScheduleStale(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	for name, tc := range map[string]struct {
		s    store.Schedule
		last *time.Time
		want bool
	}{
		"fresh":                    {store.Schedule{Enabled: true, EverySeconds: 3600, CreatedAt: now.Add(-24 * time.Hour)}, at(90 * time.Minute), false},
		"two intervals and more":   {store.Schedule{Enabled: true, EverySeconds: 3600, CreatedAt: now.Add(-24 * time.Hour)}, at(121 * time.Minute), true},
		"never succeeded, new":     {store.Schedule{Enabled: true, EverySeconds: 3600, CreatedAt: now.Add(-time.Hour)}, nil, false},
		"never succeeded, old":     {store.Schedule{Enabled: true, EverySeconds: 3600, CreatedAt: now.Add(-3 * time.Hour)}, nil, true},
		"disabled":                 {store.Schedule{Enabled: false, EverySeconds: 3600, CreatedAt: now.Add(-24 * time.Hour)}, at(10 * time.Hour), false},
		"daily cron, 30 h ago":     {store.Schedule{Enabled: true, Cron: "0 3 * * *", Timezone: "UTC", CreatedAt: now.Add(-72 * time.Hour)}, at(30 * time.Hour), false},
		"daily cron, 49 h ago":     {store.Schedule{Enabled: true, Cron: "0 3 * * *", Timezone: "UTC", CreatedAt: now.Add(-72 * time.Hour)}, at(49 * time.Hour), true},
		"weekday cron over a week": {store.Schedule{Enabled: true, Cron: "0 3 * * 1", Timezone: "UTC", CreatedAt: now.Add(-30 * 24 * time.Hour)}, at(8 * 24 * time.Hour), false},
	} {
		if got := scheduleStale(tc.s, tc.last, now); got != tc.want {
			t.Errorf("%s: stale = %v, want %v", name, got, tc.want)
		}
	}
}

func TestScheduleJSONSaysStale(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{"every": "1h"})}, http.StatusCreated).decode(t, &s)
	if s.Stale {
		t.Fatal("a new schedule is stale")
	}
	// Three hours without a success: stale, in every listing.
	e.clock.Advance(3 * time.Hour)
	for _, path := range []string{"/api/v1/schedules/" + s.ID, "/api/v1/hosts/web1/schedules"} {
		r := e.want(call{method: "GET", path: path, token: root}, http.StatusOK)
		var one scheduleJSON
		var page list[scheduleJSON]
		if path == "/api/v1/hosts/web1/schedules" {
			r.decode(t, &page)
			if len(page.Items) != 1 {
				t.Fatalf("%s: %d items", path, len(page.Items))
			}
			one = page.Items[0]
		} else {
			r.decode(t, &one)
		}
		if !one.Stale {
			t.Fatalf("%s: a schedule without a success for 3 h of a 1 h interval is not stale", path)
		}
	}
}
