package ui

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestChannelSettingsShown(t *testing.T) {
	t.Parallel()
	c := channelItem{
		Config:  map[string]any{"url": "https://h", "to": []any{"a", "b"}, "retries": 3.0, "tags": map[string]any{"k": "v"}},
		Secrets: map[string]bool{"secret": true, "headers": false},
	}
	got := fmt.Sprint(c.Settings())
	want := "[{retries 3} {tags {\"k\":\"v\"}} {to a, b} {url https://h} {headers not set} {secret set (hidden)}]"
	if got != want {
		t.Errorf("Settings = %s, want %s", got, want)
	}
}

func TestChannelFormBody(t *testing.T) {
	t.Parallel()
	attrs := []schemaAttr{{Name: "url"}, {Name: "method"}, {Name: "secret", Sensitive: true}, {Name: "headers", Sensitive: true}}
	values := map[string]string{"url": "https://h", "method": "", "secret": "", "headers": "{}"}
	// New: only what was typed.
	if got := fmt.Sprint(channelBody(channelEditor{Attrs: attrs, Values: values}, nil)); got != "map[headers:{} url:https://h]" {
		t.Errorf("create body: %s", got)
	}
	// Edit: every shown setting (empty unsets it), an empty secret kept,
	// a cleared one removed.
	ch := &channelItem{Name: "x"}
	if got := fmt.Sprint(channelBody(channelEditor{Channel: ch, Attrs: attrs, Values: values}, []string{"secret"})); got != "map[headers:{} method: secret:<nil> url:https://h]" {
		t.Errorf("update body: %s", got)
	}
}

func TestChannelPagesByRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	viewer := e.userClient(admin, "vera", store.RoleViewer)
	operator := e.userClient(admin, "otto", store.RoleOperator)
	p := e.get(viewer, "/channels")
	if p.status != http.StatusOK || !p.has("No notification channels yet") || !p.has("An admin adds them") || p.has(`id="add-channel"`) {
		t.Errorf("viewer's channels page: %d\n%s", p.status, p.body)
	}
	if p = e.get(admin, "/channels"); !p.has(`href="/channels/new"`) {
		t.Errorf("admin's channels page:\n%s", p.body)
	}
	for _, path := range []string{"/channels/new", "/channels/ops/delete"} {
		if p = e.get(operator, path); p.status != http.StatusForbidden && p.status != http.StatusNotFound {
			t.Errorf("operator at %s: %d", path, p.status)
		}
	}
	if p = e.get(admin, "/channels/new"); p.status != http.StatusOK || !p.has(`id="channel-plugin"`) {
		t.Errorf("admin's new channel page: %d\n%s", p.status, p.body)
	}
	// A server without stored channels says so, naming nothing secret.
	p = e.form(admin, "/channels/new", "/channels", map[string][]string{"name": {"ops"}, "plugin": {"notify-webhook"}})
	if p.status != http.StatusNotImplemented || !p.has("cannot create or change channels") {
		t.Errorf("create without stored channels: %d\n%s", p.status, p.body)
	}
}
