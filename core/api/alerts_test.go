package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

var alertMatrix = map[string]access{
	"alert_rule.list": viewer, "alert_rule.create": operator, "alert_rule.show": viewer,
	"alert_rule.update": operator, "alert_rule.delete": operator,
	"alert.list": viewer, "alert.show": viewer, "alert.ack": operator, "alert.resolve": operator,
	"host.alerts": viewer,
}

func TestAlertRuleCreateShowList(t *testing.T) {
	t.Parallel()
	e := newPluginEnv(t, &fakePlugins{})
	root := e.bootstrap()
	var got alertRuleJSON
	e.want(call{method: "POST", path: "/api/v1/alert-rules", token: root, body: map[string]any{
		"name": "backup-failed", "on": "job_failed", "channels": []string{"ops", "broken"}, "kinds": []string{"backup"},
		"tags": []string{"prod"}, "repeat_interval": "90m",
	}}, http.StatusCreated).decode(t, &got)
	if got.ID == "" || got.Name != "backup-failed" || got.On != "job_failed" || got.MinSeverity != "warning" ||
		got.RepeatInterval != "1h30m" || !got.Enabled || got.ManagedBy != "user" || strings.Join(got.Kinds, ",") != "backup" ||
		strings.Join(got.Tags, ",") != "prod" || got.Hosts == nil || got.MaxAge != "" {
		t.Fatalf("created rule = %+v", got)
	}
	e.want(call{method: "POST", path: "/api/v1/alert-rules", token: root, body: map[string]any{
		"name": "stale", "on": "backup_stale", "channels": []string{"ops"}, "max_age": "2d", "enabled": false,
	}}, http.StatusCreated)

	for _, ref := range []string{got.ID, "backup-failed"} {
		var shown alertRuleJSON
		e.want(call{method: "GET", path: "/api/v1/alert-rules/" + ref, token: root}, http.StatusOK).decode(t, &shown)
		if shown.ID != got.ID {
			t.Fatalf("GET %s = %+v", ref, shown)
		}
	}
	var page list[alertRuleJSON]
	e.want(call{method: "GET", path: "/api/v1/alert-rules?limit=1", token: root}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "backup-failed" || page.NextCursor == "" {
		t.Fatalf("first page = %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/alert-rules?limit=1&cursor=" + page.NextCursor, token: root}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "stale" || page.Items[0].MaxAge != "2d" || page.Items[0].Enabled || page.NextCursor != "" {
		t.Fatalf("second page = %+v", page)
	}
	r := e.want(call{method: "POST", path: "/api/v1/alert-rules", token: root, body: map[string]any{
		"name": "stale", "on": "host_offline", "channels": []string{"ops"},
	}}, http.StatusConflict)
	if !strings.Contains(string(r.body), `named \"stale\" exists already`) {
		t.Fatalf("duplicate name: %s", r.body)
	}
	e.want(call{method: "GET", path: "/api/v1/alert-rules/nope", token: root}, http.StatusNotFound)
}

// TestAlertRuleValidation checks that every bad field is a 400 whose code
// and message name the field.
func TestAlertRuleValidation(t *testing.T) {
	t.Parallel()
	e := newPluginEnv(t, &fakePlugins{})
	root := e.bootstrap()
	valid := func(mod func(map[string]any)) map[string]any {
		b := map[string]any{"name": "r", "on": "job_failed", "channels": []string{"ops"}}
		mod(b)
		return b
	}
	tests := map[string]struct {
		body    any
		code    string
		message string
	}{
		"no name":          {valid(func(b map[string]any) { delete(b, "name") }), "bad_name", "name: is required"},
		"bad name":         {valid(func(b map[string]any) { b["name"] = "a/b" }), "bad_name", `name: "a/b" is not a valid name`},
		"unknown on":       {valid(func(b map[string]any) { b["on"] = "job_failure" }), "bad_on", `on: "job_failure" is not a condition`},
		"no channels":      {valid(func(b map[string]any) { b["channels"] = []string{} }), "bad_channels", "channels: is required"},
		"unknown channel":  {valid(func(b map[string]any) { b["channels"] = []string{"pager"} }), "bad_channels", `channels: no channel "pager"; the channels are broken, ops`},
		"severity":         {valid(func(b map[string]any) { b["min_severity"] = "urgent" }), "bad_min_severity", "min_severity:"},
		"repeat":           {valid(func(b map[string]any) { b["repeat_interval"] = "often" }), "bad_repeat_interval", "repeat_interval:"},
		"kind":             {valid(func(b map[string]any) { b["kinds"] = []string{"bakup"} }), "bad_kinds", `kinds: "bakup" is not a job kind`},
		"stale needs age":  {valid(func(b map[string]any) { b["on"] = "backup_stale" }), "bad_max_age", "max_age: is required"},
		"after on failure": {valid(func(b map[string]any) { b["after"] = "5m" }), "bad_after", "after: does not apply to job_failed rules"},
		"unknown field":    {valid(func(b map[string]any) { b["max_ag"] = "1h" }), "bad_request", `unknown field "max_ag"`},
		"wrong type":       {valid(func(b map[string]any) { b["channels"] = "ops" }), "bad_request", "channels"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := e.want(call{method: "POST", path: "/api/v1/alert-rules", token: root, body: tt.body}, http.StatusBadRequest)
			var body errorBody
			r.decode(t, &body)
			if body.Error.Code != tt.code || !strings.Contains(body.Error.Message, tt.message) {
				t.Fatalf("error = %+v, want code %s with %q", body.Error, tt.code, tt.message)
			}
		})
	}
}

func TestAlertRuleUpdateAndDelete(t *testing.T) {
	t.Parallel()
	e := newPluginEnv(t, &fakePlugins{})
	root := e.bootstrap()
	e.want(call{method: "POST", path: "/api/v1/alert-rules", token: root, body: map[string]any{
		"name": "offline", "on": "host_offline", "channels": []string{"ops"}, "hosts": []string{"web-1"},
	}}, http.StatusCreated)
	e.want(call{method: "POST", path: "/api/v1/alert-rules", token: root, body: map[string]any{
		"name": "other", "on": "plugin_failing", "channels": []string{"ops", "broken"},
	}}, http.StatusCreated)

	var got alertRuleJSON
	e.want(call{method: "PATCH", path: "/api/v1/alert-rules/offline", token: root, body: map[string]any{
		"after": "2m", "channels": []string{"broken"}, "min_severity": "critical",
	}}, http.StatusOK).decode(t, &got)
	if got.After != "2m" || strings.Join(got.Channels, ",") != "broken" || got.MinSeverity != "critical" ||
		strings.Join(got.Hosts, ",") != "web-1" || got.Name != "offline" {
		t.Fatalf("updated rule = %+v", got)
	}
	// A change of condition must drop the filters the new one does not
	// take, and is checked like a new rule.
	r := e.want(call{method: "PATCH", path: "/api/v1/alert-rules/offline", token: root, body: map[string]any{"on": "plugin_failing"}}, http.StatusBadRequest)
	if r.errCode(t) != "bad_hosts" {
		t.Fatalf("changing the condition with filters left: %s", r.body)
	}
	e.want(call{method: "PATCH", path: "/api/v1/alert-rules/offline", token: root, body: map[string]any{"name": "other"}}, http.StatusConflict)
	e.want(call{method: "PATCH", path: "/api/v1/alert-rules/offline", token: root, body: map[string]any{"channels": []string{"pager"}}}, http.StatusBadRequest)
	e.want(call{method: "PATCH", path: "/api/v1/alert-rules/offline", token: root, body: map[string]any{"enabled": false, "name": "offline-hosts"}}, http.StatusOK).decode(t, &got)
	if got.Enabled || got.Name != "offline-hosts" {
		t.Fatalf("after disabling and renaming: %+v", got)
	}

	// Rules of the configuration file are read-only.
	ctx := context.Background()
	cfgRule := store.AlertRule{ID: "cfg", Name: "from-file", Event: "plugin_failing", Params: []byte("{}"), MinSeverity: "warning", Channels: []string{"ops"}, Repeat: time.Hour, Enabled: true}
	if _, err := e.db.SyncConfigAlertRules(ctx, []store.AlertRule{cfgRule}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{
		{method: "PATCH", path: "/api/v1/alert-rules/from-file", token: root, body: map[string]any{"enabled": false}},
		{method: "DELETE", path: "/api/v1/alert-rules/from-file", token: root},
	} {
		r := e.want(c, http.StatusConflict)
		if r.errCode(t) != "managed_by_config" || !strings.Contains(string(r.body), "configuration file") {
			t.Fatalf("%s of a config rule: %s", c.method, r.body)
		}
	}
	var shown alertRuleJSON
	e.want(call{method: "GET", path: "/api/v1/alert-rules/from-file", token: root}, http.StatusOK).decode(t, &shown)
	if shown.ManagedBy != "config" {
		t.Fatalf("config rule = %+v", shown)
	}

	e.want(call{method: "DELETE", path: "/api/v1/alert-rules/offline-hosts", token: root}, http.StatusNoContent)
	e.want(call{method: "DELETE", path: "/api/v1/alert-rules/offline-hosts", token: root}, http.StatusNotFound)
}

// seedAlerts enrolls hosts web-1 and db-1 and stores a rule with three
// alerts: web-1's older and newer ones and db-1's. It returns the host ids
// and the alert ids, oldest first.
func seedAlerts(e *env, admin string) (web, db string, ids []string) {
	e.t.Helper()
	ctx := context.Background()
	web = e.enroll(e.enrollToken(admin, map[string]any{}).Token, "web-1").HostID
	db = e.enroll(e.enrollToken(admin, map[string]any{}).Token, "db-1").HostID
	r := store.AlertRule{
		ID: auth.NewID(), Name: "failed", Event: "job_failed", Params: []byte("{}"), MinSeverity: "warning",
		Channels: []string{"ops"}, Repeat: time.Hour, Enabled: true, CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
	}
	if err := e.db.CreateAlertRule(ctx, r); err != nil {
		e.t.Fatal(err)
	}
	for i, host := range []string{web, db, web} {
		at := e.clock.Now().Add(time.Duration(i) * time.Minute)
		a := store.Alert{
			ID: auth.NewID(), RuleID: r.ID, Kind: "job_failed", Severity: "critical", Status: store.AlertOpen,
			Fingerprint: "host=" + host, HostID: host, Title: "backup failed", Body: "restic exited with status 1",
			CreatedAt: at, UpdatedAt: at,
		}
		if err := e.db.CreateAlert(ctx, a); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return web, db, ids
}

func TestAlertsListAckResolve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	web, _, ids := seedAlerts(e, root)
	operator := e.user(root, "olivia", "operator")
	viewer := e.user(root, "victor", "viewer")

	listed := func(query string) []alertJSON {
		t.Helper()
		var out list[alertJSON]
		e.want(call{method: "GET", path: "/api/v1/alerts?" + query, token: viewer}, http.StatusOK).decode(t, &out)
		return out.Items
	}
	all := listed("")
	if len(all) != 3 || all[0].ID != ids[2] || all[0].Host != "web-1" || all[0].Rule != "failed" || all[0].Status != "open" || all[0].Occurrences != 1 {
		t.Fatalf("alerts = %+v", all)
	}
	if got := listed("host=web-1"); len(got) != 2 || got[0].HostID != web {
		t.Fatalf("?host=web-1 = %+v", got)
	}
	if got := listed("host=" + web + "&rule=failed&limit=1"); len(got) != 1 || got[0].ID != ids[2] {
		t.Fatalf("?host=id&rule&limit=1 = %+v", got)
	}

	var acked alertJSON
	e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[2] + "/ack", token: operator}, http.StatusOK).decode(t, &acked)
	if acked.Status != "acknowledged" || acked.AcknowledgedBy != "olivia" || acked.AcknowledgedAt == nil {
		t.Fatalf("acknowledged alert = %+v", acked)
	}
	r := e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[2] + "/ack", token: operator}, http.StatusConflict)
	if !strings.Contains(string(r.body), "it is acknowledged") {
		t.Fatalf("second ack: %s", r.body)
	}
	var resolved alertJSON
	e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[2] + "/resolve", token: root}, http.StatusOK).decode(t, &resolved)
	if resolved.Status != "resolved" || resolved.ResolvedBy != "root" || resolved.ResolvedAt == nil || resolved.AcknowledgedBy != "olivia" {
		t.Fatalf("resolved alert = %+v", resolved)
	}
	e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[2] + "/resolve", token: root}, http.StatusConflict)
	e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[2] + "/ack", token: root}, http.StatusConflict)
	e.want(call{method: "POST", path: "/api/v1/alerts/nope/ack", token: root}, http.StatusNotFound)

	if got := listed("status=active"); len(got) != 2 {
		t.Fatalf("?status=active = %+v", got)
	}
	if got := listed("status=resolved"); len(got) != 1 || got[0].ID != ids[2] {
		t.Fatalf("?status=resolved = %+v", got)
	}
	var shown alertJSON
	e.want(call{method: "GET", path: "/api/v1/alerts/" + ids[0], token: viewer}, http.StatusOK).decode(t, &shown)
	if shown.ID != ids[0] || shown.Body != "restic exited with status 1" {
		t.Fatalf("alert = %+v", shown)
	}

	// A host's history, with paging.
	var page list[alertJSON]
	e.want(call{method: "GET", path: "/api/v1/hosts/web-1/alerts?limit=1", token: viewer}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != ids[2] || page.NextCursor == "" {
		t.Fatalf("history page 1 = %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts/" + web + "/alerts?limit=1&cursor=" + url.QueryEscape(page.NextCursor), token: viewer}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != ids[0] || page.NextCursor != "" {
		t.Fatalf("history page 2 = %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts/nope/alerts", token: viewer}, http.StatusNotFound)

	for query, code := range map[string]string{"status=closed": "bad_status", "host=nope": "bad_host", "rule=nope": "bad_rule", "limit=0": "bad_request"} {
		if r := e.want(call{method: "GET", path: "/api/v1/alerts?" + query, token: viewer}, http.StatusBadRequest); r.errCode(t) != code {
			t.Errorf("?%s: %s, want %s", query, r.body, code)
		}
	}

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "alert.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		if en.Outcome == "success" {
			actions = append(actions, en.Action+" "+en.ActorName+" "+en.TargetID)
		}
	}
	want := []string{"alert.resolve root " + ids[2], "alert.ack olivia " + ids[2]}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Fatalf("audit = %v, want %v", actions, want)
	}
}

// driveAlertRoutes makes every state change of this area once, for
// TestEveryStateChangeIsAudited. The env has no channels, so the rule is
// refused (and audited as a failure) and one is stored directly.
func driveAlertRoutes(e *env, admin string) []string {
	e.t.Helper()
	e.want(call{method: "POST", path: "/api/v1/alert-rules", token: admin, body: map[string]any{
		"name": "audited", "on": "job_failed", "channels": []string{"ops"},
	}}, http.StatusBadRequest)
	_, _, ids := seedAlerts(e, admin)
	e.want(call{method: "PATCH", path: "/api/v1/alert-rules/failed", token: admin, body: map[string]any{"enabled": false}}, http.StatusOK)
	e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[0] + "/ack", token: admin}, http.StatusOK)
	e.want(call{method: "POST", path: "/api/v1/alerts/" + ids[0] + "/resolve", token: admin}, http.StatusOK)
	e.want(call{method: "DELETE", path: "/api/v1/alert-rules/failed", token: admin}, http.StatusNoContent)
	return nil
}
