package alert

import (
	"testing"
	"time"
)

// A plugin given up on is reset after the back-off, which doubles while
// it keeps being given up on and is back at its base once it ran.
func TestResetterBacksOff(t *testing.T) {
	t.Parallel()
	r := newResetter(time.Minute)
	failed := ChannelStatus{State: pluginFailed}
	running := ChannelStatus{State: pluginRunning}
	at := t0
	step := func(st ChannelStatus, d time.Duration, want bool) {
		t.Helper()
		at = at.Add(d)
		if got := r.due("hook", st, at); got != want {
			t.Fatalf("at +%s (%s): due = %v, want %v", at.Sub(t0), st.State, got, want)
		}
	}
	step(failed, 0, false) // first seen failed
	step(failed, 59*time.Second, false)
	step(failed, time.Second, true)  // one minute: reset
	step(failed, time.Second, false) // given up on again: now two minutes
	step(failed, 119*time.Second, false)
	step(failed, time.Second, true)
	step(ChannelStatus{State: "stopped"}, time.Second, false) // not running yet: the back-off stays
	step(failed, time.Second, false)
	step(failed, 4*time.Minute, true)
	step(running, time.Second, false) // healthy: back to one minute
	step(failed, time.Second, false)
	step(failed, time.Minute, true)
	if r2 := newResetter(2 * time.Hour); r2.limit != 2*time.Hour {
		t.Fatalf("limit = %s", r2.limit)
	}
}
