package ntfy

import (
	"encoding/json"
	"testing"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite against the standalone
// binary, plugins/notify-ntfy, publishing to a fake ntfy server that wants
// a token.
func TestConformance(t *testing.T) {
	const token = "tk_conformance0123456789abcdef"
	fake := newFakeNtfyServer(t, func(f *fakeNtfyServer) { f.token = token })
	valid, err := json.Marshal(map[string]any{"server": fake.URL, "topic": "sdktest", "token": token})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.Notifier(t, sdktest.NotifierConfig{
		Command:       sdktest.BuildPlugin(t, "github.com/restic-manager/restic-manager/plugins/notify-ntfy"),
		ValidConfig:   string(valid),
		InvalidConfig: `{"topic":"not a topic"}`,
		Delivered: func(t testing.TB, want notify.Notification) {
			got := fake.last(t)
			if got.Topic != "sdktest" || got.Title != want.Title || got.Click != want.Links[0].URL || got.Priority != 4 {
				t.Errorf("the fake ntfy server got %+v, want the title, click link and priority of %+v", got, want)
			}
		},
	})
}
