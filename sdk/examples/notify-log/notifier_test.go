package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifications.jsonl")
	sdktest.Notifier(t, sdktest.NotifierConfig{
		Command:       sdktest.BuildPlugin(t, "."),
		ValidConfig:   fmt.Sprintf(`{"path":%q}`, path),
		InvalidConfig: `{"path":"relative/notifications.jsonl"}`,
		Delivered: func(t testing.TB, want notify.Notification) {
			lines := readLines(t, path)
			if len(lines) == 0 || !reflect.DeepEqual(lines[len(lines)-1], want) {
				t.Errorf("last line of %s = %+v, want %+v", path, lines, want)
			}
		},
	})
}

func TestSeverityFilter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "n.jsonl")
	l := &LogNotifier{Logger: hclog.NewNullLogger()}
	ctx := context.Background()
	if err := l.Configure(ctx, []byte(fmt.Sprintf(`{"path":%q,"min_severity":"warning"}`, path))); err != nil {
		t.Fatal(err)
	}
	for _, s := range []notify.Severity{notify.SeverityInfo, notify.SeverityWarning, notify.SeverityCritical} {
		if err := l.Notify(ctx, notify.Notification{Event: "e", Severity: s, Title: string(s)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, n := range readLines(t, path) {
		got = append(got, n.Title)
	}
	if want := []string{"warning", "critical"}; !reflect.DeepEqual(got, want) {
		t.Errorf("written %q, want %q", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]string{
		"relative path":    `{"path":"n.jsonl"}`,
		"missing dir":      fmt.Sprintf(`{"path":%q}`, filepath.Join(dir, "nope", "n.jsonl")),
		"unknown severity": fmt.Sprintf(`{"path":%q,"min_severity":"loud"}`, filepath.Join(dir, "n.jsonl")),
		"no path":          `{}`,
	}
	for name, config := range tests {
		l := &LogNotifier{Logger: hclog.NewNullLogger()}
		if err := l.Configure(context.Background(), []byte(config)); err == nil {
			t.Errorf("%s: Configure(%s) succeeded", name, config)
		}
		err := l.Notify(context.Background(), sdktest.SampleNotification())
		if !errors.Is(err, plugin.ErrNotConfigured) {
			t.Errorf("%s: Notify after a failed Configure = %v", name, err)
		}
	}
}

func readLines(t testing.TB, path string) []notify.Notification {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []notify.Notification
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var n notify.Notification
		if err := json.Unmarshal(line, &n); err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		out = append(out, n)
	}
	return out
}
