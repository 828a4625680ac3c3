package alert

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

func TestJobFailedMatchesKindHostTagAndRepository(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1", "prod")
	db := h.addHost("db-1", "prod")
	dev := h.addHost("dev-1", "dev")
	main := h.addRepo("main")
	other := h.addRepo("other")
	h.addRule(rule.Input{
		Name: "prod-backups", On: "job_failed", Channels: []string{"ops", "mail"}, Kinds: []string{"backup"},
		Tags: []string{"prod"}, Repositories: []string{"main"},
	})

	h.endJob(dev, main, "backup", store.JobFailed, "boom")   // tag dev
	h.endJob(web, main, "forget", store.JobFailed, "boom")   // kind forget
	h.endJob(web, other, "backup", store.JobFailed, "boom")  // repository other
	h.endJob(db, main, "backup", store.JobSucceeded, "")     // succeeded
	h.endJob(web, main, "backup", store.JobCancelled, "bye") // cancelled
	h.quiet()
	if as := h.alerts(store.AlertFilter{}); len(as) != 0 {
		t.Fatalf("alerts for jobs the rule does not take: %+v", as)
	}

	job := h.endJob(web, main, "backup", store.JobFailed, "Fatal: unable to open repository at rest:https://backup:hunter2@repo.example.com/web")
	ds := h.await(2)
	if got := channelsOf(ds); !slices.Equal(got, []string{"mail", "ops"}) {
		t.Fatalf("delivered to %v", got)
	}
	n := h.sentTo("ops")[0]
	if n.Event != notify.EventJobFailed || n.Severity != notify.SeverityCritical || n.Title != "backup of web-1 failed" ||
		n.Host != "web-1" || n.Job != job || len(n.Links) != 2 || n.Links[0].URL != "https://backup.example.com/jobs/"+job {
		t.Fatalf("notification = %+v", n)
	}
	requireContains(t, "body", n.Body, "repository main", "exit code 1", "rest:https://backup:***@repo.example.com/web", "rule: prod-backups")
	if strings.Contains(n.Body, "hunter2") {
		t.Fatalf("a URL's password reached the notification: %s", n.Body)
	}
	a := h.onlyAlert(store.AlertFilter{HostID: web})
	if a.Status != store.AlertOpen || a.Kind != "job_failed" || a.JobID != job || a.RepositoryID != main || a.LastNotifiedAt == nil {
		t.Fatalf("alert = %+v", a)
	}
	if got := h.auditActions(); !slices.Equal(got, []string{"alert.fire"}) {
		t.Fatalf("audit = %v", got)
	}
}

func TestRepeatsAreThrottledAndAcknowledgedOnesStayQuiet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"ops"}, RepeatInterval: "1h"})

	h.endJob(web, repo, "backup", store.JobFailed, "first")
	h.await(1)
	h.clock.Advance(30 * time.Minute)
	second := h.endJob(web, repo, "backup", store.JobFailed, "second")
	h.quiet()
	a := h.onlyAlert(store.AlertFilter{})
	if a.Occurrences != 2 || a.JobID != second || !strings.Contains(a.Body, "second") || !a.LastNotifiedAt.Equal(t0) {
		t.Fatalf("after a repeat within the interval: %+v", a)
	}

	// Once the interval has passed, a repeat is notified again.
	h.clock.Advance(31 * time.Minute)
	h.endJob(web, repo, "backup", store.JobFailed, "third")
	h.await(1)
	if got := h.sentTo("ops"); len(got) != 2 || !strings.Contains(got[1].Body, "third") || !strings.Contains(got[1].Body, "occurred 3 times") {
		t.Fatalf("notifications = %+v", got)
	}

	// Acknowledged, it stays quiet however long it goes on.
	if err := h.db.AcknowledgeAlert(h.ctx, a.ID, "alice", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(5 * time.Hour)
	h.endJob(web, repo, "backup", store.JobFailed, "fourth")
	h.quiet()
	if a := h.onlyAlert(store.AlertFilter{}); a.Occurrences != 4 || a.Status != store.AlertAcknowledged {
		t.Fatalf("acknowledged alert = %+v", a)
	}
}

