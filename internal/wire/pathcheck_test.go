package wire_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/wire"
)

const testNewPassword = "new-key-password-for-one-job"

// TestNewPasswordTravelsRedacted: a key_add's new password reaches the
// agent intact and shows in no log line or JSON encoding.
func TestNewPasswordTravelsRedacted(t *testing.T) {
	t.Parallel()
	d := dispatchSample()
	d.Kind = "key_add"
	d.NewPassword = wire.NewSecret(testNewPassword)
	env, err := wire.NewEnvelope(wire.TypeJobDispatch, d)
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
	var back wire.JobDispatch
	if err := got.DecodePayload(&back); err != nil {
		t.Fatal(err)
	}
	if back.NewPassword.Reveal() != testNewPassword || back.Repository.Password.Reveal() != testSecret {
		t.Fatalf("the secrets did not survive the trip: new %q, repository %q", back.NewPassword.Reveal(), back.Repository.Password.Reveal())
	}

	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Trace})
	logger.Info("dispatching", "dispatch", d, "envelope", env, "x", hclog.Fmt("%+v %#v", d, d))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for where, out := range map[string]string{
		"hclog": buf.String(), "json.Marshal": string(b), "%+v": fmt.Sprintf("%+v", d), "%#v": fmt.Sprintf("%#v", d),
	} {
		if strings.Contains(out, testNewPassword) {
			t.Errorf("%s shows the new password: %s", where, out)
		}
	}

	// A dispatch without one sends none.
	d.NewPassword = wire.Secret{}
	raw, err := d.MarshalWire()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "new_password") {
		t.Errorf("a dispatch without a new password sends the field: %s", raw)
	}
}

func TestPathCheckValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		msg interface{ Validate() error }
		ok  bool
	}{
		"request":             {wire.PathCheck{Path: "/srv/restore"}, true},
		"empty path":          {wire.PathCheck{}, false},
		"control character":   {wire.PathCheck{Path: "/srv/\x00x"}, false},
		"result":              {wire.PathCheckResult{Path: "/x", Exists: false, Writable: true, User: "restic"}, true},
		"dir that is not":     {wire.PathCheckResult{Path: "/x", IsDir: true}, false},
		"result without path": {wire.PathCheckResult{User: "restic"}, false},
	} {
		if err := tc.msg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", name, err, tc.ok)
		}
	}
	if !wire.TypePathCheck.SentBy(wire.RoleServer) || wire.TypePathCheck.SentBy(wire.RoleAgent) ||
		!wire.TypePathCheckResult.SentBy(wire.RoleAgent) {
		t.Error("path_check goes server → agent, path_check_result back")
	}
}
