package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scheduleStaleHCL: stale after three intervals of the backup schedule.
const scheduleStaleHCL = `
alerting {
  evaluate_every = "1s"
}

alert "missed" {
  on        = "backup_stale"
  intervals = 3
  channels  = ["hook", "phone"]
}
`

// A seconds-level schedule whose backups fail: after three of its
// intervals without a success the backup_stale rule fires; once the
// schedule's backups succeed again it resolves.
func TestEndToEndBackupStaleRelativeToSchedule(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	in := &inbox{}
	r.withConfig(startReceivers(t, in) + scheduleStaleHCL)
	hostName := fmt.Sprint(r.host()["name"])

	var rules []map[string]any
	r.okJSON(&rules, "alert", "rule", "list")
	if len(rules) != 1 || rules[0]["intervals"] != 3.0 {
		t.Fatalf("alert rule list = %v", rules)
	}

	src := filepath.Join(t.TempDir(), "appears-later")
	created := time.Now()
	r.createSchedule("--name", "fast", "--path", src, "--every", "2s")
	got := in.wait(t, "backup_stale", "backup of "+hostName+" to main", "webhook", "ntfy")
	if waited := got["webhook"].at.Sub(created); waited < 6*time.Second {
		t.Errorf("stale after %s, before three intervals of 2s", waited)
	}
	if b := got["webhook"].body; !strings.Contains(b, "3 × the interval of schedule fast (2s)") || !strings.Contains(b, "the rule allows 6s") {
		t.Errorf("stale body:\n%s", b)
	}

	// The path appears: the next scheduled backup succeeds and the alert
	// resolves.
	writeTree(t, src, 1, 3, 0, 512)
	got = in.wait(t, "alert_resolved", "Resolved: ", "webhook", "ntfy")
	if b := got["webhook"].body; !strings.Contains(b, "A backup of host "+hostName+" to main succeeded") {
		t.Errorf("resolution body:\n%s", b)
	}
	var alerts []map[string]any
	r.okJSON(&alerts, "alert", "list", "--status", "resolved")
	if len(alerts) != 1 || alerts[0]["kind"] != "backup_stale" || alerts[0]["resolved_by"] != "system" {
		t.Fatalf("alert list = %v", alerts)
	}
}
