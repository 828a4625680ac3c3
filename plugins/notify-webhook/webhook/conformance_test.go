package webhook

import (
	"encoding/json"
	"testing"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite against the standalone
// binary, plugins/notify-webhook, delivering signed requests to a receiver
// that checks the signature.
func TestConformance(t *testing.T) {
	rc := newReceiver(t, secret, nil)
	valid, err := json.Marshal(map[string]any{"url": rc.URL + "/hook", "secret": secret})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.Notifier(t, sdktest.NotifierConfig{
		Command:       sdktest.BuildPlugin(t, "github.com/restic-manager/restic-manager/plugins/notify-webhook"),
		ValidConfig:   string(valid),
		InvalidConfig: `{"url":"not a url"}`,
		Delivered: func(t testing.TB, want notify.Notification) {
			got := rc.last(t)
			if !got.SignatureOK {
				t.Error("the receiver could not verify the signature")
			}
			var p Payload
			if err := json.Unmarshal(got.Body, &p); err != nil {
				t.Fatalf("body %s: %v", got.Body, err)
			}
			if p.Title != want.Title || p.Event != want.Event || len(p.Links) != len(want.Links) {
				t.Errorf("the receiver got %+v, want %+v", p, want)
			}
		},
	})
}
