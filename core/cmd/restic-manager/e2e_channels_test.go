package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Channels made without the configuration file, end to end: a webhook
// channel created with the CLI (its HMAC key from a file) against a
// receiver in this process, a rule routing to it, a failed backup through
// the real agent and restic notified through the real built-in plugin;
// then a server restart, after which the channel is still there and still
// signs with its sealed key. The key never shows in the CLI's output, the
// server's log, the audit log or the database file.
func TestEndToEndStoredChannel(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	hostName := r.host()["name"].(string)
	const key = "e2e-hmac-key-5d0c71b2"
	in := &inbox{}
	var badSignatures atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		if req.Header.Get("X-Restic-Manager-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			badSignatures.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n struct{ Event, Title, Body string }
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.add(received{via: "webhook", event: n.Event, title: n.Title, body: n.Body})
	}))
	t.Cleanup(hook.Close)
	keyFile := filepath.Join(t.TempDir(), "hook.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if out := r.ok("channel", "create", "ops-hook", "--type", "notify-webhook", "--set", "url="+hook.URL+"/alerts",
		"--set", "retries=0", "--secret-file", "secret="+keyFile); strings.TrimSpace(out) != "ops-hook" {
		t.Fatalf("channel create printed %q", out)
	}
	if res := r.cli("channel", "create", "bad", "--type", "notify-webhook", "--set", "colour=red"); res.code != 1 ||
		!strings.Contains(res.stderr, "config.colour") {
		t.Fatalf("a channel with an unknown setting: exit %d %s", res.code, res.stderr)
	}
	r.ok("alert", "rule", "create", "--name", "failed", "--on", "job_failed", "--channel", "ops-hook")

	// Live without a restart: the failed backup is notified, signed.
	_, end := r.failedBackup("main")
	got := in.wait(t, "job_failed", "backup of "+hostName+" failed", "webhook")["webhook"]
	t.Logf("alert latency, job end → stored webhook channel: %s", got.at.Sub(end).Round(time.Millisecond))

	res := r.cli("channel", "delete", "ops-hook")
	if res.code != 1 || !strings.Contains(res.stderr, "failed") || !strings.Contains(res.stderr, "alert rules") {
		t.Fatalf("deleting a channel a rule uses: exit %d %s", res.code, res.stderr)
	}

	// A restart: the channel comes back from the store.
	r.stopServer()
	r.restartServer()
	r.waitHostStatus("online")
	var channels []map[string]any
	r.okJSON(&channels, "channel", "list")
	if len(channels) != 1 || channels[0]["name"] != "ops-hook" || channels[0]["managed_by"] != "api" || channels[0]["enabled"] != true {
		t.Fatalf("channels after the restart: %v", channels)
	}
	if secrets, _ := channels[0]["secrets"].(map[string]any); secrets["secret"] != true {
		t.Errorf("the key is not reported as set: %v", channels[0])
	}
	r.ok("channel", "test", "ops-hook")
	in.wait(t, "test", "Test notification", "webhook")
	if n := badSignatures.Load(); n != 0 {
		t.Errorf("%d requests had a wrong signature", n)
	}

	// Disable and delete once no rule uses it.
	r.ok("channel", "update", "ops-hook", "--disable")
	if res := r.cli("channel", "test", "ops-hook"); res.code != 1 || !strings.Contains(res.stderr, "disabled") {
		t.Errorf("testing a disabled channel: exit %d %s", res.code, res.stderr)
	}
	r.ok("alert", "rule", "delete", "failed")
	r.ok("channel", "delete", "ops-hook")
	r.okJSON(&channels, "channel", "list")
	if len(channels) != 0 {
		t.Errorf("channels after delete: %v", channels)
	}

	// The key is nowhere in the clear.
	var audit []map[string]any
	r.okJSON(&audit, "audit", "list", "--action", "channel.", "--limit", "100")
	blob, _ := json.Marshal(audit)
	places := map[string][]byte{"the CLI's output": []byte(r.outputs.String()), "the server log": []byte(r.srv.log.String()), "the audit log": blob}
	for _, name := range []string{"restic-manager.db", "restic-manager.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(r.srv.dataDir, name)); err == nil {
			places[name] = b
		}
	}
	for where, b := range places {
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("the channel's key is in %s", where)
		}
	}
	if len(audit) < 4 {
		t.Errorf("audit entries for channels: %v", audit)
	}
}
