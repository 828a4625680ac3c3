package wire_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

const testCopySecret = "copy-destination-password"

func copyDestination() *wire.Repository {
	return &wire.Repository{
		ID: "repo-2", Name: "offsite", URL: "/srv/restic-2",
		Password: wire.NewSecret(testCopySecret),
		Env:      map[string]wire.Secret{"B2_ACCOUNT_KEY": wire.NewSecret(testCopySecret + "-env")},
	}
}

// roundTrip encodes a payload as the wire does and decodes it into out.
func roundTrip(t *testing.T, typ wire.Type, payload, out any) string {
	t.Helper()
	env, err := wire.NewEnvelope(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := wire.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.DecodePayload(out); err != nil {
		t.Fatal(err)
	}
	return string(frame)
}

func TestCopyDestinationRevealedOnTheWireOnly(t *testing.T) {
	t.Parallel()
	d := dispatchSample()
	d.Kind = "copy"
	d.ToRepository = copyDestination()
	sc := scheduleSample()
	sc.CopyTo = copyDestination()
	list := wire.ScheduleList{Revision: 3, Schedules: []wire.Schedule{sc}}

	for name, v := range map[string]any{"dispatch": d, "schedule list": list} {
		plain, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{string(plain), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v)} {
			if strings.Contains(out, testCopySecret) {
				t.Errorf("%s prints the copy destination's secret: %s", name, out)
			}
		}
	}

	var gotD wire.JobDispatch
	frame := roundTrip(t, wire.TypeJobDispatch, d, &gotD)
	if !strings.Contains(frame, testCopySecret) {
		t.Fatalf("the dispatch's wire form lacks the destination's password: %s", frame)
	}
	if gotD.ToRepository == nil || gotD.ToRepository.Password.Reveal() != testCopySecret ||
		gotD.ToRepository.Env["B2_ACCOUNT_KEY"].Reveal() != testCopySecret+"-env" || gotD.ToRepository.URL != "/srv/restic-2" {
		t.Fatalf("the destination did not survive the trip: %+v", gotD.ToRepository)
	}
	if gotD.Repository.Password.Reveal() != testSecret {
		t.Fatal("the source repository's password did not survive the trip")
	}

	var sync wire.SchedulesSync
	roundTrip(t, wire.TypeSchedulesSync, list, &sync)
	scheds, err := sync.List()
	if err != nil || len(scheds) != 1 {
		t.Fatalf("List() = %d schedules, %v", len(scheds), err)
	}
	if c := scheds[0].CopyTo; c == nil || c.Password.Reveal() != testCopySecret || c.ID != "repo-2" {
		t.Fatalf("the schedule's copy_to did not survive the trip: %+v", c)
	}

	// A dispatch without a destination carries none.
	var plainD wire.JobDispatch
	frame = roundTrip(t, wire.TypeJobDispatch, dispatchSample(), &plainD)
	if plainD.ToRepository != nil || strings.Contains(frame, "to_repository") {
		t.Fatalf("a backup dispatch carries a destination: %s", frame)
	}
}

func TestCopyDestinationValidated(t *testing.T) {
	t.Parallel()
	d := dispatchSample()
	d.ToRepository = &wire.Repository{ID: "repo-2", URL: ""}
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "to_repository.url") {
		t.Fatalf("Validate() = %v, want an error naming to_repository.url", err)
	}
	sc := scheduleSample()
	sc.CopyTo = &wire.Repository{URL: "/x", Env: map[string]wire.Secret{"BAD=NAME": wire.NewSecret("v")}}
	if err := sc.Validate(); err == nil || !strings.Contains(err.Error(), "copy_to.env") {
		t.Fatalf("Validate() = %v, want an error naming copy_to.env", err)
	}
}
