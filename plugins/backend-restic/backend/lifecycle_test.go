package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

var snapshotIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestLifecycle drives the plugin, over gRPC, through every job kind
// against one real repository in the order an operator would: init,
// backup, snapshots, a second backup, ls, forget (dry run), check,
// restore, diff, stats, unlock, version.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	b := configured(t)
	ctx := context.Background()

	info, err := b.Info(ctx)
	if err != nil || info.Name != "backend-restic" || info.Kind != plugin.KindBackend ||
		info.APIVersion != sdk.APIVersion || !plugin.ValidVersion(info.PluginVersion) {
		t.Errorf("Info = %+v, %v", info, err)
	}
	schema, err := b.ConfigSchema(ctx)
	if err != nil || schema.Validate() != nil {
		t.Errorf("ConfigSchema = %+v, %v", schema, err)
	}
	for _, name := range []string{"restic_binary", "kill_grace", "cache_dir", "pass_env"} {
		if _, ok := schema.Attribute(name); !ok {
			t.Errorf("schema has no %s", name)
		}
	}

	repo := sdk.Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: restictest.Password(t)}
	job := func(kind sdk.JobKind, args sdk.Args) sdk.Job {
		return sdk.Job{ID: "job-" + string(kind), Kind: kind, Repository: repo, Args: args}
	}
	var all []*recorder // every job's events, for the secret check at the end
	step := func(kind sdk.JobKind, args sdk.Args) (*recorder, sdk.Result) {
		t.Helper()
		evs, res := mustRun(t, b, job(kind, args))
		all = append(all, evs)
		if res.ExitCode != 0 {
			t.Errorf("%s: exit code %d", kind, res.ExitCode)
		}
		return evs, res
	}

	// init: restic >= 0.15 reports the new repository's id.
	_, res := step(sdk.JobInit, sdk.Args{})
	var initDoc struct{ ID string }
	if err := json.Unmarshal(res.Output, &initDoc); err != nil || initDoc.ID == "" {
		t.Errorf("init output %s", res.Output)
	}

	data := filepath.Join(t.TempDir(), "data")
	files := map[string][]byte{
		"a.txt":         []byte("alpha\n"),
		"big.bin":       restictest.RandomBytes(t, 16<<20), // long enough for status messages
		"sub/b.txt":     []byte("bravo\n"),
		"sub/deep/c.md": []byte("# charlie\n"),
	}
	for name, content := range files {
		restictest.WriteFile(t, filepath.Join(data, name), content)
	}

	// backup: progress events, then one summary, the snapshot id in the result.
	evs, res := step(sdk.JobBackup, sdk.Args{Paths: []string{data}, Tags: []string{"lifecycle"}, Host: "testhost"})
	first := res.SnapshotID
	if !snapshotIDRE.MatchString(first) {
		t.Fatalf("backup: snapshot id %q; events: %s", first, evs.dump())
	}
	if len(evs.progress()) == 0 {
		t.Errorf("backup: no progress events: %s", evs.dump())
	}
	sums := evs.summaries()
	if len(sums) != 1 || sums[0].SnapshotID != first || sums[0].FilesNew != 4 || sums[0].TotalBytesProcessed < 16<<20 || len(sums[0].Raw) == 0 {
		t.Errorf("backup: summaries %+v", sums)
	}
	if last := evs.all()[len(evs.all())-1]; last.Summary == nil {
		t.Errorf("backup: the summary is not the last event: %s", evs.dump())
	}
	var backupDoc struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if err := json.Unmarshal(res.Output, &backupDoc); err != nil || backupDoc.SnapshotID != first {
		t.Errorf("backup output %s", res.Output)
	}

	// snapshots: one data line per snapshot, and the list as the output.
	evs, res = step(sdk.JobSnapshots, sdk.Args{Host: "testhost", Tags: []string{"lifecycle"}})
	var snaps []struct {
		ID       string   `json:"id"`
		ShortID  string   `json:"short_id"`
		Paths    []string `json:"paths"`
		Hostname string   `json:"hostname"`
		Tags     []string `json:"tags"`
	}
	if err := json.Unmarshal(res.Output, &snaps); err != nil {
		t.Fatalf("snapshots output %s: %v", res.Output, err)
	}
	if len(snaps) != 1 || snaps[0].ID != first || snaps[0].Hostname != "testhost" ||
		!slices.Equal(snaps[0].Paths, []string{data}) || !slices.Equal(snaps[0].Tags, []string{"lifecycle"}) {
		t.Errorf("snapshots output %s", res.Output)
	}
	if lines := evs.data(t, "snapshot"); len(lines) != 1 || lines[0]["id"] != first {
		t.Errorf("snapshots lines: %s", evs.dump())
	}

	// Change one file, add one, back up again.
	restictest.WriteFile(t, filepath.Join(data, "a.txt"), []byte("alpha, changed\n"))
	restictest.WriteFile(t, filepath.Join(data, "sub/new.txt"), []byte("new\n"))
	files["a.txt"], files["sub/new.txt"] = []byte("alpha, changed\n"), []byte("new\n")
	_, res = step(sdk.JobBackup, sdk.Args{Paths: []string{data}, Tags: []string{"lifecycle"}, Host: "testhost"})
	second := res.SnapshotID
	if !snapshotIDRE.MatchString(second) || second == first {
		t.Fatalf("second backup: snapshot id %q", second)
	}

	// ls of a directory, then recursively: node lines, the snapshot as output.
	sub := filepath.Join(data, "sub")
	evs, res = step(sdk.JobLs, sdk.Args{Snapshots: []string{"latest"}, Paths: []string{sub}})
	var paths []string
	for _, n := range evs.data(t, "node") {
		paths = append(paths, n["path"].(string))
	}
	if want := []string{sub, filepath.Join(sub, "b.txt"), filepath.Join(sub, "deep"), filepath.Join(sub, "new.txt")}; !slices.Equal(paths, want) {
		t.Errorf("ls: %v, want %v", paths, want)
	}
	var lsSnap struct{ ID string }
	if err := json.Unmarshal(res.Output, &lsSnap); err != nil || lsSnap.ID != second {
		t.Errorf("ls output %s, want snapshot %s", res.Output, second)
	}
	evs, _ = step(sdk.JobLs, sdk.Args{Snapshots: []string{second}, Extra: json.RawMessage(`{"path":"` + sub + `","recursive":true}`)})
	found := false
	for _, n := range evs.data(t, "node") {
		if n["path"] == filepath.Join(sub, "deep", "c.md") && n["type"] == "file" && n["size"] == 10.0 {
			found = true
		}
	}
	if !found {
		t.Errorf("ls --recursive misses deep/c.md: %s", evs.dump())
	}

	// forget --keep-last 1 --dry-run: the first snapshot would go, none does.
	evs, res = step(sdk.JobForget, sdk.Args{Retention: &sdk.Retention{KeepLast: 1}, DryRun: true})
	sums = evs.summaries()
	var fr forgetResultDoc
	if len(sums) != 1 || json.Unmarshal(sums[0].Raw, &fr) != nil || !fr.DryRun ||
		!slices.Equal(fr.Removed, []string{first}) || !slices.Equal(fr.Kept, []string{second}) {
		t.Errorf("forget summary: %s", evs.dump())
	}
	var plan forgetResultDoc
	if err := json.Unmarshal(res.Output, &plan); err != nil || len(plan.Groups) != 1 || len(plan.Groups[0].Remove) != 1 ||
		plan.Groups[0].Remove[0].ID != first || len(plan.Groups[0].Keep) != 1 || plan.Groups[0].Keep[0].ID != second ||
		!slices.Equal(plan.Groups[0].Keep[0].Reasons, []string{"last snapshot"}) {
		t.Errorf("forget output %s", res.Output)
	}
	if len(evs.data(t, "forget_group")) != 1 {
		t.Errorf("forget: want one group line: %s", evs.dump())
	}
	_, res = step(sdk.JobSnapshots, sdk.Args{})
	if err := json.Unmarshal(res.Output, &snaps); err != nil || len(snaps) != 2 {
		t.Errorf("after a dry-run forget: snapshots %s", res.Output)
	}

	// check, reading half the data.
	evs, _ = step(sdk.JobCheck, sdk.Args{ReadDataSubset: "50%"})
	if len(evs.errors()) != 0 {
		t.Errorf("check reported errors: %s", evs.dump())
	}

	// restore the second snapshot: every file byte-identical.
	target := filepath.Join(t.TempDir(), "restore")
	evs, _ = step(sdk.JobRestore, sdk.Args{Snapshots: []string{second}, Target: target, Extra: json.RawMessage(`{"verify":true}`)})
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(target, data, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s differs (err %v)", name, err)
		}
	}
	if sums := evs.summaries(); len(sums) != 1 || sums[0].TotalFilesProcessed < 5 || sums[0].TotalBytesProcessed < 16<<20 {
		t.Errorf("restore summary: %s", evs.dump())
	}

	// diff first → second: a.txt modified, sub/new.txt added.
	evs, res = step(sdk.JobDiff, sdk.Args{Snapshots: []string{first, second}})
	changes := map[string]any{}
	for _, c := range evs.data(t, "change") {
		changes[c["path"].(string)] = c["modifier"]
	}
	if changes[filepath.Join(data, "a.txt")] != "M" || changes[filepath.Join(sub, "new.txt")] != "+" {
		t.Errorf("diff changes: %v", changes)
	}
	var diffStats struct {
		ChangedFiles int `json:"changed_files"`
	}
	if err := json.Unmarshal(res.Output, &diffStats); err != nil || diffStats.ChangedFiles < 1 {
		t.Errorf("diff output %s", res.Output)
	}

	// stats in raw-data mode.
	evs, res = step(sdk.JobStats, sdk.Args{Extra: json.RawMessage(`{"mode":"raw-data"}`)})
	var stats struct {
		TotalSize      uint64 `json:"total_size"`
		SnapshotsCount int    `json:"snapshots_count"`
	}
	if err := json.Unmarshal(res.Output, &stats); err != nil || stats.TotalSize < 16<<20 || stats.SnapshotsCount != 2 {
		t.Errorf("stats output %s", res.Output)
	}
	if sums := evs.summaries(); len(sums) != 1 || string(sums[0].Raw) != string(res.Output) {
		t.Errorf("stats summary: %s", evs.dump())
	}

	step(sdk.JobUnlock, sdk.Args{Extra: json.RawMessage(`{"remove_all":true}`)})

	// version needs no repository.
	evs, res = mustRun(t, b, sdk.Job{ID: "v", Kind: sdk.JobVersion})
	var ver struct{ Version string }
	if err := json.Unmarshal(res.Output, &ver); err != nil || !strings.HasPrefix(ver.Version, "0.") {
		t.Errorf("version output %s", res.Output)
	}
	if lines := evs.all(); len(lines) != 1 || lines[0].Log == nil || !strings.HasPrefix(lines[0].Log.Text, "restic 0.") {
		t.Errorf("version events: %s", evs.dump())
	}

	for _, evs := range all {
		if strings.Contains(evs.text(), repo.Password) {
			t.Fatalf("the repository password is in the events: %s", evs.dump())
		}
	}
}
