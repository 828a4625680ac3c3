package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

var scheduleRunMatrix = map[string]access{"schedule.run": operator, "schedule.preview_retention": operator}

// driveScheduleRunRoutes runs a schedule now, for
// TestEveryStateChangeIsAudited.
func driveScheduleRunRoutes(e *env, admin string) []string {
	e.t.Helper()
	tok := e.enrollToken(admin, map[string]any{})
	e.enroll(tok.Token, "runhost")
	e.want(call{method: "POST", path: "/api/v1/repositories", token: admin, body: repoBody("runrepo")}, http.StatusCreated)
	e.want(call{method: "POST", path: "/api/v1/schedules", token: admin, body: map[string]any{
		"name": "runnable", "host": "runhost", "repository": "runrepo", "paths": []string{"/srv"}, "every": "1h",
		"retention": map[string]any{"keep_last": 2},
	}}, http.StatusCreated)
	e.want(call{method: "POST", path: "/api/v1/schedules/runnable/run", token: admin, body: map[string]any{}}, http.StatusCreated)
	e.want(call{method: "POST", path: "/api/v1/schedules/runnable/preview-retention", token: admin}, http.StatusCreated)
	return repoSecrets
}

func TestScheduleRunNowIsARunOfTheSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	web1 := scheduleSetup(e, root)
	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{
		"excludes": []string{"*.tmp"}, "exclude_files": []string{"/etc/restic/excludes"}, "exclude_caches": true,
		"one_file_system": true, "tags": []string{"nightly"}, "limit_upload_kib": 100,
	})}, http.StatusCreated).decode(t, &s)

	var j jobJSON
	e.want(call{method: "POST", path: "/api/v1/schedules/nightly/run", token: root, body: map[string]any{"limit_download_kib": 300}},
		http.StatusCreated).decode(t, &j)
	if j.Kind != "backup" || j.HostID != web1 || j.ScheduleID == nil || *j.ScheduleID != s.ID || j.Repository != "main" || j.Status != "queued" {
		t.Fatalf("run-now job %+v", j)
	}
	var p struct {
		Paths            []string `json:"paths"`
		Excludes         []string `json:"excludes"`
		Tags             []string `json:"tags"`
		LimitUploadKiB   int64    `json:"limit_upload_kib"`
		LimitDownloadKiB int64    `json:"limit_download_kib"`
		Extra            struct {
			OneFileSystem bool     `json:"one_file_system"`
			ExcludeCaches bool     `json:"exclude_caches"`
			ExcludeFiles  []string `json:"exclude_files"`
		} `json:"extra"`
	}
	if err := json.Unmarshal(j.Params, &p); err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Paths, ",") != "/srv,/etc" || p.Excludes[0] != "*.tmp" || p.Tags[0] != "nightly" || p.LimitUploadKiB != 100 ||
		p.LimitDownloadKiB != 300 || !p.Extra.OneFileSystem || !p.Extra.ExcludeCaches || p.Extra.ExcludeFiles[0] != "/etc/restic/excludes" {
		t.Fatalf("params %s", j.Params)
	}
	// The job is the schedule's last run.
	e.want(call{method: "GET", path: "/api/v1/schedules/" + s.ID, token: root}, http.StatusOK).decode(t, &s)
	if s.LastRun == nil || s.LastRun.JobID != j.ID {
		t.Fatalf("last run %+v, want job %s", s.LastRun, j.ID)
	}

	// Another host than the schedule's is refused; a tag schedule needs
	// one of its hosts.
	if code := e.want(call{method: "POST", path: "/api/v1/schedules/nightly/run", token: root, body: map[string]any{"host": "web2"}},
		http.StatusBadRequest).errCode(t); code != "bad_host" {
		t.Fatalf("code %s", code)
	}
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{
		"name": "tagged", "host": nil, "host_tag": "db",
	})}, http.StatusCreated)
	r := e.want(call{method: "POST", path: "/api/v1/schedules/tagged/run", token: root}, http.StatusBadRequest)
	if !strings.Contains(string(r.body), `host: schedule \"tagged\" runs on every host tagged \"db\"`) {
		t.Fatalf("no host: %s", r.body)
	}
	untagged := e.enrollToken(root, map[string]any{})
	e.enroll(untagged.Token, "web3")
	e.want(call{method: "POST", path: "/api/v1/schedules/tagged/run", token: root, body: map[string]any{"host": "web3"}}, http.StatusBadRequest)
	e.want(call{method: "POST", path: "/api/v1/schedules/tagged/run", token: root, body: map[string]any{"host": "web1"}}, http.StatusCreated).decode(t, &j)
	if j.HostID != web1 {
		t.Fatalf("tag run on %s", j.HostID)
	}
	e.want(call{method: "POST", path: "/api/v1/schedules/nope/run", token: root}, http.StatusNotFound)
	viewer := e.user(root, "vera", "viewer")
	e.want(call{method: "POST", path: "/api/v1/schedules/nightly/run", token: viewer}, http.StatusForbidden)
}

func TestSchedulePreviewRetentionIsADryRunForget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	web1 := scheduleSetup(e, root)
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{
		"tags": []string{"a", "b"}, "retention": map[string]any{"keep_daily": 7, "keep_within": "1m"}, "prune": true,
	})}, http.StatusCreated)
	var j jobJSON
	e.want(call{method: "POST", path: "/api/v1/schedules/nightly/preview-retention", token: root}, http.StatusCreated).decode(t, &j)
	if j.Kind != "forget" || j.HostID != web1 || j.ScheduleID != nil || j.Repository != "main" {
		t.Fatalf("preview job %+v", j)
	}
	var p map[string]any
	if err := json.Unmarshal(j.Params, &p); err != nil {
		t.Fatal(err)
	}
	ret, _ := p["retention"].(map[string]any)
	if p["dry_run"] != true || p["prune"] != nil || ret["keep_daily"] != 7.0 || ret["keep_within"] != "1m" ||
		p["tags"].([]any)[0] != "a,b" || len(p["paths"].([]any)) != 2 {
		t.Fatalf("params %s", j.Params)
	}
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{"name": "bare"})}, http.StatusCreated)
	if code := e.want(call{method: "POST", path: "/api/v1/schedules/bare/preview-retention", token: root}, http.StatusConflict).errCode(t); code != "no_retention" {
		t.Fatalf("code %s", code)
	}
}
