package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// openAdminPassword opens a repository's admin password as the server
// does (core/server).
func openAdminPassword(ctx context.Context, db *store.DB, kr *secrets.Keyring, repoID string) (string, bool, error) {
	id, err := db.RepositoryAdminCredential(ctx, repoID)
	if err != nil || id == "" {
		return "", false, err
	}
	c, err := db.GetCredential(ctx, id)
	if err != nil {
		return "", false, err
	}
	pw, err := kr.Open(c.Sealed, store.CredentialAAD(id))
	if err != nil {
		return "", false, err
	}
	return string(pw), true, nil
}

// askAdminKey sends admin_key and returns the key, or the server's error.
func (a *testAgent) askAdminKey(scheduleID, jobID, kind string) (string, *wire.Error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := a.c.Request(ctx, wire.TypeAdminKey, wire.AdminKey{ScheduleID: scheduleID, JobID: jobID, Kind: kind})
	var perr *wire.Error
	if errors.As(err, &perr) {
		return "", perr
	}
	if err != nil {
		a.t.Fatalf("admin_key: %v", err)
	}
	var res wire.AdminKeyResult
	if err := reply.DecodePayload(&res); err != nil {
		a.t.Fatal(err)
	}
	return res.Password.Reveal(), nil
}

// A schedule that prunes is pushed with its repository's admin_key flag,
// never the key; the host that owns it gets the key for a step that
// removes data, every other ask is refused; each key issued is audited
// without the secret and scrubbed from the job's events; the schedule's
// JSON says which key it prunes with.
func TestAdminKeyIsIssuedOnlyForAPruningStepOfTheHostsSchedule(t *testing.T) {
	t.Parallel()
	const daily, adminKey = "the day-to-day password", "the admin key that may delete"
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "pruner")
	otherID, _ := s.enroll(t, "other")
	repoID := s.addRepo(t, "main", daily, nil)
	s.addRepo(t, "plain", "plain repository password", nil)
	s.call(t, "PATCH", "/api/v1/repositories/main", s.admin, map[string]any{"admin_password": adminKey}, http.StatusOK, nil)

	sched := func(body map[string]any) string {
		if body["kind"] == nil || body["kind"] == "backup" {
			body["paths"] = []string{"/srv"}
		}
		body["every"] = "1h"
		return s.createSchedule(t, body)
	}
	prune := sched(map[string]any{"host": hostID, "repository": "main", "kind": "prune"})
	retention := sched(map[string]any{"host": hostID, "repository": "main", "retention": map[string]any{"keep_last": 3}, "prune": true})
	noPrune := sched(map[string]any{"host": hostID, "repository": "main", "retention": map[string]any{"keep_last": 3}})
	plainPrune := sched(map[string]any{"host": hostID, "repository": "plain", "kind": "prune"})
	othersPrune := sched(map[string]any{"host": otherID, "repository": "main", "kind": "prune"})
	disabled := sched(map[string]any{"host": hostID, "repository": "main", "kind": "prune", "enabled": false})

	for id, want := range map[string]any{prune: "admin", retention: "admin", noPrune: nil, plainPrune: "default"} {
		var out map[string]any
		s.call(t, "GET", "/api/v1/schedules/"+id, s.admin, nil, http.StatusOK, &out)
		if out["prune_key"] != want {
			t.Errorf("schedule %s: prune_key %v, want %v", id, out["prune_key"], want)
		}
	}

	a := s.connectScheduled(t, cred)
	got, list, _ := a.waitSync(0)
	if strings.Contains(string(got.Schedules), adminKey) {
		t.Fatal("the pushed schedules hold the admin key")
	}
	flags := map[string]bool{}
	for _, ws := range list {
		flags[ws.ID] = ws.Repository.AdminKey
		if ws.Repository.ID == repoID && ws.Repository.Password.Reveal() != daily {
			t.Errorf("schedule %s is pushed with another password than the day-to-day one", ws.ID)
		}
	}
	if !flags[prune] || !flags[retention] || flags[noPrune] || flags[plainPrune] {
		t.Fatalf("admin_key flags pushed: %v", flags)
	}

	jobID := "7d0c7f0e-0000-4000-8000-000000000001"
	if key, perr := a.askAdminKey(prune, jobID, "prune"); perr != nil || key != adminKey {
		t.Fatalf("admin_key for the prune schedule: %q %v", key, perr)
	}
	if key, perr := a.askAdminKey(retention, "7d0c7f0e-0000-4000-8000-000000000002", "forget"); perr != nil || key != adminKey {
		t.Fatalf("admin_key for the retention forget --prune: %q %v", key, perr)
	}
	for name, tc := range map[string]struct {
		schedule, kind, code string
	}{
		"a backup's retention prune kind": {retention, "prune", wire.CodeConflict},
		"a retention without prune":       {noPrune, "forget", wire.CodeConflict},
		"a repository without one":        {plainPrune, "prune", wire.CodeConflict},
		"another host's schedule":         {othersPrune, "prune", wire.CodeNotFound},
		"a disabled schedule":             {disabled, "prune", wire.CodeConflict},
		"no such schedule":                {"no-such-schedule", "prune", wire.CodeNotFound},
	} {
		if key, perr := a.askAdminKey(tc.schedule, "7d0c7f0e-0000-4000-8000-000000000009", tc.kind); perr == nil || perr.Code != tc.code || key != "" {
			t.Errorf("%s: got %q %v, want a %s error", name, key, perr, tc.code)
		}
	}

	// The run reports; the key is scrubbed from what it prints.
	a.event(jobID, 1, wire.EventStatus, wire.StatusData{Status: "running", Kind: "prune", ScheduleID: prune, RepositoryID: repoID, Params: json.RawMessage(`{}`)})
	a.logEvent(jobID, 2, "opened with "+adminKey)
	a.finish(jobID, 3, wire.StatusSucceeded, 0, nil)
	a.waitAck(jobID, 3)
	logs := s.jobLogs(t, jobID)
	if len(logs) != 3 || !strings.Contains(logs[1].Line, wire.Redacted) || strings.Contains(logs[1].Line, adminKey) {
		t.Fatalf("the prune's log: %+v", logs)
	}

	var audit struct {
		Items []map[string]any `json:"items"`
	}
	raw := s.call(t, "GET", "/api/v1/audit?action=repository.admin_key.issue", s.admin, nil, http.StatusOK, &audit)
	if len(audit.Items) != 2 || strings.Contains(string(raw), adminKey) {
		t.Fatalf("audit entries of issued keys: %s", raw)
	}
	d, _ := audit.Items[1]["detail"].(map[string]any)
	if d["job_id"] != jobID || d["schedule_id"] != prune || d["host_id"] != hostID {
		t.Fatalf("the first issued key's audit detail: %v", audit.Items[1])
	}
	if strings.Contains(s.log.String(), adminKey) {
		t.Fatal("the server log holds the admin key")
	}
}

// A key for a job the server knows as another host's closes the asking
// agent's connection: agent A never acts for agent B.
func TestAdminKeyForAnotherHostsJobIsAPolicyViolation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "pruner")
	otherID, otherCred := s.enroll(t, "other")
	s.addRepo(t, "main", "the day-to-day password", nil)
	s.call(t, "PATCH", "/api/v1/repositories/main", s.admin, map[string]any{"admin_password": "the admin key"}, http.StatusOK, nil)
	prune := s.createSchedule(t, map[string]any{"host": hostID, "repository": "main", "kind": "prune", "every": "1h"})
	other := s.connect(t, otherCred)
	j := s.run(t, otherID, map[string]any{"kind": "snapshots", "repository": "main"}, http.StatusCreated)
	other.waitDispatch()

	a := s.connectScheduled(t, cred)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = a.c.Request(ctx, wire.TypeAdminKey, wire.AdminKey{ScheduleID: prune, JobID: j.ID, Kind: "prune"})
	if code := a.closeCode(); code != 1008 {
		t.Fatalf("close code %d, want 1008", code)
	}
}
