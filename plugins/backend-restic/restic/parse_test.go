package restic

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parse runs the parser over stdout and stderr text as a run would and
// returns the events.
func parse(t *testing.T, kind Kind, stdout, stderr string, mod ...func(*parser)) *recorder {
	t.Helper()
	rec := &recorder{}
	s := &sink{emit: rec.emit, abort: func() {}}
	p := &parser{kind: kind, emit: s.send, maxLine: DefaultMaxLineBytes, maxDoc: DefaultMaxDocumentBytes}
	for _, m := range mod {
		m(p)
	}
	p.readStdout(strings.NewReader(stdout))
	p.readStderr(strings.NewReader(stderr))
	p.finish(true)
	rec.checkSeq(t)
	return rec
}

func TestParseNeverDrops(t *testing.T) {
	t.Parallel()
	stdout := strings.Join([]string{
		`{"message_type":"status","percent_done":0.5,"total_files":4,"files_done":2,"total_bytes":100,"bytes_done":50,"current_files":["/a"]}`,
		`{"message_type":"brand_new_type","x":1}`,
		`{"message_type":"verbose_status","action":"new","item":"/a"}`,
		`{"message_type":"status","percent_done":"not a number"}`,
		`{"no_type":true}`,
		`{broken json`,
		`plain text line`,
		`   `,
		`{"message_type":"summary","files_new":1,"snapshot_id":"abc","total_duration":1.5}`,
	}, "\n")
	stderr := "\x1b[2Ksignal interrupt received, cleaning up\n" +
		`{"message_type":"error","error":{"message":"read /x: input/output error"},"during":"archival","item":"/x"}` + "\n" +
		`{"message_type":"exit_error","code":3,"message":"Warning: at least one source file could not be read"}` + "\n"
	rec := parse(t, KindBackup, stdout, stderr)
	evs := rec.all()
	kinds := make([]string, len(evs))
	for i, ev := range evs {
		kinds[i] = strings.TrimPrefix(fmt.Sprintf("%T", ev), "*restic.")
	}
	want := "Progress LogLine LogLine LogLine LogLine LogLine LogLine Summary LogLine Error Error"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("events %s\nwant   %s%s", got, want, rec.dump())
	}
	if p := evs[0].(*Progress); p.FilesDone != 2 || p.BytesDone != 50 || p.PercentDone != 0.5 || len(p.CurrentFiles) != 1 {
		t.Errorf("progress %+v", p)
	}
	if l := evs[1].(*LogLine); l.MessageType != "brand_new_type" || l.Text != `{"message_type":"brand_new_type","x":1}` {
		t.Errorf("unknown type: %+v", l)
	}
	if l := evs[8].(*LogLine); l.Stream != Stderr || l.Text != "signal interrupt received, cleaning up" {
		t.Errorf("stderr text (ANSI stripped): %+v", l)
	}
	if s := evs[7].(*Summary); s.Backup == nil || s.Backup.SnapshotID != "abc" || s.Backup.TotalDuration != 1.5 {
		t.Errorf("summary %+v", s)
	}
	if e := evs[9].(*Error); e.Message != "read /x: input/output error" || e.Item != "/x" || e.During != "archival" {
		t.Errorf("error %+v", e)
	}
}

func TestParseOlderShapes(t *testing.T) {
	t.Parallel()
	// restic < 0.17: ls typed by struct_type only; backup errors marshalled
	// the Go error ({"Op","Path","Err"}) or nothing at all.
	ls := `{"time":"2024-01-01T00:00:00Z","tree":"t","paths":["/d"],"hostname":"h","id":"snap1","short_id":"snap1","struct_type":"snapshot"}` + "\n" +
		`{"name":"f","type":"file","path":"/d/f","uid":0,"gid":0,"size":3,"mode":420,"mtime":"2024-01-01T00:00:00Z","atime":"2024-01-01T00:00:00Z","ctime":"2024-01-01T00:00:00Z","struct_type":"node"}` + "\n"
	rec := parse(t, KindLs, ls, "")
	if sn := eventsOf[*Snapshot](rec); len(sn) != 1 || sn[0].ID != "snap1" {
		t.Errorf("snapshot: %s", rec.dump())
	}
	if n := eventsOf[*Node](rec); len(n) != 1 || n[0].Path != "/d/f" || n[0].Size != 3 || n[0].Mode != 0o644 {
		t.Errorf("node: %s", rec.dump())
	}

	stderr := `{"message_type":"error","error":{"Op":"open","Path":"/x","Err":{}},"during":"archival","item":"/x"}` + "\n" +
		`{"message_type":"error","error":{},"during":"scan","item":"/y"}` + "\n" +
		"Fatal: wrong password or no key found\n"
	rec = parse(t, KindBackup, "", stderr)
	errs := eventsOf[*Error](rec)
	if len(errs) != 2 || errs[0].Message != "open /x" || !strings.Contains(errs[1].Message, `"item":"/y"`) {
		t.Errorf("old errors: %s", rec.dump())
	}

	// check's own error shape.
	rec = parse(t, KindCheck, `{"message_type":"summary","num_errors":1,"broken_packs":["p1"],"suggest_repair_index":true,"suggest_prune":false}`,
		`{"message_type":"error","message":"pack p1: not referenced in any index"}`)
	if errs := eventsOf[*Error](rec); len(errs) != 1 || errs[0].During != "check" || errs[0].Message != "pack p1: not referenced in any index" {
		t.Errorf("check error: %s", rec.dump())
	}
	if s := eventsOf[*Summary](rec); len(s) != 1 || s[0].Check.NumErrors != 1 || !s[0].Check.SuggestRepairIndex {
		t.Errorf("check summary: %s", rec.dump())
	}
}

