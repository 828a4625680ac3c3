package wire_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/wire"
)

func dispatchSample() wire.JobDispatch {
	return *samples()[wire.TypeJobDispatch].(*wire.JobDispatch)
}

func assertRedacted(t *testing.T, where, out string) {
	t.Helper()
	if contains(out, testSecret, testKey) {
		t.Errorf("%s leaks a secret: %s", where, out)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	d := dispatchSample()
	pw := d.Repository.Password
	type holder struct{ hidden wire.Secret }
	values := map[string]any{
		"secret":           pw,
		"secret pointer":   &pw,
		"repository":       d.Repository,
		"dispatch":         d,
		"dispatch pointer": &d,
		"env map":          d.Repository.Env,
		"unexported field": holder{pw},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			assertRedacted(t, name+" "+verb, fmt.Sprintf(verb, v))
		}
		assertRedacted(t, name+" Sprint", fmt.Sprint(v))
	}
	if got := fmt.Sprint(pw); got != wire.Redacted {
		t.Errorf("a secret prints as %q, want %q", got, wire.Redacted)
	}
	if got := fmt.Sprint(wire.Secret{}); got != "" {
		t.Errorf("an empty secret prints as %q", got)
	}
}

func TestSecretsNeverReachLogs(t *testing.T) {
	t.Parallel()
	d := dispatchSample()
	env, err := wire.NewEnvelope(wire.TypeJobDispatch, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, jsonFormat := range []bool{false, true} {
		var buf bytes.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: jsonFormat, Level: hclog.Trace})
		log.Info("dispatching", "dispatch", d, "repository", d.Repository, "password", d.Repository.Password,
			"env", d.Repository.Env, "envelope", env, "pointer", &d)
		log.Info("formatted", "x", hclog.Fmt("%+v %#v", d, d))
		assertRedacted(t, fmt.Sprintf("hclog json=%v", jsonFormat), buf.String())
		if !strings.Contains(buf.String(), wire.Redacted) {
			t.Errorf("hclog json=%v: no %s marker in %s", jsonFormat, wire.Redacted, buf.String())
		}
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("dispatching", "dispatch", d, "password", d.Repository.Password, "envelope", env)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("dispatching", "dispatch", d, "password", d.Repository.Password, "envelope", env)
	assertRedacted(t, "slog", buf.String())

	for name, v := range map[string]any{"dispatch": d, "repository": d.Repository, "envelope": env} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		assertRedacted(t, "json.Marshal "+name, string(b))
	}
}

func TestSecretsTravelOnTheWire(t *testing.T) {
	t.Parallel()
	env, err := wire.NewEnvelope(wire.TypeJobDispatch, dispatchSample())
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
	var d wire.JobDispatch
	if err := got.DecodePayload(&d); err != nil {
		t.Fatal(err)
	}
	if d.Repository.Password.Reveal() != testSecret || d.Repository.Env["AWS_SECRET_ACCESS_KEY"].Reveal() != testKey {
		t.Fatalf("secrets did not survive the trip: %q %q", d.Repository.Password.Reveal(), d.Repository.Env["AWS_SECRET_ACCESS_KEY"].Reveal())
	}
	if !d.Repository.Password.Equal(wire.NewSecret(testSecret)) || d.Repository.Password.Equal(wire.NewSecret("other")) {
		t.Fatal("Equal is wrong")
	}
}
