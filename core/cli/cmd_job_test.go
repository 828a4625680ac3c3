package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestLogRendering(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		item logItem
		tty  bool
		want string
	}{
		"log lines":         {logItem{Type: "log", Line: "one\ntwo\x1b[31m"}, false, "one\ntwo?[31m\n"},
		"progress off tty":  {logItem{Type: "progress", Line: `{"percent_done":0.5}`}, false, ""},
		"progress on tty":   {logItem{Type: "progress", Line: `{"percent_done":0.421,"total_files":300,"files_done":120,"total_bytes":3221225472,"bytes_done":1288490189,"seconds_remaining":42}`}, true, "\r\x1b[K[ 42.1%] 120/300 files  1.2 GiB/3.0 GiB  ETA 0:42"},
		"backup summary":    {logItem{Type: "summary", Line: `{"files_new":3,"files_changed":1,"files_unmodified":10,"data_added":2048,"total_bytes_processed":4096,"total_duration":1.4,"snapshot_id":"abcdef0123456789"}`}, false, "summary: 3 new, 1 changed, 10 unmodified files; 2.0 KiB added, 4.0 KiB processed in 1s; snapshot abcdef01 saved\n"},
		"other summary":     {logItem{Type: "summary", Line: `{"total_size":1}`}, false, "summary: {\"total_size\":1}\n"},
		"error":             {logItem{Type: "error", Line: `{"message_type":"error","error":{"message":"permission denied"},"item":"/root/x"}`}, false, "error: /root/x: permission denied\n"},
		"exit error":        {logItem{Type: "error", Line: `{"message_type":"exit_error","code":12,"message":"wrong password"}`}, false, "error: wrong password\n"},
		"status":            {logItem{Type: "status", Line: `{"status":"running"}`}, false, "[running]\n"},
		"final status":      {logItem{Type: "status", Line: `{"status":"failed","exit_code":1,"message":"boom","final":true}`}, false, "[failed, exit code 1] boom\n"},
		"undecodable error": {logItem{Type: "error", Line: `not json`}, false, "error: not json\n"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			newLogPrinter(&b, tc.tty).item(tc.item)
			if b.String() != tc.want {
				t.Fatalf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

func TestProgressLineIsClearedBeforeOtherOutput(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newLogPrinter(&b, true)
	p.item(logItem{Type: "progress", Line: `{"percent_done":0.1}`})
	p.item(logItem{Type: "log", Line: "next"})
	if !strings.HasSuffix(b.String(), "\r\x1b[Knext\n") {
		t.Fatalf("output %q", b.String())
	}
}

func TestRunFlagsBody(t *testing.T) {
	t.Parallel()
	f := runFlags{repo: "offsite", keepDaily: 7, keepWithin: "1y", prune: true, params: `{"extra":{"exclude_caches":true}}`}
	body, err := f.body("forget")
	if err != nil {
		t.Fatal(err)
	}
	params := body["params"].(map[string]any)
	retention := params["retention"].(map[string]any)
	if body["kind"] != "forget" || body["repository"] != "offsite" || retention["keep_daily"] != 7 ||
		retention["keep_within"] != "1y" || params["prune"] != true || params["extra"] == nil {
		t.Fatalf("body = %v", body)
	}
	if _, err := (&runFlags{params: "[1]"}).body("check"); err == nil {
		t.Fatal("--params that is not an object was accepted")
	}
}

func TestFmtBytesAndClock(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 20: "1.5 GiB"} {
		if got := fmtBytes(in); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", in, got, want)
		}
	}
	if got := fmtClock(3723e9); got != "1:02:03" {
		t.Errorf("fmtClock = %q", got)
	}
}
