package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestRunFlagsRepositoryCare(t *testing.T) {
	t.Parallel()
	f := runFlags{
		repo: "main", keepLast: 2, groupBy: "host,tags", dryRun: true, snapshotHost: "web1",
		snapshots: StringSlice{"latest", "abc123"}, toRepo: "offsite", mode: "repository",
		params: `{"extra":{"other":1}}`,
	}
	body, err := f.body("copy")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"dry_run": true, "host": "web1", "snapshots": []string{"latest", "abc123"}, "to_repository": "offsite",
		"retention": map[string]any{"keep_last": 2, "group_by": "host,tags"},
		"extra":     map[string]any{"other": 1.0, "mode": "repository"},
	}
	if got := body["params"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("params\n%#v\nwant\n%#v", got, want)
	}
	if _, err := (&runFlags{mode: "raw-data", params: `{"extra":[1]}`}).body("stats"); err == nil {
		t.Fatal("--mode with a non-object extra was accepted")
	}
}

// planSummary is a forget summary as the backend writes it (see
// plugins/backend-restic/backend/events.go, forgetResultDoc).
const planSummary = `{"message_type":"forget_result","dry_run":true,` +
	`"kept":["90a1f38e407243e6bbb9b7fce9b5e97800da7a3adb5c46371e4ed5779e2fda9f"],` +
	`"removed":["a3748bb0cd9f98a5228b7509797592adea17283c48e7fddf79a50431f4d56179","1b57e14868ef798445017cdfe95fcfcc0dabc8f9b66ad1620f7086a72b1ff7ee"],` +
	`"groups":[{"host":"web1","tags":[],"paths":["/srv","/etc"],` +
	`"keep":[{"id":"90a1f38e407243e6bbb9b7fce9b5e97800da7a3adb5c46371e4ed5779e2fda9f","time":"2026-01-03T04:05:06Z","reasons":["last snapshot","daily snapshot"]}],` +
	`"remove":[{"id":"a3748bb0cd9f98a5228b7509797592adea17283c48e7fddf79a50431f4d56179","time":"2026-01-02T04:05:06Z"},` +
	`{"id":"1b57e14868ef798445017cdfe95fcfcc0dabc8f9b66ad1620f7086a72b1ff7ee","time":"2026-01-01T04:05:06Z"}]}]}`

func TestPrintJobResult(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	printJobResult(&b, job{Kind: "forget", Status: "succeeded", Summary: json.RawMessage(planSummary)})
	out := b.String()
	for _, want := range []string{
		"Dry run: would remove 2 of 3 snapshots and keep 1 (1 groups); nothing was removed.",
		"host web1, paths /srv, /etc:",
		"keep    90a1f38e",
		"last snapshot, daily snapshot",
		"remove  a3748bb0",
		"remove  1b57e148",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output misses %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "90a1f38e") > strings.Index(out, "a3748bb0") {
		t.Errorf("kept snapshots are not listed first:\n%s", out)
	}

	b.Reset()
	done := strings.Replace(planSummary, `"dry_run":true`, `"dry_run":false`, 1)
	printJobResult(&b, job{Kind: "forget", Status: "succeeded", Summary: json.RawMessage(done)})
	if !strings.Contains(b.String(), "Removed 2 of 3 snapshots, kept 1") || !strings.Contains(b.String(), "removed  a3748bb0") {
		t.Errorf("forget output:\n%s", b.String())
	}

	b.Reset()
	printJobResult(&b, job{Kind: "copy", Status: "succeeded", Summary: json.RawMessage(
		`{"message_type":"copy_result","copied":[{"source":"0a0a0a0a","snapshot":"1b1b1b1b"}],"skipped":[{"source":"2c2c2c2c","snapshot":"3d3d3d3d"}]}`)})
	if want := "Copied 1 snapshots; 1 skipped, copied before.\n  0a0a0a0a -> 1b1b1b1b\n  2c2c2c2c -> 3d3d3d3d (copied before)\n"; b.String() != want {
		t.Errorf("copy output %q, want %q", b.String(), want)
	}

	b.Reset()
	printJobResult(&b, job{Kind: "stats", Status: "succeeded", Summary: json.RawMessage(
		`{"message_type":"repository_stats","snapshots_count":2,"total_size":12594304,"total_file_count":12,"raw_data_size":2099549,` +
			`"total_uncompressed_size":6300135,"compression_ratio":3.0007,"compression_space_saving":66.67,"total_blob_count":10,"dedup_ratio":1.999,"space_saving":83.33}`)})
	for _, want := range []string{"Snapshots:", "12.0 MiB in 12 files", "2.0 MiB in 10 blobs", "3.00x (66.7% saved)", "Deduplication:  2.00x", "83.3%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("stats output misses %q:\n%s", want, b.String())
		}
	}

	// A failed job, or a kind without a readable summary, prints nothing.
	b.Reset()
	printJobResult(&b, job{Kind: "forget", Status: "failed", Summary: json.RawMessage(planSummary)})
	printJobResult(&b, job{Kind: "backup", Status: "succeeded", Summary: json.RawMessage(`{"snapshot_id":"x"}`)})
	if b.Len() != 0 {
		t.Errorf("printed %q", b.String())
	}
}