func TestResolutionNoticeAndRefiring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"ops"}, RepeatInterval: "1h"})

	h.endJob(web, repo, "backup", store.JobFailed, "disk full")
	h.await(1)
	// A success of another kind or repository resolves nothing.
	h.endJob(web, repo, "check", store.JobSucceeded, "")
	h.endJob(web, h.addRepo("other"), "backup", store.JobSucceeded, "")
	h.quiet()
	h.clock.Advance(time.Minute)
	ok := h.endJob(web, repo, "backup", store.JobSucceeded, "")
	h.await(1)
	a := h.onlyAlert(store.AlertFilter{})
	if a.Status != store.AlertResolved || a.ResolvedBy != store.ResolvedBySystem || !a.ResolvedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("alert after the success = %+v", a)
	}
	notice := h.sentTo("ops")[1]
	if notice.Event != notify.EventAlertResolved || notice.Severity != notify.SeverityInfo || notice.Title != "Resolved: backup of web-1 failed" {
		t.Fatalf("resolution notice = %+v", notice)
	}
	requireContains(t, "resolution body", notice.Body, ok, "succeeded")

	// The condition coming back after the engine resolved it is news,
	// however soon.
	h.clock.Advance(time.Minute)
	h.endJob(web, repo, "backup", store.JobFailed, "disk full again")
	h.await(1)
	if as := h.alerts(store.AlertFilter{Status: store.AlertOpen}); len(as) != 1 || as[0].ID == a.ID {
		t.Fatalf("open alerts after the new failure: %+v", as)
	}
	if got := h.auditActions(); !slices.Equal(got, []string{"alert.fire", "alert.resolve", "alert.fire"}) {
		t.Fatalf("audit = %v", got)
	}
}

func TestManualResolveKeepsTheThrottle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"ops"}, RepeatInterval: "1h"})

	h.endJob(web, repo, "backup", store.JobFailed, "x")
	h.await(1)
	a := h.onlyAlert(store.AlertFilter{})
	if err := h.db.ResolveAlert(h.ctx, a.ID, "alice", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Minute)
	h.endJob(web, repo, "backup", store.JobFailed, "y")
	h.quiet()
	if as := h.alerts(store.AlertFilter{Status: store.AlertOpen}); len(as) != 1 || as[0].LastNotifiedAt != nil {
		t.Fatalf("open alerts after a failure soon after a manual resolve: %+v", as)
	}
	h.clock.Advance(time.Hour)
	h.endJob(web, repo, "backup", store.JobFailed, "z")
	h.await(1)
}

func TestMinSeverityKeepsQuietAlertsQuiet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "critical-only", On: "job_failed", Channels: []string{"ops"}, MinSeverity: "critical"})

	h.endJob(web, repo, "forget", store.JobFailed, "x") // warning
	h.quiet()
	a := h.onlyAlert(store.AlertFilter{})
	if a.Severity != "warning" || a.LastNotifiedAt != nil {
		t.Fatalf("alert below the minimum severity = %+v", a)
	}
	h.endJob(web, repo, "forget", store.JobSucceeded, "")
	h.quiet() // never notified, so no resolution notice either
	if a := h.onlyAlert(store.AlertFilter{}); a.Status != store.AlertResolved {
		t.Fatalf("alert = %+v", a)
	}
	h.endJob(web, repo, "backup", store.JobFailed, "x") // critical
	h.await(1)
}