func TestParseExitErrorFallback(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := &sink{emit: rec.emit, abort: func() {}}
	p := &parser{kind: KindSnapshots, emit: s.send, maxLine: 1 << 10, maxDoc: 1 << 10}
	p.readStderr(strings.NewReader("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nFatal: wrong password or no key found\n"))
	ee := p.exitError(1, newScrubber([]string{"line 6"}))
	if ee.Message != "line 3\nline 4\nline 5\n[redacted]\nFatal: wrong password or no key found" {
		t.Errorf("message %q", ee.Message)
	}
	if !strings.Contains(ee.Error(), "wrong repository password") || !errors.Is(ee, ErrWrongPassword) {
		t.Errorf("restic < 0.17 wrong password not recognised: %v", ee)
	}
}

func TestParseDocuments(t *testing.T) {
	t.Parallel()
	forget := `[{"tags":null,"host":"h","paths":["/d"],"keep":[{"time":"2024-01-02T00:00:00Z","tree":"t","paths":["/d"],"id":"k1","short_id":"k1"}],` +
		`"remove":[{"time":"2024-01-01T00:00:00Z","tree":"t","paths":["/d"],"id":"r1","short_id":"r1"}],` +
		`"reasons":[{"snapshot":{"time":"2024-01-02T00:00:00Z","tree":"t","paths":["/d"],"id":"k1","short_id":"k1"},"matches":["last snapshot"]}]}]` +
		"\nloading indexes...\n\ndone\n"
	rec := parse(t, KindForget, forget, "", func(p *parser) { p.dryRun = true })
	evs := rec.all()
	if len(evs) != 4 {
		t.Fatalf("forget events: %s", rec.dump())
	}
	g, ok := evs[0].(*ForgetGroup)
	if !ok || g.Host != "h" || len(g.Keep) != 1 || g.Remove[0].ID != "r1" || g.Reasons[0].Matches[0] != "last snapshot" {
		t.Errorf("group: %s", rec.dump())
	}
	if r, ok := evs[1].(*ForgetResult); !ok || !r.DryRun || r.Groups != 1 || r.Removed[0] != "r1" || r.Kept[0] != "k1" {
		t.Errorf("result: %s", rec.dump())
	}
	if l, ok := evs[3].(*LogLine); !ok || l.Text != "done" {
		t.Errorf("prune log after the array: %s", rec.dump())
	}

	// Nothing matched: no array, still one (empty) result.
	rec = parse(t, KindForget, "", "")
	if r := eventsOf[*ForgetResult](rec); len(r) != 1 || r[0].Groups != 0 {
		t.Errorf("empty forget: %s", rec.dump())
	}

	// cat config is indented JSON over several lines.
	rec = parse(t, KindCatConfig, "{\n  \"version\": 2,\n  \"id\": \"abc\",\n  \"chunker_polynomial\": \"3dea92648f6e83\"\n}\n", "")
	if rc := eventsOf[*RepoConfig](rec); len(rc) != 1 || rc[0].Version != 2 || rc[0].ID != "abc" {
		t.Errorf("cat config: %s", rec.dump())
	}

	// A document over the bound is cut, not buffered.
	big := "[" + strings.Repeat(`{"id":"x","paths":["/`+strings.Repeat("p", 100)+`"]},`, 100) + `{"id":"last"}]`
	rec = parse(t, KindSnapshots, big, "", func(p *parser) { p.maxDoc = 1000 })
	lines := eventsOf[*LogLine](rec)
	if len(lines) != 0 || len(eventsOf[*Snapshot](rec)) != 101 {
		t.Errorf("elements under the bound must pass: %d lines, %d snapshots", len(lines), len(eventsOf[*Snapshot](rec)))
	}
	huge := "[" + `{"id":"x","paths":["/` + strings.Repeat("p", 5000) + `"]}]`
	rec = parse(t, KindSnapshots, huge, "", func(p *parser) { p.maxDoc = 1000 })
	if lines := eventsOf[*LogLine](rec); len(lines) != 1 || !lines[0].Truncated {
		t.Errorf("oversized element: %s", rec.dump())
	}
}

func TestParseTruncatesLongLines(t *testing.T) {
	t.Parallel()
	long := `{"message_type":"node","name":"` + strings.Repeat("n", 3000) + `"}`
	rec := parse(t, KindLs, long+"\nafter\n", "", func(p *parser) { p.maxLine = 1024 })
	evs := rec.all()
	if len(evs) != 2 {
		t.Fatalf("events: %s", rec.dump())
	}
	l := evs[0].(*LogLine)
	if !l.Truncated || !strings.HasSuffix(l.Text, fmt.Sprintf("…[truncated: %d more bytes]", len(long)-1024)) || len(l.Text) > 1100 {
		t.Errorf("truncated line: %q…", l.Text[:50])
	}
	if evs[1].(*LogLine).Text != "after" {
		t.Errorf("line after: %+v", evs[1])
	}
}
