package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// t0 is a quarter past a minute, so that an interval of 10 s is next due
// at 12:00:20.
var t0 = time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC)

func TestIntervalFiresOnTimeWithItsParams(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), t0, 0)
	sc := testSchedule("s1", 10*time.Second)
	if err := r.s.Replace(1, []wire.Schedule{sc}); err != nil {
		t.Fatal(err)
	}
	r.start()
	fs, _ := r.s.Fire("s1")
	if want := t0.Add(5 * time.Second); !fs.Due.Equal(want) || !fs.Next.Equal(want) {
		t.Fatalf("planned %+v, want due and fire at %s", fs, want)
	}
	r.clock.step(t, 4*time.Second)
	r.runner.none(t)
	r.clock.step(t, time.Second)
	j := r.runner.next(t)
	if j.ScheduleID != "s1" || j.Kind != "backup" || string(j.Params) != `{"paths":["/srv"]}` ||
		j.Repository.Password.Reveal() != testPassword || len(j.ID) != 36 {
		t.Fatalf("fired %+v", j)
	}
	fs, _ = r.s.Fire("s1")
	if !fs.Due.Equal(t0.Add(15*time.Second)) || fs.LastJobID != j.ID || !fs.LastFire.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("after the fire: %+v", fs)
	}
	r.clock.step(t, 10*time.Second)
	if j2 := r.runner.next(t); j2.ID == j.ID {
		t.Fatal("a job id was used twice")
	}
}

func TestCronFiresInItsZone(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), 0)
	sc := testSchedule("s1", 0)
	sc.EverySeconds, sc.Cron, sc.Timezone = 0, "30 3 * * *", "Europe/Berlin"
	if err := r.s.Replace(1, []wire.Schedule{sc}); err != nil {
		t.Fatal(err)
	}
	r.start()
	fs, _ := r.s.Fire("s1")
	if want := time.Date(2026, 1, 10, 2, 30, 0, 0, time.UTC); !fs.Next.Equal(want) {
		t.Fatalf("fires at %s, want %s (03:30 in Berlin)", fs.Next, want)
	}
	r.clock.step(t, 2*time.Hour+29*time.Minute)
	r.runner.none(t)
	r.clock.step(t, time.Minute)
	r.runner.next(t)
}

func TestJitterDelaysTheRunWithinItsBound(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), t0, 3*time.Second)
	sc := testSchedule("s1", 10*time.Second)
	sc.JitterSeconds = 5
	if err := r.s.Replace(1, []wire.Schedule{sc}); err != nil {
		t.Fatal(err)
	}
	r.start()
	fs, _ := r.s.Fire("s1")
	if !fs.Due.Equal(t0.Add(5*time.Second)) || !fs.Next.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("planned %+v; want due at :20 and fired at :23", fs)
	}
	r.clock.step(t, 7*time.Second)
	r.runner.none(t)
	r.clock.step(t, time.Second)
	r.runner.next(t)
	// The next due time follows the schedule, not the jittered fire time.
	fs, _ = r.s.Fire("s1")
	if !fs.Due.Equal(t0.Add(15*time.Second)) || !fs.Next.Equal(t0.Add(18*time.Second)) {
		t.Fatalf("after the jittered run: %+v", fs)
	}
}

func TestOverlappingRunIsSkippedNotStacked(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), t0, 0)
	hold := make(chan struct{})
	r.runner.hold = hold
	if err := r.s.Replace(1, []wire.Schedule{testSchedule("s1", 10*time.Second)}); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.clock.step(t, 5*time.Second)
	first := r.runner.next(t)
	r.clock.step(t, 10*time.Second)
	r.clock.step(t, 10*time.Second)
	r.runner.none(t)
	skips := r.runner.skipped()
	if len(skips) != 2 {
		t.Fatalf("%d runs recorded skipped while the first ran; want 2", len(skips))
	}
	for _, s := range skips {
		if s.job.ScheduleID != "s1" || s.job.ID == first.ID || !strings.Contains(s.reason, "previous run") || !strings.Contains(s.reason, first.ID) {
			t.Fatalf("skipped %+v", s)
		}
	}
	if fs, _ := r.s.Fire("s1"); fs.LastStatus != wire.StatusSkipped {
		t.Fatalf("last status %q", fs.LastStatus)
	}
	close(hold)
	eventually(t, "the run to end", func() bool {
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		return r.s.running["s1"] == ""
	})
	r.clock.step(t, 10*time.Second)
	if j := r.runner.next(t); j.ID == first.ID {
		t.Fatal("a job id was used twice")
	}
}

