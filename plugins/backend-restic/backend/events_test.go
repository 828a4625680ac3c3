package backend

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// convertAll runs events through a converter for kind.
func convertAll(kind restic.Kind, maxBytes int, evs ...restic.Event) ([]sdk.Event, json.RawMessage) {
	c := newConverter(kind, maxBytes)
	var out []sdk.Event
	for _, ev := range evs {
		out = append(out, c.convert(ev)...)
	}
	return out, c.output()
}

// lineObject decodes a data line.
func lineObject(t *testing.T, ev sdk.Event) map[string]any {
	t.Helper()
	if ev.Log == nil || ev.Log.Stream != sdk.StreamStdout {
		t.Fatalf("event %+v is no stdout line", ev)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Log.Text), &m); err != nil {
		t.Fatalf("line %q: %v", ev.Log.Text, err)
	}
	return m
}

func TestConvertSnapshots(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	snap := func(id string) *restic.Snapshot {
		return &restic.Snapshot{Meta: restic.Meta{Seq: 7}, SnapshotInfo: restic.SnapshotInfo{
			ID: id, ShortID: id[:4], Time: at, Paths: []string{"/etc"}, Hostname: "web-1", Tags: []string{"daily"},
		}}
	}
	evs, out := convertAll(restic.KindSnapshots, maxOutputBytes, snap("aaaa1111"), snap("bbbb2222"))
	if len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
	m := lineObject(t, evs[0])
	if m["message_type"] != "snapshot" || m["id"] != "aaaa1111" || m["hostname"] != "web-1" {
		t.Errorf("line %v", m)
	}
	if _, ok := m["seq"]; ok {
		t.Errorf("line carries the runner's seq: %v", m)
	}
	var list []restic.SnapshotInfo
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if len(list) != 2 || list[1].ID != "bbbb2222" || !list[0].Time.Equal(at) || list[0].Tags[0] != "daily" {
		t.Errorf("output %s", out)
	}
	if strings.Contains(string(out), "message_type") {
		t.Errorf("output elements carry message_type: %s", out)
	}

	if _, out := convertAll(restic.KindSnapshots, maxOutputBytes); string(out) != "[]" {
		t.Errorf("no snapshots: output %q, want []", out)
	}
}

func TestConvertOutputBounded(t *testing.T) {
	t.Parallel()
	var snaps []restic.Event
	for range 50 {
		snaps = append(snaps, &restic.Snapshot{SnapshotInfo: restic.SnapshotInfo{ID: strings.Repeat("a", 64)}})
	}
	evs, out := convertAll(restic.KindSnapshots, 1000, snaps...)
	if out != nil {
		t.Errorf("output of %d bytes kept past the bound", len(out))
	}
	var warnings, lines int
	for _, ev := range evs {
		switch {
		case ev.Log.Stream == sdk.StreamStderr:
			warnings++
		case strings.Contains(ev.Log.Text, `"snapshot"`):
			lines++
		}
	}
	if warnings != 1 || lines != 50 {
		t.Errorf("%d warnings and %d data lines, want 1 and 50", warnings, lines)
	}
}

func TestConvertLsDiffForget(t *testing.T) {
	t.Parallel()
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	evs, out := convertAll(restic.KindLs, maxOutputBytes,
		&restic.Snapshot{SnapshotInfo: restic.SnapshotInfo{ID: "s1", Paths: []string{"/d"}}},
		&restic.Node{Meta: restic.Meta{Seq: 2}, Name: "f", Type: "file", Path: "/d/f", Size: 6, Mode: 0o644, MTime: mtime},
	)
	if len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
	node := lineObject(t, evs[1])
	if node["message_type"] != "node" || node["path"] != "/d/f" || node["size"] != 6.0 || node["mtime"] != "2025-01-02T03:04:05Z" {
		t.Errorf("node line %v", node)
	}
	if _, ok := node["seq"]; ok {
		t.Errorf("node line carries the runner's seq: %v", node)
	}
	var sn restic.SnapshotInfo
	if err := json.Unmarshal(out, &sn); err != nil || sn.ID != "s1" {
		t.Errorf("ls output %s (%v), want the listed snapshot", out, err)
	}

	stats := json.RawMessage(`{"message_type":"statistics","changed_files":1}`)
	evs, out = convertAll(restic.KindDiff, maxOutputBytes,
		&restic.Change{Path: "/d/f", Modifier: "M"},
		&restic.Summary{Kind: restic.KindDiff, Raw: stats, Diff: &restic.DiffStatistics{ChangedFiles: 1}},
	)
	if c := lineObject(t, evs[0]); !reflect.DeepEqual(c, map[string]any{"message_type": "change", "path": "/d/f", "modifier": "M"}) {
		t.Errorf("change line %v", c)
	}
	if evs[1].Summary == nil || string(evs[1].Summary.Raw) != string(stats) || string(out) != string(stats) {
		t.Errorf("diff summary %+v, output %s", evs[1], out)
	}

	keep := restic.SnapshotInfo{ID: "k", Time: mtime}
	evs, out = convertAll(restic.KindForget, maxOutputBytes,
		&restic.ForgetGroup{
			Host: "h", Paths: []string{"/d"}, Keep: []restic.SnapshotInfo{keep}, Remove: []restic.SnapshotInfo{{ID: "r"}},
			Reasons: []restic.KeepReason{{Snapshot: keep, Matches: []string{"daily snapshot"}}},
		},
		&restic.ForgetResult{DryRun: true, Groups: 1, Kept: []string{"k"}, Removed: []string{"r"}},
	)
	if g := lineObject(t, evs[0]); g["message_type"] != "forget_group" || g["host"] != "h" {
		t.Errorf("group line %v", g)
	}
	var res forgetResultDoc
	if err := json.Unmarshal(evs[1].Summary.Raw, &res); err != nil || !res.DryRun || res.Removed[0] != "r" || res.MessageType != "forget_result" {
		t.Errorf("forget summary %s", evs[1].Summary.Raw)
	}
	// The output is the plan, the same document as the summary.
	want := `{"message_type":"forget_result","dry_run":true,"kept":["k"],"removed":["r"],"groups":[{"host":"h","tags":[],"paths":["/d"],` +
		`"keep":[{"id":"k","time":"2025-01-02T03:04:05Z","reasons":["daily snapshot"]}],"remove":[{"id":"r","time":"0001-01-01T00:00:00Z"}]}]}`
	if string(out) != want || string(evs[1].Summary.Raw) != want {
		t.Errorf("forget output\n%s\nwant\n%s", out, want)
	}

	// copy: the text report's pairs become the summary and the output.
	evs, out = convertAll(restic.KindCopy, maxOutputBytes,
		&restic.LogLine{Stream: restic.Stdout, Text: "snapshot 1a2b3c4d saved"},
		&restic.CopyResult{Copied: []restic.CopiedSnapshot{{Source: "0f0f0f0f", Snapshot: "1a2b3c4d"}}},
	)
	want = `{"message_type":"copy_result","copied":[{"source":"0f0f0f0f","snapshot":"1a2b3c4d"}],"skipped":[]}`
	if len(evs) != 2 || evs[0].Log == nil || evs[1].Summary == nil || string(evs[1].Summary.Raw) != want || string(out) != want {
		t.Errorf("copy events %+v, output %s", evs, out)
	}
}

