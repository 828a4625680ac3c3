package wire_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

func scheduleSample() wire.Schedule {
	return wire.Schedule{
		ID: "sched-1", Name: "nightly", Kind: "backup",
		Repository: wire.Repository{
			ID: "repo-1", Name: "main", URL: "/srv/restic",
			Password: wire.NewSecret(testSecret),
			Env:      map[string]wire.Secret{"AWS_SECRET_ACCESS_KEY": wire.NewSecret(testKey)},
		},
		Cron: "0 3 * * *", Timezone: "Europe/Berlin", JitterSeconds: 600, CatchUp: true,
		Params:    json.RawMessage(`{"paths":["/srv"]}`),
		Forget:    json.RawMessage(`{"retention":{"keep_daily":7}}`),
		UpdatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
}

func TestScheduleListRevealsSecretsOnTheWireOnly(t *testing.T) {
	t.Parallel()
	list := wire.ScheduleList{Revision: 7, Schedules: []wire.Schedule{scheduleSample()}}
	plain, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	assertRedacted(t, "json.Marshal", string(plain))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assertRedacted(t, verb, fmt.Sprintf(verb, list))
	}

	env, err := wire.NewEnvelope(wire.TypeSchedulesSync, list)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := wire.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(frame), testSecret) || !strings.Contains(string(frame), testKey) {
		t.Fatalf("the wire form lacks the secrets: %s", frame)
	}
	got, err := wire.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	var sync wire.SchedulesSync
	if err := got.DecodePayload(&sync); err != nil {
		t.Fatal(err)
	}
	scheds, err := sync.List()
	if err != nil {
		t.Fatal(err)
	}
	if sync.Revision != 7 || len(scheds) != 1 {
		t.Fatalf("sync = revision %d, %d schedules", sync.Revision, len(scheds))
	}
	s := scheds[0]
	if s.Repository.Password.Reveal() != testSecret || s.Repository.Env["AWS_SECRET_ACCESS_KEY"].Reveal() != testKey {
		t.Fatal("the repository's secrets did not survive the trip")
	}
	want := scheduleSample()
	if s.ID != want.ID || s.Cron != want.Cron || s.Timezone != want.Timezone || s.JitterSeconds != 600 || !s.CatchUp ||
		string(s.Params) != string(want.Params) || string(s.Forget) != string(want.Forget) || !s.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("decoded %+v, want %+v", s, want)
	}
}

func TestScheduleListReportsBadSchedules(t *testing.T) {
	t.Parallel()
	good := scheduleSample()
	noTiming := scheduleSample()
	noTiming.ID, noTiming.Name, noTiming.Cron = "sched-2", "no-timing", ""
	both := scheduleSample()
	both.ID, both.Name, both.EverySeconds = "sched-3", "both", 60
	badParams := scheduleSample()
	badParams.ID, badParams.Name, badParams.Params = "sched-4", "bad-params", json.RawMessage(`[1]`)
	badRepo := scheduleSample()
	badRepo.ID, badRepo.Name, badRepo.Repository.URL = "sched-5", "bad-repo", ""
	raw, err := wire.ScheduleList{Revision: 1, Schedules: []wire.Schedule{good, noTiming, both, badParams, badRepo}}.MarshalWire()
	if err != nil {
		t.Fatal(err)
	}
	var sync wire.SchedulesSync
	if err := json.Unmarshal(raw, &sync); err != nil {
		t.Fatal(err)
	}
	if err := sync.Validate(); err != nil {
		t.Fatal(err)
	}
	scheds, err := sync.List()
	if len(scheds) != 1 || scheds[0].ID != good.ID {
		t.Fatalf("List kept %d schedules; want only the valid one", len(scheds))
	}
	for _, name := range []string{"no-timing", "both", "bad-params", "bad-repo"} {
		if err == nil || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("List's error %v does not name %q", err, name)
		}
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Error("List's error holds a secret")
	}
}

func TestStatusDataCarriesParams(t *testing.T) {
	t.Parallel()
	in := wire.StatusData{Status: "running", Kind: "backup", ScheduleID: "s", RepositoryID: "r", Params: json.RawMessage(`{"paths":["/srv"]}`)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out wire.StatusData
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if string(out.Params) != `{"paths":["/srv"]}` || out.ScheduleID != "s" {
		t.Fatalf("round trip = %+v", out)
	}
}
