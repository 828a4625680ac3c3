package api

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestJobLogsAsText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	viewer := e.user(root, "vera", "viewer")
	cookie, _ := e.login("vera", testPassword)
	jobSetup(e, root)
	var j jobJSON
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: root, body: map[string]any{
		"kind": "backup", "repository": "jobrepo", "paths": []string{"/srv"},
	}}, http.StatusCreated).decode(t, &j)

	// More events than one page of the store holds, of every type; a log
	// event of two lines; lines that must come out as they went in.
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var rows []store.JobLog
	add := func(stream, typ, line string) {
		seq := int64(len(rows) + 1)
		rows = append(rows, store.JobLog{JobID: j.ID, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Millisecond), Stream: stream, Type: typ, Line: line})
	}
	add("event", "status", `{"status":"running"}`)
	add("stdout", "log", "first line\nsecond line")
	add("stderr", "log", `<script>alert(1)</script> stays as it is`)
	for i := range 2500 {
		if i%10 == 0 {
			add("event", "progress", fmt.Sprintf(`{"message_type":"status","percent_done":%g}`, float64(i)/2500))
		} else {
			add("stdout", "log", fmt.Sprintf("line %d", i))
		}
	}
	add("event", "summary", `{"message_type":"summary","snapshot_id":"abc"}`)
	add("event", "status", `{"status":"succeeded","exit_code":0,"final":true}`)
	if _, err := e.db.AppendJobLogs(context.Background(), rows); err != nil {
		t.Fatal(err)
	}

	r := e.want(call{method: "GET", path: "/api/v1/jobs/" + j.ID + "/logs?format=text", token: viewer}, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff: a browser might render the log as HTML")
	}
	disp, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != "job-"+j.ID+".log" {
		t.Errorf("Content-Disposition %q", r.header.Get("Content-Disposition"))
	}
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
	if want := len(rows) + 1; len(lines) != want {
		t.Fatalf("%d lines, want %d (one per row, two for the two-line event)", len(lines), want)
	}
	for i, want := range []string{
		`2026-11-26T12:00:00.001Z status   {"status":"running"}`,
		`2026-11-26T12:00:00.002Z stdout   first line`,
		`2026-11-26T12:00:00.002Z stdout   second line`,
		`2026-11-26T12:00:00.003Z stderr   <script>alert(1)</script> stays as it is`,
		`2026-11-26T12:00:00.004Z progress {"message_type":"status","percent_done":0}`,
		`2026-11-26T12:00:00.005Z stdout   line 1`,
	} {
		if lines[i] != want {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], want)
		}
	}
	if last := lines[len(lines)-1]; last != `2026-11-26T12:00:02.505Z status   {"status":"succeeded","exit_code":0,"final":true}` {
		t.Errorf("last line = %q", last)
	}
	// Every row in order: the pages join without a gap or a repeat.
	for i, row := range rows[3:] {
		if got := lines[i+4]; !strings.HasSuffix(got, " "+row.Line) {
			t.Fatalf("line %d = %q, want row %d (%q)", i+5, got, row.Seq, row.Line)
		}
	}

	// after_seq starts later; a browser session may download it too.
	r = e.want(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%s/logs?format=text&after_seq=%d", j.ID, len(rows)-1), cookie: cookie}, http.StatusOK)
	if got := strings.Count(string(r.body), "\n"); got != 1 || !strings.Contains(string(r.body), `"final":true`) {
		t.Errorf("after_seq: %q", r.body)
	}

	for path, code := range map[string]string{
		"/api/v1/jobs/" + j.ID + "/logs?format=xml":               "bad_request",
		"/api/v1/jobs/" + j.ID + "/logs?format=text&limit=5":      "bad_request",
		"/api/v1/jobs/" + j.ID + "/logs?format=text&cursor=":      "bad_request",
		"/api/v1/jobs/" + j.ID + "/logs?format=text&after_seq=-1": "bad_request",
		"/api/v1/jobs/nope/logs?format=text":                      "not_found",
	} {
		r := e.do(call{method: "GET", path: path, token: viewer})
		if r.status/100 != 4 || r.errCode(t) != code {
			t.Errorf("GET %s: %d %s, want 4xx %s", path, r.status, r.body, code)
		}
	}
	e.want(call{method: "GET", path: "/api/v1/jobs/" + j.ID + "/logs?format=text"}, http.StatusUnauthorized)
}