func TestDifferentSchedulesRunInParallel(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), t0, 0)
	hold := make(chan struct{})
	defer close(hold)
	r.runner.hold = hold
	b := testSchedule("s2", 10*time.Second)
	b.Repository.ID, b.Repository.URL = "repo-2", "/srv/other"
	if err := r.s.Replace(1, []wire.Schedule{testSchedule("s1", 10*time.Second), b}); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.clock.step(t, 5*time.Second)
	got := map[string]bool{r.runner.next(t).ScheduleID: true, r.runner.next(t).ScheduleID: true}
	if !got["s1"] || !got["s2"] || len(r.runner.skipped()) != 0 {
		t.Fatalf("runs %v, skips %v; want both schedules running at once", got, r.runner.skipped())
	}
}

func TestForgetFollowsASuccessfulRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), t0, 0)
	fail := false
	r.runner.outcome = func(j Job) Outcome {
		if fail && j.Kind == "backup" {
			return Outcome{Status: wire.StatusFailed, ExitCode: 1, Error: "boom"}
		}
		return Outcome{Status: wire.StatusSucceeded}
	}
	sc := testSchedule("s1", 10*time.Second)
	sc.Forget = json.RawMessage(`{"retention":{"keep_last":2},"host":"h"}`)
	if err := r.s.Replace(1, []wire.Schedule{sc}); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.clock.step(t, 5*time.Second)
	backup := r.runner.next(t)
	forget := r.runner.next(t)
	if forget.Kind != "forget" || forget.ScheduleID != "s1" || forget.ID == backup.ID || string(forget.Params) != string(sc.Forget) ||
		forget.Repository.Password.Reveal() != testPassword {
		t.Fatalf("follow-up = %+v", forget)
	}
	eventually(t, "the chain to end", func() bool { fs, _ := r.s.Fire("s1"); return fs.LastStatus == wire.StatusSucceeded })

	r.runner.mu.Lock()
	fail = true
	r.runner.mu.Unlock()
	r.clock.step(t, 10*time.Second)
	if j := r.runner.next(t); j.Kind != "backup" {
		t.Fatalf("fired %+v", j)
	}
	r.runner.none(t)
	eventually(t, "the failed run recorded", func() bool { fs, _ := r.s.Fire("s1"); return fs.LastStatus == wire.StatusFailed })
}

func TestFireTimesSurviveARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp := openState(t, dir)
	a := newRig(t, sp, t0, 7*time.Second)
	sc := testSchedule("s1", time.Minute)
	sc.JitterSeconds = 30
	if err := a.s.Replace(3, []wire.Schedule{sc}); err != nil {
		t.Fatal(err)
	}
	planned, _ := a.s.Fire("s1")
	if !planned.Next.Equal(time.Date(2026, 3, 1, 12, 1, 7, 0, time.UTC)) {
		t.Fatalf("planned %+v", planned)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	// The agent comes back before the run is due and draws a different
	// jitter: the stored fire time stands.
	sp = openState(t, dir)
	defer sp.Close()
	b := newRig(t, sp, t0.Add(20*time.Second), 2*time.Second)
	if b.s.Revision() != 3 {
		t.Fatalf("revision after the restart = %d", b.s.Revision())
	}
	got, ok := b.s.Fire("s1")
	if !ok || !got.Next.Equal(planned.Next) || !got.Due.Equal(planned.Due) {
		t.Fatalf("after the restart %+v, want %+v", got, planned)
	}
	b.start()
	b.clock.step(t, 31*time.Second)
	b.runner.none(t)
	b.clock.step(t, time.Second)
	j := b.runner.next(t)
	if j.Repository.Password.Reveal() != testPassword {
		t.Fatal("the stored schedule lost its repository's password")
	}
	times, err := FireTimes(sp)
	if err != nil || !times["s1"].LastFire.Equal(planned.Next) || times["s1"].LastJobID != j.ID {
		t.Fatalf("stored fire times %+v %v", times, err)
	}
}

func TestMissedRunRunsOnceWithCatchUp(t *testing.T) {
	t.Parallel()
	for name, catchUp := range map[string]bool{"catch-up on": true, "catch-up off": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			state := newMapState()
			a := newRig(t, state, t0, 0)
			sc := testSchedule("s1", 10*time.Second)
			sc.CatchUp = catchUp
			if err := a.s.Replace(1, []wire.Schedule{sc}); err != nil {
				t.Fatal(err)
			}
			// The agent was down for five runs.
			b := newRig(t, state, t0.Add(53*time.Second), 0)
			b.start()
			if catchUp {
				j := b.runner.next(t)
				if j.ScheduleID != "s1" {
					t.Fatalf("fired %+v", j)
				}
				b.runner.none(t)
				if len(b.runner.skipped()) != 0 {
					t.Fatalf("skips %+v", b.runner.skipped())
				}
			} else {
				b.runner.none(t)
				skips := b.runner.skipped()
				if len(skips) != 1 || !strings.Contains(skips[0].reason, "missed") || !strings.Contains(skips[0].reason, "2026-03-01T12:00:20Z") {
					t.Fatalf("skips %+v; want one naming the missed time", skips)
				}
			}
			fs, _ := b.s.Fire("s1")
			if !fs.Due.Equal(t0.Add(55 * time.Second)) {
				t.Fatalf("next due %s; want the regular one after the restart", fs.Due)
			}
			b.clock.step(t, 2*time.Second)
			b.runner.next(t)
		})
	}
}