func TestConvertStatusAndSummaries(t *testing.T) {
	t.Parallel()
	raw := json.RawMessage(`{"message_type":"summary","snapshot_id":"s"}`)
	evs, out := convertAll(restic.KindBackup, maxOutputBytes,
		&restic.Progress{PercentDone: 0.5, FilesDone: 1, TotalFiles: 2, BytesDone: 3, TotalBytes: 4, SecondsElapsed: 5, SecondsRemaining: 6, ErrorCount: 1, CurrentFiles: []string{"/x"}},
		&restic.LogLine{Stream: restic.Stderr, Text: "warning"},
		&restic.Error{Message: "permission denied", Item: "/x", During: "archival"},
		&restic.Summary{Kind: restic.KindBackup, Raw: raw, Backup: &restic.BackupSummary{
			SnapshotID: "s", FilesNew: 1, FilesChanged: 2, FilesUnmodified: 3, DirsNew: 4, DirsChanged: 5, DirsUnmodified: 6,
			DataAdded: 7, TotalFilesProcessed: 8, TotalBytesProcessed: 9, TotalDuration: 1.5,
		}},
	)
	want := []sdk.Event{
		{Progress: &sdk.Progress{PercentDone: 0.5, FilesDone: 1, TotalFiles: 2, BytesDone: 3, TotalBytes: 4, SecondsElapsed: 5, SecondsRemaining: 6, ErrorCount: 1, CurrentFiles: []string{"/x"}}},
		{Log: &sdk.LogLine{Stream: sdk.StreamStderr, Text: "warning"}},
		{Error: &sdk.ErrorEvent{Message: "permission denied", Item: "/x", During: "archival"}},
		{Summary: &sdk.Summary{
			Raw: raw, SnapshotID: "s", FilesNew: 1, FilesChanged: 2, FilesUnmodified: 3, DirsNew: 4, DirsChanged: 5, DirsUnmodified: 6,
			DataAdded: 7, TotalFilesProcessed: 8, TotalBytesProcessed: 9, DurationSeconds: 1.5,
		}},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("events\n%+v\nwant\n%+v", evs, want)
	}
	if string(out) != string(raw) {
		t.Errorf("backup output %s, want the summary", out)
	}

	evs, out = convertAll(restic.KindVersion, maxOutputBytes, &restic.VersionInfo{
		Version: restic.Version{Major: 0, Minor: 18, Patch: 1, GoVersion: "go1.25.1", OS: "linux", Arch: "amd64"},
	})
	if evs[0].Log.Text != "restic 0.18.1 compiled with go1.25.1 on linux/amd64" ||
		string(out) != `{"version":"0.18.1","go_version":"go1.25.1","go_os":"linux","go_arch":"amd64"}` {
		t.Errorf("version: %+v, output %s", evs[0].Log, out)
	}
	for _, ev := range evs {
		if ev.Kind() == "" {
			t.Errorf("event %+v carries no single payload", ev)
		}
	}
}

func TestDataLine(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{
		`{}`:        `{"message_type":"x"}`,
		`{"a":1}`:   `{"message_type":"x","a":1}`,
		`{ "a":1 }`: `{"message_type":"x", "a":1 }`,
	} {
		if got := dataLine("x", []byte(doc)).Log.Text; got != want || !json.Valid([]byte(got)) {
			t.Errorf("dataLine(%s) = %s, want %s", doc, got, want)
		}
	}
}
