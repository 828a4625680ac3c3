package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

var scheduleMatrix = map[string]access{
	"schedule.list": viewer, "schedule.show": viewer, "host.schedules": viewer,
	"schedule.create": operator, "schedule.update": operator, "schedule.delete": operator,
	"host.hooks.show": admin, "host.hooks.set": admin,
}

// scheduleSetup enrolls the hosts "web1" (tagged db) and "web2", adds the
// repository "main", and returns web1's id.
func scheduleSetup(e *env, admin string) string {
	e.t.Helper()
	tok := e.enrollToken(admin, map[string]any{"tags": []string{"db"}, "uses": 2})
	web1 := e.enroll(tok.Token, "web1")
	e.enroll(tok.Token, "web2")
	e.want(call{method: "POST", path: "/api/v1/repositories", token: admin, body: repoBody("main")}, http.StatusCreated)
	return web1.HostID
}

func scheduleBody(extra map[string]any) map[string]any {
	b := map[string]any{"name": "nightly", "host": "web1", "repository": "main", "paths": []string{"/srv", "/etc"}, "every": "6h"}
	for k, v := range extra {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

// driveScheduleRoutes creates, changes and deletes a schedule, for
// TestEveryStateChangeIsAudited, and returns the secrets it saw.
func driveScheduleRoutes(e *env, admin string) []string {
	e.t.Helper()
	tok := e.enrollToken(admin, map[string]any{})
	e.enroll(tok.Token, "schedhost")
	e.want(call{method: "POST", path: "/api/v1/repositories", token: admin, body: repoBody("schedrepo")}, http.StatusCreated)
	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: admin, body: map[string]any{
		"name": "audited", "host": "schedhost", "repository": "schedrepo", "paths": []string{"/srv"}, "cron": "0 3 * * *",
	}}, http.StatusCreated).decode(e.t, &s)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: admin, body: map[string]any{"enabled": false}}, http.StatusOK)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: admin, body: map[string]any{"cron": "61 * * * *"}}, http.StatusBadRequest)
	e.want(call{method: "DELETE", path: "/api/v1/schedules/" + s.ID, token: admin}, http.StatusNoContent)
	e.want(call{method: "PUT", path: "/api/v1/hosts/schedhost/hooks", token: admin, body: map[string]any{
		"pre_hook": map[string]any{"command": "systemctl stop app", "timeout": "1m"},
	}}, http.StatusOK)
	return repoSecrets
}

func TestScheduleCreateShowsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	web1 := scheduleSetup(e, root)
	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: map[string]any{
		"name": "nightly", "host": "web1", "repository": "main", "paths": []string{"/srv", `C:\Users`},
		"excludes": []string{"*.tmp"}, "exclude_files": []string{"/etc/restic/excludes"},
		"exclude_if_present": []string{".nobackup", "CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55"}, "exclude_caches": true,
		"tags": []string{"nightly", "web"}, "one_file_system": true, "cron": "30 2 * * *", "timezone": "Europe/Berlin",
		"jitter": "10m", "catch_up": false, "limit_upload_kib": 2048, "limit_download_kib": 4096,
		"retention": map[string]any{"keep_daily": 7, "keep_weekly": 4, "keep_within": "1y6m", "group_by": "host,paths"},
	}}, http.StatusCreated).decode(t, &s)
	if s.ID == "" || s.Name != "nightly" || s.HostID == nil || *s.HostID != web1 || s.Host != "web1" || s.HostTag != nil ||
		s.Repository != "main" || s.Kind != "backup" || len(s.Paths) != 2 || s.ExcludeFiles[0] != "/etc/restic/excludes" ||
		len(s.ExcludeIfPresent) != 2 || !s.ExcludeCaches || !s.OneFileSystem || s.Cron == nil || *s.Cron != "30 2 * * *" ||
		s.Every != nil || s.Timezone != "Europe/Berlin" || s.Jitter != "10m" || s.JitterSeconds != 600 || s.CatchUp ||
		s.LimitUploadKiB != 2048 || s.LimitDownloadKiB != 4096 || s.Retention == nil || s.Retention.KeepDaily != 7 ||
		s.Retention.KeepWithin != "1y6m" || s.Retention.GroupBy != "host,paths" || s.Prune || !s.Enabled || s.ManagedBy != "user" {
		t.Fatalf("created %+v", s)
	}
	// 02:30 in Berlin (UTC+1 in November) after 2026-11-26 12:00 UTC.
	if s.NextRun == nil || !s.NextRun.Equal(time.Date(2026, 11, 27, 1, 30, 0, 0, time.UTC)) || s.LastRun != nil {
		t.Fatalf("next run %v, last run %v", s.NextRun, s.LastRun)
	}
	var got scheduleJSON
	e.want(call{method: "GET", path: "/api/v1/schedules/nightly", token: root}, http.StatusOK).decode(t, &got)
	if got.ID != s.ID || got.Timezone != "Europe/Berlin" {
		t.Fatalf("show by name = %+v", got)
	}

	// Defaults: catch-up and enabled on, UTC, no jitter, a name made up.
	var d scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: map[string]any{
		"host_tag": "db", "repository": "main", "paths": []string{"/var/lib/db"}, "every": "90s",
	}}, http.StatusCreated).decode(t, &d)
	if !strings.HasPrefix(d.Name, "db-main-") || d.HostTag == nil || *d.HostTag != "db" || d.HostID != nil || !d.CatchUp ||
		!d.Enabled || d.Timezone != "UTC" || d.Every == nil || *d.Every != "1m30s" || d.EverySeconds == nil || *d.EverySeconds != 90 ||
		d.Jitter != "0s" || d.Retention != nil {
		t.Fatalf("defaults = %+v", d)
	}
	if d.NextRun == nil || !d.NextRun.Equal(time.Date(2026, 11, 26, 12, 1, 30, 0, time.UTC)) {
		t.Fatalf("next run of every 90s = %v", d.NextRun)
	}
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{"every": "1h"})}, http.StatusConflict)
}

func TestScheduleValidationNamesTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	for name, tc := range map[string]struct {
		extra map[string]any
		code  string
		msg   string
	}{
		"bad cron":            {map[string]any{"every": nil, "cron": "every night"}, "bad_cron", "cron: "},
		"cron out of range":   {map[string]any{"every": nil, "cron": "0 25 * * *"}, "bad_cron", "cron: "},
		"cron never":          {map[string]any{"every": nil, "cron": "0 0 30 2 *"}, "bad_cron", "never fires"},
		"cron and every":      {map[string]any{"cron": "0 3 * * *"}, "bad_cron", "not both"},
		"no timing":           {map[string]any{"every": nil}, "bad_cron", "give a cron expression or an interval"},
		"bad zone":            {map[string]any{"every": nil, "cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "bad_timezone", "timezone: "},
		"Local zone":          {map[string]any{"timezone": "Local"}, "bad_timezone", "timezone: "},
		"bad interval":        {map[string]any{"every": "often"}, "bad_every", "every: "},
		"too short interval":  {map[string]any{"every": "500ms"}, "bad_every", "every: "},
		"negative interval":   {map[string]any{"every": "-1h"}, "bad_every", "every: "},
		"jitter too long":     {map[string]any{"jitter": "6h"}, "bad_jitter", "jitter: "},
		"bad jitter":          {map[string]any{"jitter": "soon"}, "bad_jitter", "jitter: "},
		"no paths":            {map[string]any{"paths": []string{}}, "bad_paths", "paths: a backup needs at least one path"},
		"relative path":       {map[string]any{"paths": []string{"srv"}}, "bad_paths", "paths[0]: \"srv\" is not absolute"},
		"control in path":     {map[string]any{"paths": []string{"/srv\n"}}, "bad_paths", "paths[0]: "},
		"empty exclude":       {map[string]any{"excludes": []string{""}}, "bad_excludes", "excludes[0]: is empty"},
		"relative excl. file": {map[string]any{"exclude_files": []string{"excludes.txt"}}, "bad_exclude_files", "exclude_files[0]: "},
		"path in if-present":  {map[string]any{"exclude_if_present": []string{"/x/.nobackup"}}, "bad_exclude_if_present", "exclude_if_present[0]: "},
		"tag with comma":      {map[string]any{"tags": []string{"a,b"}}, "bad_tags", "tags[0]: "},
		"bad name":            {map[string]any{"name": "../etc"}, "bad_name", "name: "},
		"no host":             {map[string]any{"host": nil}, "bad_host", "host: is required"},
		"unknown host":        {map[string]any{"host": "nowhere"}, "bad_host", "host: no host \"nowhere\""},
		"host and tag":        {map[string]any{"host_tag": "db"}, "bad_host", "not both"},
		"bad tag":             {map[string]any{"host": nil, "host_tag": "a b"}, "bad_host_tag", "host_tag: "},
		"no repository":       {map[string]any{"repository": nil}, "bad_repository", "repository: is required"},
		"unknown repository":  {map[string]any{"repository": "elsewhere"}, "bad_repository", "repository: no repository"},
		"negative limit":      {map[string]any{"limit_upload_kib": -1}, "bad_limit_upload_kib", "limit_upload_kib: "},
		"huge limit":          {map[string]any{"limit_download_kib": 1 << 40}, "bad_limit_download_kib", "limit_download_kib: "},
		"negative keep":       {map[string]any{"retention": map[string]any{"keep_daily": -1}}, "bad_retention", "retention.keep_daily: "},
		"bad keep_within":     {map[string]any{"retention": map[string]any{"keep_within": "2 weeks"}}, "bad_retention", "retention.keep_within: "},
		"bad group_by":        {map[string]any{"retention": map[string]any{"keep_last": 3, "group_by": "host,owner"}}, "bad_retention", "retention.group_by: "},
		"group_by alone":      {map[string]any{"retention": map[string]any{"group_by": "host"}}, "bad_retention", "at least one keep rule"},
		"unknown keep":        {map[string]any{"retention": map[string]any{"keep_forever": 1}}, "bad_retention", "retention: "},
		"prune, no retention": {map[string]any{"prune": true}, "bad_prune", "prune: "},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(tc.extra)}, http.StatusBadRequest)
			var body errorBody
			r.decode(t, &body)
			if body.Error.Code != tc.code || !strings.Contains(body.Error.Message, tc.msg) {
				t.Fatalf("400 = %s %q, want %s with %q", body.Error.Code, body.Error.Message, tc.code, tc.msg)
			}
		})
	}
	// Several problems at once are all named.
	r := e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{
		"paths": []string{"rel"}, "every": nil, "cron": "nonsense", "timezone": "Nowhere/City",
	})}, http.StatusBadRequest)
	for _, field := range []string{"paths[0]: ", "cron: ", "timezone: "} {
		if !strings.Contains(string(r.body), field) {
			t.Errorf("the answer %s does not name %s", r.body, field)
		}
	}
	var list list[scheduleJSON]
	e.want(call{method: "GET", path: "/api/v1/schedules", token: root}, http.StatusOK).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused schedules were stored: %+v", list.Items)
	}
}

func TestScheduleRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	viewer := e.user(root, "victor", "viewer")
	op := e.user(root, "olivia", "operator")
	e.want(call{method: "POST", path: "/api/v1/schedules", token: viewer, body: scheduleBody(nil)}, http.StatusForbidden)
	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: op, body: scheduleBody(map[string]any{
		"retention": map[string]any{"keep_last": 3},
	})}, http.StatusCreated).decode(t, &s)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: viewer, body: map[string]any{"enabled": false}}, http.StatusForbidden)
	e.want(call{method: "DELETE", path: "/api/v1/schedules/" + s.ID, token: viewer}, http.StatusForbidden)
	e.want(call{method: "GET", path: "/api/v1/schedules/" + s.ID, token: viewer}, http.StatusOK)
	e.want(call{method: "GET", path: "/api/v1/hosts/web1/schedules", token: viewer}, http.StatusOK)

	// Pruning removes repository data: admins only, like a run-now prune.
	r := e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: op, body: map[string]any{"prune": true}}, http.StatusForbidden)
	if !strings.Contains(string(r.body), "admin") {
		t.Fatalf("403 = %s", r.body)
	}
	e.want(call{method: "POST", path: "/api/v1/schedules", token: op, body: scheduleBody(map[string]any{
		"name": "pruned", "prune": true, "retention": map[string]any{"keep_last": 3},
	})}, http.StatusForbidden)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: root, body: map[string]any{"prune": true}}, http.StatusOK)
	// An operator may still change the rest of a pruning schedule.
	var after scheduleJSON
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: op, body: map[string]any{"jitter": "5m"}}, http.StatusOK).decode(t, &after)
	if !after.Prune || after.JitterSeconds != 300 {
		t.Fatalf("after the operator's change: %+v", after)
	}
	e.want(call{method: "DELETE", path: "/api/v1/schedules/" + s.ID, token: op}, http.StatusNoContent)
	e.want(call{method: "GET", path: "/api/v1/schedules/" + s.ID, token: op}, http.StatusNotFound)
}

func TestScheduleUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{
		"retention": map[string]any{"keep_last": 3}, "tags": []string{"a"},
	})}, http.StatusCreated).decode(t, &s)
	var u scheduleJSON
	e.want(call{method: "PATCH", path: "/api/v1/schedules/nightly", token: root, body: map[string]any{
		"cron": "0 4 * * *", "host_tag": "db", "retention": nil, "enabled": false,
	}}, http.StatusOK).decode(t, &u)
	if u.ID != s.ID || u.Cron == nil || *u.Cron != "0 4 * * *" || u.Every != nil || u.HostTag == nil || u.HostID != nil ||
		u.Retention != nil || u.Enabled || u.NextRun != nil || len(u.Paths) != 2 || u.Tags[0] != "a" || !u.UpdatedAt.After(s.CreatedAt.Add(-time.Second)) {
		t.Fatalf("updated %+v", u)
	}
	// An invalid change leaves the schedule as it was.
	e.want(call{method: "PATCH", path: "/api/v1/schedules/nightly", token: root, body: map[string]any{"every": "1h", "paths": []string{"x"}}}, http.StatusBadRequest)
	var same scheduleJSON
	e.want(call{method: "GET", path: "/api/v1/schedules/nightly", token: root}, http.StatusOK).decode(t, &same)
	if same.Cron == nil || *same.Cron != "0 4 * * *" || same.Paths[0] != "/srv" {
		t.Fatalf("after a refused change: %+v", same)
	}
	e.want(call{method: "PATCH", path: "/api/v1/schedules/nightly", token: root, body: map[string]any{"unknown": 1}}, http.StatusBadRequest)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/missing", token: root, body: map[string]any{"enabled": true}}, http.StatusNotFound)

	// Schedules declared in the configuration file are read-only here.
	now := time.Now()
	cfg := store.Schedule{
		ID: "cfg-1", Name: "declared", HostTag: "db", RepositoryID: s.RepositoryID, Paths: []string{"/srv"},
		EverySeconds: 3600, Enabled: true, ManagedBy: "config", CreatedAt: now, UpdatedAt: now,
	}
	if err := e.db.CreateSchedule(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{
		{method: "PATCH", path: "/api/v1/schedules/declared", token: root, body: map[string]any{"enabled": false}},
		{method: "DELETE", path: "/api/v1/schedules/declared", token: root},
	} {
		if r := e.want(c, http.StatusConflict); r.errCode(t) != "managed_by_config" {
			t.Fatalf("%s of a declared schedule: %s", c.method, r.body)
		}
	}
}

func TestScheduleListsByHostAndRepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody("offsite")}, http.StatusCreated)
	for _, b := range []map[string]any{
		scheduleBody(map[string]any{"name": "a-web1"}),
		scheduleBody(map[string]any{"name": "b-db", "host": nil, "host_tag": "db"}),
		scheduleBody(map[string]any{"name": "c-web2", "host": "web2", "repository": "offsite"}),
	} {
		e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: b}, http.StatusCreated)
	}
	names := func(path string) string {
		var l list[scheduleJSON]
		e.want(call{method: "GET", path: path, token: root}, http.StatusOK).decode(t, &l)
		var out []string
		for _, s := range l.Items {
			out = append(out, s.Name)
		}
		return strings.Join(out, ",")
	}
	for path, want := range map[string]string{
		"/api/v1/schedules":                    "a-web1,b-db,c-web2",
		"/api/v1/schedules?host=web1":          "a-web1,b-db",
		"/api/v1/schedules?host=web2":          "b-db,c-web2",
		"/api/v1/schedules?repository=offsite": "c-web2",
		"/api/v1/hosts/web1/schedules":         "a-web1,b-db",
	} {
		if got := names(path); got != want {
			t.Errorf("GET %s = %s, want %s", path, got, want)
		}
	}
	var page list[scheduleJSON]
	e.want(call{method: "GET", path: "/api/v1/schedules?limit=2", token: root}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("first page = %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/schedules?limit=2&cursor=" + page.NextCursor, token: root}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "c-web2" {
		t.Fatalf("second page = %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/schedules?host=nowhere", token: root}, http.StatusNotFound)
	e.want(call{method: "GET", path: "/api/v1/hosts/nowhere/schedules", token: root}, http.StatusNotFound)
	// A repository that schedules use cannot be deleted under them.
	e.want(call{method: "DELETE", path: "/api/v1/repositories/offsite", token: root}, http.StatusConflict)
}
