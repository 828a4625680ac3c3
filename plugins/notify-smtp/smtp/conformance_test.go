package smtp

import (
	"encoding/json"
	"testing"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite against the standalone
// binary, plugins/notify-smtp, mailing through an in-process SMTP server
// that wants AUTH PLAIN (allowed unencrypted, to 127.0.0.1 only).
func TestConformance(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{user: "rm", pass: password, insecureAuth: true})
	valid, err := json.Marshal(ms.config(map[string]any{"username": "rm", "password": password}))
	if err != nil {
		t.Fatal(err)
	}
	sdktest.Notifier(t, sdktest.NotifierConfig{
		Command:       sdktest.BuildPlugin(t, "github.com/restic-manager/restic-manager/plugins/notify-smtp"),
		ValidConfig:   string(valid),
		InvalidConfig: `{"host":"127.0.0.1","from":"not an address","to":["ops@example.com"]}`,
		Delivered: func(t testing.TB, want notify.Notification) {
			m := parseMail(t, ms.last(t).Data)
			if m.Subject != "[restic-manager] "+string(want.Severity)+": "+want.Title {
				t.Errorf("subject %q does not carry %+v", m.Subject, want)
			}
		},
	})
}