func TestCheckFailedIsPerRepository(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	db := h.addHost("db-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "checks", On: "check_failed", Channels: []string{"ops"}})

	h.endJob(web, repo, "backup", store.JobFailed, "not a check")
	h.quiet()
	h.endJob(web, repo, "check", store.JobFailed, "Fatal: repository contains errors")
	h.await(1)
	n := h.sentTo("ops")[0]
	if n.Event != EventCheckFailed || n.Severity != notify.SeverityCritical || n.Title != "check of repository main failed" {
		t.Fatalf("notification = %+v", n)
	}
	// Any host's successful check of the repository clears it.
	h.endJob(db, repo, "check", store.JobSucceeded, "")
	h.await(1)
	if a := h.onlyAlert(store.AlertFilter{}); a.Status != store.AlertResolved {
		t.Fatalf("alert = %+v", a)
	}
}

func TestHostOfflineFiresAfterTheThresholdAndResolves(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	h.addHost("db-1") // stays online
	h.addRule(rule.Input{Name: "offline", On: "host_offline", Channels: []string{"ops"}, After: "5m", RepeatInterval: "1h"})

	h.setStatus(web, store.HostOffline)
	h.clock.Advance(4*time.Minute + 59*time.Second)
	h.e.evaluateState(h.ctx)
	h.quiet()
	h.clock.Advance(time.Second)
	h.e.evaluateState(h.ctx)
	h.await(1)
	n := h.sentTo("ops")[0]
	if n.Event != notify.EventHostOffline || n.Title != "host web-1 is offline" || n.Host != "web-1" {
		t.Fatalf("notification = %+v", n)
	}
	requireContains(t, "body", n.Body, "offline since 2026-11-26T12:00:00Z (5m0s)")

	// Still offline: nothing new until the repeat interval, then a
	// reminder; no write in between.
	h.clock.Advance(30 * time.Minute)
	h.e.evaluateState(h.ctx)
	h.quiet()
	h.clock.Advance(30 * time.Minute)
	h.e.evaluateState(h.ctx)
	h.await(1)
	if a := h.onlyAlert(store.AlertFilter{}); a.Occurrences != 1 || !a.LastNotifiedAt.Equal(h.clock.Now()) {
		t.Fatalf("after the reminder: %+v", a)
	}

	h.setStatus(web, store.HostOnline)
	h.e.evaluateState(h.ctx)
	h.await(1)
	notice := h.sentTo("ops")[2]
	if notice.Event != notify.EventAlertResolved || notice.Body[:len("Host web-1 is online again.")] != "Host web-1 is online again." {
		t.Fatalf("resolution notice = %+v", notice)
	}
}

func TestBackupStaleEscalatesAndResolves(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	idle := h.addHost("idle-1")
	repo := h.addRepo("main")
	h.endJob(web, repo, "backup", store.JobSucceeded, "")
	h.addRule(rule.Input{Name: "stale", On: "backup_stale", Channels: []string{"ops"}, MaxAge: "24h", RepeatInterval: "7d", Hosts: []string{"web-1", idle}})

	h.clock.Advance(23 * time.Hour)
	h.e.evaluateState(h.ctx)
	h.quiet()
	h.clock.Advance(time.Hour)
	h.e.evaluateState(h.ctx)
	ds := h.await(2) // web-1 to main, and idle-1 that never backed up
	if len(ds) != 2 {
		t.Fatal(ds)
	}
	byHost := map[string]store.Alert{}
	for _, a := range h.alerts(store.AlertFilter{}) {
		byHost[a.HostID] = a
	}
	if a := byHost[web]; a.Severity != "warning" || a.RepositoryID != repo || a.Title != "last backup of web-1 to main is 1d old" {
		t.Fatalf("web-1's alert = %+v", a)
	}
	if a := byHost[idle]; a.RepositoryID != "" || a.Title != "no successful backup of idle-1 yet" {
		t.Fatalf("idle-1's alert = %+v", a)
	}

	// Twice the age: critical, notified although the repeat interval has
	// not passed.
	h.clock.Advance(24 * time.Hour)
	h.e.evaluateState(h.ctx)
	ds = h.await(2)
	for _, d := range ds {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	if a := h.onlyAlert(store.AlertFilter{HostID: web}); a.Severity != "critical" {
		t.Fatalf("after twice the age: %+v", a)
	}

	// A successful backup settles it at once.
	h.endJob(web, repo, "backup", store.JobSucceeded, "")
	h.await(1)
	if a := h.onlyAlert(store.AlertFilter{HostID: web}); a.Status != store.AlertResolved {
		t.Fatalf("after the backup: %+v", a)
	}
	last := h.sentTo("ops")[len(h.sentTo("ops"))-1]
	requireContains(t, "resolution", last.Body, "A backup of host web-1 to main succeeded")
}

func TestFailingChannelRaisesPluginFailingOnTheOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	repo := h.addRepo("main")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"hook", "mail"}})
	h.addRule(rule.Input{Name: "plugins", On: "plugin_failing", Channels: []string{"hook", "mail"}})
	h.chans.setFail("hook", errRefused)

	h.endJob(web, repo, "backup", store.JobFailed, "x")
	ds := h.await(2)
	var hookErr error
	for _, d := range ds {
		if d.Channel == "hook" {
			hookErr = d.Err
			if d.Attempts != 2 {
				t.Errorf("hook was tried %d times, want 1 + 1 retry", d.Attempts)
			}
		}
	}
	if hookErr == nil {
		t.Fatalf("the failing channel reported success: %+v", ds)
	}
	// The plugin_failing alert goes to mail only.
	ds = h.await(1)
	if ds[0].Channel != "mail" {
		t.Fatalf("plugin_failing went to %s", ds[0].Channel)
	}
	pf := h.sentTo("mail")[1]
	if pf.Event != EventPluginFailing || pf.Title != "channel hook is failing" {
		t.Fatalf("plugin_failing notification = %+v", pf)
	}
	requireContains(t, "body", pf.Body, `Delivering "backup of web-1 failed" through channel hook failed after 2 attempts`, "503 Service Unavailable")

	// The channel works again: its next delivery resolves the alert, and
	// the notice goes to every channel of the rule.
	h.chans.setFail("hook", nil)
	h.clock.Advance(2 * time.Hour)
	h.endJob(web, repo, "backup", store.JobFailed, "again")
	h.await(2)
	ds = h.await(2)
	if got := channelsOf(ds); !slices.Equal(got, []string{"hook", "mail"}) {
		t.Fatalf("resolution notice went to %v", got)
	}
	if a := h.onlyAlert(store.AlertFilter{Status: store.AlertResolved}); a.Kind != "plugin_failing" || a.Fingerprint != "channel=hook" {
		t.Fatalf("resolved alert = %+v", a)
	}
}

func TestUnknownChannelIsNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Retries = 5 })
	web := h.addHost("web-1")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"nope"}})
	h.endJob(web, "", "version", store.JobFailed, "x")
	if ds := h.await(1); ds[0].Attempts != 1 || ds[0].Err == nil {
		t.Fatalf("delivery to an unknown channel = %+v", ds[0])
	}
}

func TestCrashedPluginIsReportedOnTheOtherChannels(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.EvaluateEvery = 100 * time.Millisecond })
	h.addRule(rule.Input{Name: "plugins", On: "plugin_failing", Channels: []string{"hook", "mail", "phone"}})
	obs := pluginObservation{
		channel: "hook", crashed: 1, at: time.Now(),
		status: ChannelStatus{Plugin: "notify-webhook", State: "running", Restarts: 1, LastError: `plugin "notify-webhook" exited`},
	}
	h.e.onPluginObservation(h.ctx, obs)
	if got := channelsOf(h.await(2)); !slices.Equal(got, []string{"mail", "phone"}) {
		t.Fatalf("crash report went to %v", got)
	}
	requireContains(t, "body", h.sentTo("phone")[0].Body, "notify-webhook of channel hook crashed and was restarted", "exited")

	// A crash counts for a whole check interval: a check right after it
	// does not clear it, the first one after the interval does.
	obs.crashed, obs.at = 0, time.Now()
	h.e.onPluginObservation(h.ctx, obs)
	h.quiet()
	time.Sleep(100 * time.Millisecond)
	obs.at = time.Now()
	h.e.onPluginObservation(h.ctx, obs)
	h.await(3)
	// Given up on: critical.
	obs.status.State = "failed"
	h.e.onPluginObservation(h.ctx, obs)
	h.await(2)
	if a := h.onlyAlert(store.AlertFilter{Status: store.AlertOpen}); a.Severity != "critical" {
		t.Fatalf("alert of a failed plugin = %+v", a)
	}
}

func TestJobEndedNeverBlocks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	start := time.Now()
	for i := range eventQueueSize + 10 {
		h.e.JobEnded(string(rune(i)))
	}
	if h.e.Dropped() != 10 {
		t.Fatalf("dropped %d job ends, want 10", h.e.Dropped())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("JobEnded took %s for a full queue", d)
	}
}

func TestRulesThatNoLongerParseAreSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	r := ToStore(rule.Spec{Name: "broken", On: "job_failed", Channels: []string{"ops"}, RepeatInterval: time.Hour, Enabled: true, MinSeverity: "warning"}, "r-broken", t0)
	r.Event = "from_the_future"
	if err := h.db.CreateAlertRule(h.ctx, r); err != nil {
		t.Fatal(err)
	}
	h.addRule(rule.Input{Name: "good", On: "job_failed", Channels: []string{"ops"}})
	h.endJob(web, "", "backup", store.JobFailed, "x")
	h.await(1)
	if a := h.onlyAlert(store.AlertFilter{}); a.RuleName != "good" {
		t.Fatalf("alert = %+v", a)
	}
}

// fakeHealth stands in for the plugin host's view of the channels in
// this test: a process that dies between checks is what it reports; the
// real plugin host killed with SIGKILL is tested end to end.
type fakeHealth struct {
	mu       sync.Mutex
	status   map[string]ChannelStatus
	probed   []string
	onProbes func(name string)
}

func (f *fakeHealth) ChannelNames() []string { return []string{"hook", "mail"} }

func (f *fakeHealth) ChannelStatus(name string) (ChannelStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[name]
	return st, ok
}

func (f *fakeHealth) Reset(string) error { return nil }

func (f *fakeHealth) Probe(_ context.Context, name string) error {
	f.mu.Lock()
	f.probed = append(f.probed, name)
	fn := f.onProbes
	f.mu.Unlock()
	if fn != nil {
		fn(name)
	}
	return nil
}

