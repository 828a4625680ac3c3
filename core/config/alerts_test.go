package config

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
)

func TestLoadAlerts(t *testing.T) {
	t.Parallel()
	cfg, files, diags := Load(filepath.Join("testdata", "alerts.hcl"))
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("Load:\n%s", diagText(t, files, diags))
	}
	if cfg.Alerting.Interval() != 2*time.Second || cfg.Alerting.Retries() != 1 {
		t.Fatalf("alerting = %+v", cfg.Alerting)
	}
	specs := cfg.AlertSpecs()
	if len(specs) != 3 {
		t.Fatalf("AlertSpecs = %+v", specs)
	}
	failed, stale, offline := specs[0], specs[1], specs[2]
	if failed.Name != "backup-failed" || failed.On != rule.JobFailed || !slices.Equal(failed.Kinds, []string{"backup", "check"}) ||
		!slices.Equal(failed.Tags, []string{"prod"}) || !slices.Equal(failed.Channels, []string{"oncall-phone", "ops-mail"}) ||
		failed.MinSeverity != "critical" || failed.RepeatInterval != 30*time.Minute || !failed.Enabled {
		t.Errorf("backup-failed = %+v", failed)
	}
	if stale.On != rule.BackupStale || stale.MaxAge != 26*time.Hour || !slices.Equal(stale.Repositories, []string{"offsite"}) ||
		stale.MinSeverity != rule.DefaultMinSeverity || stale.RepeatInterval != rule.DefaultRepeatInterval {
		t.Errorf("stale = %+v", stale)
	}
	if offline.On != rule.HostOffline || offline.After != rule.DefaultOfflineAfter || offline.Enabled {
		t.Errorf("offline = %+v", offline)
	}
}

func TestNoAlertingBlockKeepsTheEngineDefaults(t *testing.T) {
	t.Parallel()
	cfg, _, diags := Load(filepath.Join("testdata", "minimal.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Alerting.Interval() != 0 || cfg.Alerting.Retries() != -1 || len(cfg.AlertSpecs()) != 0 {
		t.Fatalf("alerting without a block = %+v, %d rules", cfg.Alerting, len(cfg.AlertSpecs()))
	}
}
