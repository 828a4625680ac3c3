package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// channelRecorder answers the channel routes like the API and keeps the
// bodies it received.
func channelRecorder(t *testing.T) (invocation, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		b, _ := json.Marshal(body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/busy"):
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"in_use","message":"channel \"busy\" is used by the alert rules failed; change or delete them first"}}`))
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = w.Write([]byte(`{"id":"ops-hook","name":"ops-hook"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return invocation{env: map[string]string{envAddr: srv.URL, envToken: "rmt_test"}}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestChannelCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	in, got := channelRecorder(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := in.run(t, "channel", "create", "ops-hook", "--type", "notify-webhook", "--set", "url=https://h.example/x", "--set", "retries=2",
		"--secret-file", "secret="+keyFile)
	if r.code != 0 || r.stdout != "ops-hook\n" {
		t.Fatalf("create: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = in.run(t, "channel", "update", "ops-hook", "--unset", "retries", "--set", "method=PUT", "--disable")
	if r.code != 0 {
		t.Fatalf("update: exit %d %s", r.code, r.stderr)
	}
	r = in.run(t, "channel", "delete", "ops-hook")
	if r.code != 0 || r.stderr != "Deleted channel \"ops-hook\".\n" {
		t.Fatalf("delete: exit %d %q", r.code, r.stderr)
	}
	r = in.run(t, "channel", "delete", "busy")
	if r.code != 1 || !strings.Contains(r.stderr, "used by the alert rules failed") {
		t.Errorf("delete of a channel in use: exit %d %q", r.code, r.stderr)
	}
	want := []string{
		`POST /api/v1/channels {"config":{"retries":"2","secret":"s3cret-key","url":"https://h.example/x"},"enabled":true,"name":"ops-hook","plugin":"notify-webhook"}`,
		`PATCH /api/v1/channels/ops-hook {"config":{"method":"PUT","retries":null},"enabled":false}`,
		`DELETE /api/v1/channels/ops-hook null`,
		`DELETE /api/v1/channels/busy null`,
	}
	if g := got(); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}

	for name, args := range map[string][]string{
		"no type":         {"channel", "create", "x"},
		"no name":         {"channel", "create", "--type", "notify-webhook"},
		"bad set":         {"channel", "create", "x", "--type", "t", "--set", "novalue"},
		"twice":           {"channel", "create", "x", "--type", "t", "--set", "a=1", "--set", "a=2"},
		"nothing to do":   {"channel", "update", "x"},
		"enable+disable":  {"channel", "update", "x", "--enable", "--disable"},
		"unset and set":   {"channel", "update", "x", "--set", "a=1", "--unset", "a"},
		"delete no name":  {"channel", "delete"},
		"missing secrets": {"channel", "create", "x", "--type", "t", "--secret-file", "k=" + filepath.Join(t.TempDir(), "none")},
	} {
		r := in.run(t, args...)
		if r.code == 0 {
			t.Errorf("%s: exit 0", name)
		}
	}
	if n := len(got()); n != len(want) {
		t.Errorf("refused invocations reached the server: %d requests", n)
	}
}
