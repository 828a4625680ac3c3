package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// alertsFixture stores two hosts, a rule (and one from the config file)
// and alerts in every state, as the alert engine would.
func alertsFixture(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	insertHost(t, db, store.Host{ID: "h-web", Name: "web-1", Status: store.HostOnline})
	insertHost(t, db, store.Host{ID: "h-db", Name: "db-1", Status: store.HostOnline})
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, r := range []store.AlertRule{
		{
			ID: "r-fail", Name: "backup-failed", Event: "job_failed", Params: []byte(`{"kinds":["backup"]}`), MinSeverity: "warning",
			Channels: []string{"ops"}, Repeat: time.Hour, Enabled: true, ManagedBy: "user", CreatedAt: now, UpdatedAt: now,
		},
		{
			ID: "r-conf", Name: "declared", Event: "host_offline", Params: []byte(`{"after":"10m"}`), MinSeverity: "warning",
			Channels: []string{"ops"}, Repeat: time.Hour, Enabled: true, ManagedBy: store.ManagedByConfig, CreatedAt: now, UpdatedAt: now,
		},
	} {
		if err := db.CreateAlertRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range []store.Alert{
		{ID: "a-resolved", Severity: "warning", Status: store.AlertOpen, HostID: "h-web", Title: "old trouble on web-1"},
		{ID: "a-acked", Severity: "warning", Status: store.AlertOpen, HostID: "h-db", Title: "backup of db-1 failed"},
		{ID: "a-open", Severity: "critical", Status: store.AlertOpen, HostID: "h-web", Title: "backup of web-1 failed"},
	} {
		a.RuleID, a.Kind, a.Fingerprint = "r-fail", "job_failed", a.ID
		a.Body = "restic said no."
		a.CreatedAt = now.Add(time.Duration(i) * time.Minute)
		a.UpdatedAt = a.CreatedAt
		if err := db.CreateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AcknowledgeAlert(ctx, "a-acked", "admin", now); err != nil {
		t.Fatal(err)
	}
	if err := db.ResolveAlert(ctx, "a-resolved", store.ResolvedBySystem, now); err != nil {
		t.Fatal(err)
	}
}

func alertStatus(t *testing.T, db *store.DB, id string) string {
	t.Helper()
	a, err := db.GetAlert(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

func TestAlertsPageListsAndHandlesAlerts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	alertsFixture(t, e.db)
	viewer := e.userClient(admin, "vera", store.RoleViewer)
	operator := e.userClient(admin, "otto", store.RoleOperator)

	// Active alerts by default, open before acknowledged; state and
	// severity in words.
	p := e.get(operator, "/alerts")
	if p.status != http.StatusOK {
		t.Fatalf("/alerts: %d\n%s", p.status, p.body)
	}
	open, acked := strings.Index(p.body, `data-alert-id="a-open"`), strings.Index(p.body, `data-alert-id="a-acked"`)
	if open < 0 || acked < 0 || open > acked || p.has(`data-alert-id="a-resolved"`) {
		t.Errorf("active alerts not open-first or the resolved one shown (open at %d, acknowledged at %d)", open, acked)
	}
	for _, want := range []string{
		`data-severity="critical"`, ">critical</span>", `data-state="acknowledged"`, ">acknowledged</span>",
		"by admin", `href="/alerts"`, `aria-current="page">Alerts`, `action="/alerts/a-open/ack"`, `action="/alerts/a-open/resolve"`,
	} {
		if !p.has(want) {
			t.Errorf("/alerts lacks %q", want)
		}
	}
	if p.has(`action="/alerts/a-acked/ack"`) || !p.has(`action="/alerts/a-acked/resolve"`) {
		t.Error("an acknowledged alert must offer resolve only")
	}

	// Filters: state, host, rule; a bad host is named on the page.
	p = e.get(operator, "/alerts?status=resolved")
	if !p.has(`data-alert-id="a-resolved"`) || p.has(`data-alert-id="a-open"`) || !p.has("its condition cleared") || p.has(`action="/alerts/a-resolved/`) {
		t.Errorf("resolved filter:\n%s", p.body)
	}
	p = e.get(operator, "/alerts?status=all&host=db-1")
	if !p.has(`data-alert-id="a-acked"`) || p.has(`data-alert-id="a-open"`) || p.has(`data-alert-id="a-resolved"`) {
		t.Errorf("host filter:\n%s", p.body)
	}
	p = e.get(operator, "/alerts?rule=declared")
	if !p.has("No alerts match this filter") {
		t.Errorf("rule filter:\n%s", p.body)
	}
	p = e.get(operator, "/alerts?host=nope")
	if p.status != http.StatusBadRequest || !p.has("host: no host") || !p.has(`id="alert-host"`) {
		t.Errorf("unknown host filter: %d\n%s", p.status, p.body)
	}

	// A viewer sees the alerts but no buttons, and the API refuses them.
	p = e.get(viewer, "/alerts")
	if !p.has(`data-alert-id="a-open"`) || p.has("/ack\"") || p.has("/resolve\"") || p.has(`action="/alert-rules"`) || p.has("/delete\"") {
		t.Errorf("viewer's /alerts has buttons or the rule form:\n%s", p.body)
	}
	p = e.form(viewer, "/alerts", "/alerts/a-open/ack", url.Values{"back": {"/alerts"}})
	if p.status != http.StatusSeeOther || alertStatus(t, e.db, "a-open") != store.AlertOpen {
		t.Fatalf("viewer ack: %d, alert %s", p.status, alertStatus(t, e.db, "a-open"))
	}
	if f := e.follow(viewer, p); !f.has(`role="alert"`) {
		t.Errorf("viewer ack shows no error:\n%s", f.body)
	}

	// An operator acknowledges, then resolves, returning to the page.
	p = e.form(operator, "/alerts", "/alerts/a-open/ack", url.Values{"back": {"/alerts?status=all"}})
	if p.status != http.StatusSeeOther || p.location != "/alerts?status=all" || alertStatus(t, e.db, "a-open") != store.AlertAcknowledged {
		t.Fatalf("operator ack: %d %q, alert %s", p.status, p.location, alertStatus(t, e.db, "a-open"))
	}
	if f := e.follow(operator, p); !f.has("acknowledged: its repeats are no longer notified") {
		t.Errorf("ack flash:\n%s", f.body)
	}
	p = e.form(operator, "/alerts", "/alerts/a-open/ack", url.Values{})
	if f := e.follow(operator, p); !f.has("cannot acknowledge") {
		t.Errorf("acknowledging twice:\n%s", f.body)
	}
	p = e.form(operator, "/alerts", "/alerts/a-open/resolve", url.Values{"back": {"https://evil.example/"}})
	if p.status != http.StatusSeeOther || p.location != "/alerts" || alertStatus(t, e.db, "a-open") != store.AlertResolved {
		t.Fatalf("operator resolve: %d %q, alert %s", p.status, p.location, alertStatus(t, e.db, "a-open"))
	}
	a, err := e.db.GetAlert(context.Background(), "a-open")
	if err != nil || a.ResolvedBy != "otto" || a.AcknowledgedBy != "otto" {
		t.Errorf("alert after resolve = %+v (%v)", a, err)
	}
}

func TestHostPageAlertHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	alertsFixture(t, e.db)
	p := e.get(admin, "/hosts/web-1?tab=alerts")
	if p.status != http.StatusOK || !p.has(`data-tab="alerts"`) || !p.has(`data-alert-id="a-open"`) || !p.has(`data-alert-id="a-resolved"`) ||
		p.has(`data-alert-id="a-acked"`) {
		t.Fatalf("web-1's alert history: %d\n%s", p.status, p.body)
	}
	if !p.has(`name="back" value="/hosts/h-web?tab=alerts"`) {
		t.Error("the host page's buttons do not return to it")
	}
	p = e.form(admin, "/hosts/web-1?tab=alerts", "/alerts/a-open/ack", url.Values{"back": {"/hosts/h-web?tab=alerts"}})
	if p.location != "/hosts/h-web?tab=alerts" || alertStatus(t, e.db, "a-open") != store.AlertAcknowledged {
		t.Fatalf("ack from the host page: %q, %s", p.location, alertStatus(t, e.db, "a-open"))
	}
	if p = e.get(admin, "/hosts/db-1?tab=alerts"); !p.has(`data-alert-id="a-acked"`) || p.has(`data-alert-id="a-open"`) {
		t.Errorf("db-1's alert history:\n%s", p.body)
	}
}

func TestAlertRulesInTheUI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	alertsFixture(t, e.db)
	viewer := e.userClient(admin, "vera", store.RoleViewer)
	operator := e.userClient(admin, "otto", store.RoleOperator)

	p := e.get(viewer, "/alerts")
	if !p.has(`data-rule="backup-failed"`) || !p.has(`data-rule="declared"`) || !p.has("kinds backup") || p.has("/alert-rules/r-fail/delete") ||
		p.has(`href="/alert-rules/new"`) || p.has("/alert-rules/r-fail/enabled") {
		t.Errorf("viewer's rule list:\n%s", p.body)
	}
	p = e.get(operator, "/alerts")
	if !p.has(`href="/alert-rules/r-fail/delete"`) || p.has("/alert-rules/r-conf/delete") || !p.has(`href="/alert-rules/new"`) ||
		!p.has(`action="/alert-rules/r-fail/enabled"`) || p.has(`action="/alert-rules/r-conf/enabled"`) || !p.has("from the config file (read-only)") {
		t.Errorf("operator's rule list: edit controls for user rules only:\n%s", p.body)
	}
	if p = e.get(viewer, "/alert-rules/new"); p.status != http.StatusForbidden {
		t.Errorf("viewer's new rule page: %d", p.status)
	}
	p = e.get(operator, "/alert-rules/new")
	if p.status != http.StatusOK || !p.has("no notification channels yet") || !p.has(`data-fields="kinds hosts tags repositories"`) {
		t.Errorf("new rule page: %d\n%s", p.status, p.body)
	}

	// The API's refusal names the field; what was typed stays.
	p = e.form(operator, "/alert-rules/new", "/alert-rules", url.Values{"name": {"stale-db"}, "on": {"backup_stale"}, "max_age": {"26h"}, "hosts": {"db-1"}, "enabled": {"on"}})
	if p.status != http.StatusBadRequest || !p.has(`data-error-for="channels"`) || !p.has("Is required") || !p.has(`value="stale-db"`) ||
		!p.has(`value="26h"`) || !p.has(`value="backup_stale" data-fields="max_age intervals hosts tags repositories" selected`) {
		t.Errorf("refused rule: %d\n%s", p.status, p.body)
	}
	p = e.form(operator, "/alert-rules/new", "/alert-rules", url.Values{"name": {"missed"}, "on": {"backup_stale"}, "intervals": {"two"}})
	if p.status != http.StatusBadRequest || !p.has(`data-error-for="intervals"`) || !p.has("Give a whole number") || !p.has(`value="two"`) {
		t.Errorf("bad intervals: %d\n%s", p.status, p.body)
	}
	p = e.form(viewer, "/alerts", "/alert-rules", url.Values{"name": {"x"}, "on": {"job_failed"}, "channels": {"ops"}})
	if p.status != http.StatusForbidden {
		t.Errorf("viewer creating a rule: %d", p.status)
	}

	// The editor: a user rule is editable by operators, read-only for
	// viewers; a config rule is read-only for everyone, with the reason.
	p = e.get(operator, "/alert-rules/r-fail")
	if p.status != http.StatusOK || !p.has(`action="/alert-rules/r-fail"`) || !p.has(`value="backup"`) || !p.has(`id="rule-save"`) || p.has(`id="rule-readonly"`) {
		t.Errorf("operator's editor: %d\n%s", p.status, p.body)
	}
	p = e.get(viewer, "/alert-rules/r-fail")
	if p.status != http.StatusOK || p.has(`id="rule-save"`) || !p.has("needs the operator or admin role") {
		t.Errorf("viewer's editor: %d\n%s", p.status, p.body)
	}
	p = e.get(admin, "/alert-rules/declared")
	if p.status != http.StatusOK || p.has(`id="rule-save"`) || !p.has("declared in the server&#39;s configuration file") {
		t.Errorf("config rule's editor: %d\n%s", p.status, p.body)
	}
	p = e.form(admin, "/alert-rules/r-conf", "/alert-rules/r-conf", url.Values{"name": {"declared"}, "on": {"host_offline"}, "channels": {"ops"}, "after": {"1h"}})
	if p.status != http.StatusConflict || !p.has("change it there") {
		t.Errorf("saving a config rule: %d\n%s", p.status, p.body)
	}
	// A field the rule's new condition does not take is left out even if
	// the page still holds it.
	p = e.form(operator, "/alert-rules/r-fail", "/alert-rules/r-fail", url.Values{
		"name": {"backup-failed"}, "on": {"host_offline"}, "channels": {"ops"}, "kinds": {"backup"}, "after": {"2h"}, "repeat_interval": {"2h"},
	})
	if p.status != http.StatusSeeOther {
		t.Fatalf("saving the rule: %d\n%s", p.status, p.body)
	}
	rl, err := e.db.GetAlertRule(context.Background(), "r-fail")
	if err != nil {
		t.Fatal(err)
	}
	if rl.Event != "host_offline" || rl.Enabled || rl.Repeat != 2*time.Hour || strings.Contains(string(rl.Params), "kinds") {
		t.Errorf("saved rule: %+v %s", rl, rl.Params)
	}
	p = e.form(operator, "/alerts", "/alert-rules/r-fail/enabled", url.Values{"enabled": {"true"}})
	if f := e.follow(operator, p); !f.has(`Alert rule &#34;backup-failed&#34; enabled`) || !f.has(`data-rule="backup-failed" data-enabled="true"`) {
		t.Errorf("after enable:\n%s", f.body)
	}

	// Delete: a confirm page first, then the rule is gone.
	if p = e.get(viewer, "/alert-rules/r-fail/delete"); p.status != http.StatusForbidden {
		t.Errorf("viewer's delete confirm page: %d", p.status)
	}
	p = e.get(operator, "/alert-rules/backup-failed/delete")
	if p.status != http.StatusOK || !p.has("Delete alert rule “backup-failed”?") {
		t.Fatalf("confirm page: %d\n%s", p.status, p.body)
	}
	p = e.form(operator, "/alert-rules/backup-failed/delete", "/alert-rules/r-fail/delete", url.Values{"name": {"backup-failed"}})
	if f := e.follow(operator, p); !f.has(`Alert rule &#34;backup-failed&#34; deleted`) || f.has(`data-rule="backup-failed"`) {
		t.Errorf("after delete:\n%s", f.body)
	}
	p = e.form(admin, "/alerts", "/alert-rules/r-conf/delete", url.Values{"name": {"declared"}})
	if f := e.follow(admin, p); !f.has("declared in the configuration file") || !f.has(`data-rule="declared"`) {
		t.Errorf("deleting a config rule:\n%s", f.body)
	}
}
