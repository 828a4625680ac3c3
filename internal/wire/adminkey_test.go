package wire_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// The admin key reaches the peer and nothing else: printing or
// json.Marshal shows it redacted, the wire encoder reveals it; a result
// without a key and an ask naming no schedule or job are invalid.
func TestAdminKeyResultRevealsTheKeyOnTheWireOnly(t *testing.T) {
	t.Parallel()
	res := wire.AdminKeyResult{Password: wire.NewSecret(testSecret)}
	plain, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	assertRedacted(t, "json.Marshal", string(plain))
	assertRedacted(t, "%+v", fmt.Sprintf("%+v", res))
	env, err := wire.NewEnvelope(wire.TypeAdminKeyResult, res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env.Payload), testSecret) {
		t.Fatalf("the wire payload lacks the key: %s", env.Payload)
	}

	for name, v := range map[string]interface{ Validate() error }{
		"no key":      wire.AdminKeyResult{},
		"no schedule": wire.AdminKey{JobID: "job-1", Kind: "prune"},
		"no job":      wire.AdminKey{ScheduleID: "s-1", Kind: "prune"},
		"no kind":     wire.AdminKey{ScheduleID: "s-1", JobID: "job-1"},
	} {
		if v.Validate() == nil {
			t.Errorf("%s: valid", name)
		}
	}
	if err := (wire.AdminKey{ScheduleID: "s-1", JobID: "job-1", Kind: "prune"}).Validate(); err != nil {
		t.Errorf("a complete ask: %v", err)
	}
}
