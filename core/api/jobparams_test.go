package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRepositoryCareParams: the parameters of forget, check, stats and
// copy are checked before a job exists, and a bad one is a 400 that names
// its field.
func TestRepositoryCareParams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	operator := e.user(root, "olga", "operator")
	jobSetup(e, root)
	e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody("offsite")}, http.StatusCreated)

	retention := func(r map[string]any) map[string]any { return map[string]any{"retention": r} }
	for name, tc := range map[string]struct {
		kind   string
		params map[string]any
		field  string // the message must name it
	}{
		"forget without policy":       {"forget", nil, "params.retention"},
		"forget with no rule":         {"forget", retention(map[string]any{"group_by": "host"}), "at least one keep rule"},
		"forget negative count":       {"forget", retention(map[string]any{"keep_daily": -1, "keep_last": 3}), "params.retention.keep_daily"},
		"forget negative last":        {"forget", retention(map[string]any{"keep_last": -5}), "params.retention.keep_last"},
		"forget huge count":           {"forget", retention(map[string]any{"keep_yearly": 5_000_000}), "params.retention.keep_yearly"},
		"forget within words":         {"forget", retention(map[string]any{"keep_within": "7 days"}), "params.retention.keep_within"},
		"forget within no unit":       {"forget", retention(map[string]any{"keep_within": "30"}), "params.retention.keep_within"},
		"forget within repeated unit": {"forget", retention(map[string]any{"keep_within": "1d2d"}), "params.retention.keep_within"},
		"forget within zero":          {"forget", retention(map[string]any{"keep_within": "0d"}), "params.retention.keep_within"},
		"forget within fraction":      {"forget", retention(map[string]any{"keep_within": "1.5d"}), "params.retention.keep_within"},
		"forget bad group":            {"forget", retention(map[string]any{"keep_last": 1, "group_by": "host,owner"}), "params.retention.group_by"},
		"forget group twice":          {"forget", retention(map[string]any{"keep_last": 1, "group_by": "host,host"}), "params.retention.group_by"},
		"forget empty keep tag":       {"forget", retention(map[string]any{"keep_tags": []string{""}}), "params.retention.keep_tags"},
		"forget by snapshot ids":      {"forget", map[string]any{"retention": map[string]any{"keep_last": 1}, "snapshots": []string{"abc"}}, "params.snapshots"},
		"forget count not a number":   {"forget", retention(map[string]any{"keep_daily": "seven"}), "keep_daily"},
		"check subset words":          {"check", map[string]any{"read_data_subset": "half"}, "params.read_data_subset"},
		"check subset zero part":      {"check", map[string]any{"read_data_subset": "0/5"}, "params.read_data_subset"},
		"check subset n above t":      {"check", map[string]any{"read_data_subset": "6/5"}, "params.read_data_subset"},
		"check subset t too big":      {"check", map[string]any{"read_data_subset": "1/1000"}, "params.read_data_subset"},
		"check subset zero percent":   {"check", map[string]any{"read_data_subset": "0%"}, "params.read_data_subset"},
		"check subset over 100":       {"check", map[string]any{"read_data_subset": "120%"}, "params.read_data_subset"},
		"check subset NaN":            {"check", map[string]any{"read_data_subset": "NaN%"}, "params.read_data_subset"},
		"check subset zero size":      {"check", map[string]any{"read_data_subset": "0G"}, "params.read_data_subset"},
		"check subset bad unit":       {"check", map[string]any{"read_data_subset": "5P"}, "params.read_data_subset"},
		"subset on a backup":          {"backup", map[string]any{"paths": []string{"/srv"}, "read_data_subset": "10%"}, "read_data_subset"},
		"stats bad mode":              {"stats", map[string]any{"extra": map[string]any{"mode": "everything"}}, "params.extra.mode"},
		"copy without destination":    {"copy", nil, "params.to_repository"},
		"copy unknown destination":    {"copy", map[string]any{"to_repository": "nowhere"}, "params.to_repository"},
		"copy onto itself":            {"copy", map[string]any{"to_repository": "jobrepo"}, "params.to_repository"},
		"copy flag as snapshot":       {"copy", map[string]any{"to_repository": "offsite", "snapshots": []string{"--from-repo=/x"}}, "params.snapshots"},
		"copy dry run":                {"copy", map[string]any{"to_repository": "offsite", "dry_run": true}, "params.dry_run"},
		"destination on a check":      {"check", map[string]any{"to_repository": "offsite"}, "params.to_repository"},
	} {
		t.Run(name, func(t *testing.T) {
			body := map[string]any{"kind": tc.kind, "repository": "jobrepo"}
			if tc.params != nil {
				body["params"] = tc.params
			}
			r := e.do(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: operator, body: body})
			var eb errorBody
			_ = json.Unmarshal(r.body, &eb)
			if r.status != http.StatusBadRequest || eb.Error.Code != "bad_params" || !strings.Contains(eb.Error.Message, tc.field) {
				t.Fatalf("%d %s, want 400 bad_params naming %q", r.status, r.body, tc.field)
			}
		})
	}

	// Nothing was created by the refused requests.
	var jobs list[jobJSON]
	e.want(call{method: "GET", path: "/api/v1/jobs", token: operator}, http.StatusOK).decode(t, &jobs)
	if len(jobs.Items) != 0 {
		t.Fatalf("refused requests created jobs: %+v", jobs.Items)
	}

	// What passes, as it is stored and sent to the agent.
	var offsite struct {
		ID string `json:"id"`
	}
	e.want(call{method: "GET", path: "/api/v1/repositories/offsite", token: operator}, http.StatusOK).decode(t, &offsite)
	for name, tc := range map[string]struct {
		kind   string
		params map[string]any
		want   string // params as stored
	}{
		"forget dry run": {"forget", map[string]any{"dry_run": true, "retention": map[string]any{
			"keep_last": 2, "keep_daily": 7, "keep_within": "1y2m3d4h", "group_by": "host,tags",
		}}, `{"retention":{"keep_last":2,"keep_daily":7,"keep_within":"1y2m3d4h","group_by":"host,tags"},"dry_run":true}`},
		"check n of t":      {"check", map[string]any{"read_data_subset": "2/5"}, `{"read_data_subset":"2/5"}`},
		"check percent":     {"check", map[string]any{"read_data_subset": "12.5%"}, `{"read_data_subset":"12.5%"}`},
		"check size":        {"check", map[string]any{"read_data_subset": "500M"}, `{"read_data_subset":"500M"}`},
		"stats repository":  {"stats", map[string]any{"extra": map[string]any{"mode": "repository"}}, `{"extra":{"mode":"repository"}}`},
		"stats raw data":    {"stats", map[string]any{"extra": map[string]any{"mode": "raw-data"}}, `{"extra":{"mode":"raw-data"}}`},
		"copy by name":      {"copy", map[string]any{"to_repository": "offsite", "snapshots": []string{"latest"}}, `{"snapshots":["latest"],"to_repository":"` + offsite.ID + `"}`},
		"copy by id, paths": {"copy", map[string]any{"to_repository": offsite.ID}, `{"to_repository":"` + offsite.ID + `"}`},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: operator, body: map[string]any{
				"kind": tc.kind, "repository": "jobrepo", "params": tc.params,
			}})
			if r.status != http.StatusCreated {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var j jobJSON
			r.decode(t, &j)
			var got, want any
			_ = json.Unmarshal(j.Params, &got)
			_ = json.Unmarshal([]byte(tc.want), &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if j.Kind != tc.kind || string(gb) != string(wb) {
				t.Fatalf("job %s params %s, want %s", j.Kind, j.Params, tc.want)
			}
		})
	}
}