func TestAHostThatSleptCatchesUp(t *testing.T) {
	t.Parallel()
	r := newRig(t, newMapState(), t0, 0)
	sc := testSchedule("s1", 10*time.Second)
	sc.CatchUp = false
	if err := r.s.Replace(1, []wire.Schedule{sc}); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.clock.step(t, 10*time.Minute) // the timer fires ten minutes late
	r.runner.none(t)
	if skips := r.runner.skipped(); len(skips) != 1 || !strings.Contains(skips[0].reason, "missed") {
		t.Fatalf("skips %+v", skips)
	}
}

func TestReplaceKeepsOrReplansFireTimes(t *testing.T) {
	t.Parallel()
	state := newMapState()
	r := newRig(t, state, t0, 0)
	a, b, c := testSchedule("a", time.Minute), testSchedule("b", time.Minute), testSchedule("c", time.Minute)
	if err := r.s.Replace(1, []wire.Schedule{a, b, c}); err != nil {
		t.Fatal(err)
	}
	before, _ := r.s.Fire("a")
	r.clock.Advance(50 * time.Second) // no loop runs: nothing fires
	a.Params = json.RawMessage(`{"paths":["/home"]}`)
	b.EverySeconds = 3600
	bad := testSchedule("bad", 0)
	bad.Cron = "61 * * * *"
	err := r.s.Replace(2, []wire.Schedule{a, b, bad})
	if err == nil || !strings.Contains(err.Error(), `"sched-bad"`) || !strings.Contains(err.Error(), "cron: ") {
		t.Fatalf("Replace = %v; want the bad schedule named", err)
	}
	if got, _ := r.s.Fire("a"); !got.Next.Equal(before.Next) {
		t.Fatalf("a's params changed and its fire time moved: %s → %s", before.Next, got.Next)
	}
	if got, _ := r.s.Fire("b"); !got.Due.Equal(time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("b's interval changed; due %s", got.Due)
	}
	if _, ok := r.s.Fire("c"); ok {
		t.Fatal("c is still scheduled")
	}
	if _, ok := state.m[firePrefix+"c"]; ok {
		t.Fatal("c's fire state is still stored")
	}
	if r.s.Revision() != 2 {
		t.Fatalf("revision %d", r.s.Revision())
	}
	r.start()
	r.clock.step(t, 10*time.Second)
	if j := r.runner.next(t); j.ScheduleID != "a" || string(j.Params) != `{"paths":["/home"]}` {
		t.Fatalf("fired %+v; want a with its new params", j)
	}
}

func TestStoredListIsSealed(t *testing.T) {
	t.Parallel()
	state := newMapState()
	r := newRig(t, state, t0, 0)
	if err := r.s.Replace(1, []wire.Schedule{testSchedule("s1", time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for k, v := range state.m {
		if bytes.Contains(v, []byte(testPassword)) || bytes.Contains(v, []byte("/srv/restic")) {
			t.Fatalf("state %s holds the repository's credentials in the clear", k)
		}
	}
	if _, list, err := open(testKey, state.m[listKey]); err != nil || len(list) != 1 || list[0].Repository.Password.Reveal() != testPassword {
		t.Fatalf("the sealed list does not open: %v", err)
	}
	other := []byte("ffffffffffffffffffffffffffffffff")
	if _, _, err := open(other, state.m[listKey]); !errors.Is(err, ErrSealed) {
		t.Fatalf("another key opened the list: %v", err)
	}
	// An agent enrolled again (another key) starts with no schedules and
	// forgets the old fire times.
	s, err := New(Options{State: state, Runner: newFakeRunner(), Key: other, Clock: newFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Fire("s1"); ok {
		t.Fatal("a schedule was loaded with the wrong key")
	}
	if _, ok := state.m[firePrefix+"s1"]; ok {
		t.Fatal("the fire state of an unusable list was kept")
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{State: newMapState(), Runner: newFakeRunner(), Key: []byte("short")}); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := New(Options{Runner: newFakeRunner(), Key: testKey}); err == nil {
		t.Fatal("no state was accepted")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
