package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The restore command against the real server and agent is tested end to
// end in core/cmd/restic-manager (e2e_restore_test.go); these are the
// refusals the CLI makes before it asks the server, and its summary line.

func TestRestoreFlagRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no host":             {[]string{"restore", "--snapshot", "abc"}, "--host"},
		"no snapshot":         {[]string{"restore", "--host", "web1"}, "--snapshot"},
		"strip, no target":    {[]string{"restore", "--host", "web1", "--snapshot", "abc", "--strip-components", "1"}, "--target"},
		"negative strip":      {[]string{"restore", "--host", "web1", "--snapshot", "abc", "--target", "/t", "--strip-components", "-1"}, "negative"},
		"positional argument": {[]string{"restore", "--host", "web1", "--snapshot", "abc", "extra"}, "extra"},
		"to-host, no target":  {[]string{"restore", "--host", "web1", "--snapshot", "abc", "--to-host", "web2"}, "--target"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestRestoreSummaryLine(t *testing.T) {
	t.Parallel()
	sum, _ := json.Marshal(map[string]any{
		"message_type": "summary", "total_files": 1, "files_restored": 4, "files_skipped": 0,
		"total_bytes": 2150, "bytes_restored": 2150, "bytes_skipped": 0,
	})
	var b bytes.Buffer
	printRestoreSummary(&b, job{Status: "succeeded", Summary: sum})
	if got, want := b.String(), "restored 1 file (2.1 KiB): 4 files and folders written, 0 skipped (0 B)\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	b.Reset()
	printRestoreSummary(&b, job{Status: "succeeded"})
	if b.Len() != 0 {
		t.Fatalf("a restore without a summary (restic < 0.16) printed %q", b.String())
	}
}