// TestStartedEngine runs the engine's own goroutines: a job end handed to
// JobEnded is delivered, a host coming back is resolved at once through
// HostChanged, and a plugin restart found by the watcher is reported.
func TestStartedEngine(t *testing.T) {
	t.Parallel()
	health := &fakeHealth{status: map[string]ChannelStatus{
		"hook": {Plugin: "notify-webhook", State: "running"},
		"mail": {Plugin: "notify-smtp", State: "stopped"},
	}}
	h := newHarness(t, func(o *Options) {
		o.Now = time.Now
		o.EvaluateEvery = 50 * time.Millisecond
		o.Health = health
	})
	web := h.addHost("web-1")
	h.addRule(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"mail"}})
	h.addRule(rule.Input{Name: "offline", On: "host_offline", Channels: []string{"mail"}, After: "1s"})
	h.addRule(rule.Input{Name: "plugins", On: "plugin_failing", Channels: []string{"hook", "mail"}})
	h.e.Start(t.Context())

	next := func(what string) Delivery {
		t.Helper()
		select {
		case d := <-h.done:
			return d
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery of %s", what)
		}
		return Delivery{}
	}
	id := auth.NewID()
	if err := h.db.CreateJob(h.ctx, store.Job{ID: id, HostID: web, Kind: "backup", Status: store.JobQueued, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := h.db.FinishJob(h.ctx, id, store.JobEnd{Status: store.JobFailed, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h.e.JobEnded(id)
	if d := next("the failed job"); d.Event != notify.EventJobFailed || d.Err != nil || d.Latency <= 0 {
		t.Fatalf("delivery = %+v", d)
	}

	// The plugin of hook dies and is restarted by the next probe.
	health.mu.Lock()
	health.onProbes = func(name string) {
		health.mu.Lock()
		defer health.mu.Unlock()
		if name == "hook" && health.status["hook"].Restarts == 0 {
			health.status["hook"] = ChannelStatus{Plugin: "notify-webhook", State: "running", Restarts: 1, LastError: "plugin exited"}
		}
	}
	health.mu.Unlock()
	if d := next("the crash report"); d.Event != EventPluginFailing || d.Channel != "mail" {
		t.Fatalf("delivery = %+v", d)
	}
	if d := next("the crash report's resolution"); d.Event != notify.EventAlertResolved {
		t.Fatalf("delivery = %+v", d)
	}
	next("the crash report's resolution")
	health.mu.Lock()
	probed := slices.Clone(health.probed)
	health.mu.Unlock()
	if slices.Contains(probed, "mail") {
		t.Fatalf("a stopped plugin was probed (and so started): %v", probed)
	}

	// This engine runs on the real clock.
	if err := h.db.SetHostStatus(h.ctx, web, store.HostOffline, time.Now()); err != nil {
		t.Fatal(err)
	}
	wentOffline := time.Now()
	h.e.HostChanged()
	if d := next("the offline host"); d.Event != notify.EventHostOffline {
		t.Fatalf("delivery = %+v", d)
	}
	if waited := time.Since(wentOffline); waited < time.Second {
		t.Fatalf("host_offline with after = 1s fired %s after the host went offline", waited)
	}
	if err := h.db.SetHostStatus(h.ctx, web, store.HostOnline, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h.e.HostChanged()
	if d := next("the host back online"); d.Event != notify.EventAlertResolved {
		t.Fatalf("delivery = %+v", d)
	}
	t.Logf("resolved %s after the host came back", time.Since(start))
}

// TestManualResolveOfAHoldingCondition: an offline host's alert resolved
// by hand opens again at the next check, quietly, and is notified once it
// has been open for the repeat interval.
func TestManualResolveOfAHoldingCondition(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	h.addRule(rule.Input{Name: "offline", On: "host_offline", Channels: []string{"ops"}, After: "1m", RepeatInterval: "1h"})
	h.setStatus(web, store.HostOffline)
	h.clock.Advance(time.Minute)
	h.e.evaluateState(h.ctx)
	h.await(1)
	a := h.onlyAlert(store.AlertFilter{})
	if err := h.db.ResolveAlert(h.ctx, a.ID, "alice", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		h.clock.Advance(10 * time.Minute)
		h.e.evaluateState(h.ctx)
	}
	h.quiet()
	if as := h.alerts(store.AlertFilter{Status: store.AlertOpen}); len(as) != 1 || as[0].LastNotifiedAt != nil {
		t.Fatalf("reopened alert = %+v", as)
	}
	h.clock.Advance(19 * time.Minute) // 59 minutes after it opened
	h.e.evaluateState(h.ctx)
	h.quiet()
	h.clock.Advance(time.Minute)
	h.e.evaluateState(h.ctx)
	h.await(1)
}
