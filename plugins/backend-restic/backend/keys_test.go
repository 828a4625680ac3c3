package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// lockedBuffer is a log sink several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// configuredLogging is configured for restic bin with the plugin's debug
// log in a buffer.
func configuredLogging(t *testing.T, bin string) (sdk.Backend, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	impl := New(hclog.New(&hclog.LoggerOptions{Name: "backend-restic", Level: hclog.Trace, Output: logs}))
	client, _ := goplugin.TestPluginGRPCConn(t, false, goplugin.PluginSet{
		plugin.BasePluginName: &plugin.BasePlugin{Impl: impl, Kind: plugin.KindBackend, APIVersion: sdk.APIVersion},
		sdk.PluginName:        &sdk.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	b := raw.(sdk.Backend)
	cfg, _ := json.Marshal(map[string]any{
		"restic_binary": bin,
		"cache_dir":     filepath.Join(t.TempDir(), "cache"),
	})
	if err := b.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return b, logs
}

// eachResticLogging runs fn for every restic of restictest.Binaries
// (older ones, such as 0.14.0, do not print the new key's id).
func eachResticLogging(t *testing.T, fn func(t *testing.T, b sdk.Backend, logs *lockedBuffer)) {
	t.Helper()
	for _, bin := range restictest.Binaries(t) {
		t.Run(filepath.Base(filepath.Dir(bin))+"_"+filepath.Base(bin), func(t *testing.T) {
			t.Parallel()
			b, logs := configuredLogging(t, bin)
			fn(t, b, logs)
		})
	}
}

// TestKeyAddRemoveJobs runs key_add and key_remove through the plugin's
// gRPC boundary against a real repository: the new key opens it until it
// is removed, its id is the job's result, and its password shows in no
// event, result or log.
func TestKeyAddRemoveJobs(t *testing.T) {
	t.Parallel()
	eachResticLogging(t, testKeyAddRemoveJobs)
}

func testKeyAddRemoveJobs(t *testing.T, b sdk.Backend, logs *lockedBuffer) {
	repo := newRepository(t, b)
	newPassword := restictest.Password(t)

	evs, res := mustRun(t, b, sdk.Job{
		ID: "key-add", Kind: sdk.JobKeyAdd, Repository: repo, NewPassword: newPassword,
		Args: sdk.Args{Extra: json.RawMessage(`{"host":"restore-target","user":"restic-manager"}`)},
	})
	var out struct {
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal(res.Output, &out); err != nil || len(out.KeyID) != 64 {
		t.Fatalf("key_add output %s (%v); want {\"key_id\": <64 hex digits>}", res.Output, err)
	}
	if sums := evs.summaries(); len(sums) != 1 || !bytes.Equal(sums[0].Raw, res.Output) {
		t.Errorf("key_add: want one summary equal to the output; events: %s", evs.dump())
	}

	withNew := sdk.Repository{URL: repo.URL, Password: newPassword}
	if _, res := mustRun(t, b, sdk.Job{ID: "snaps-new", Kind: sdk.JobSnapshots, Repository: withNew}); string(res.Output) != "[]" {
		t.Errorf("snapshots with the new key: %s", res.Output)
	}

	rm := func(id string) (*recorder, sdk.Result) {
		return mustRun(t, b, sdk.Job{
			ID: "key-remove-" + id, Kind: sdk.JobKeyRemove, Repository: repo,
			Args: sdk.Args{Extra: json.RawMessage(`{"key_id":"` + out.KeyID + `"}`)},
		})
	}
	_, res = rm("1")
	if want := `{"key_id":"` + out.KeyID + `"}`; string(res.Output) != want {
		t.Errorf("key_remove output %s, want %s", res.Output, want)
	}
	evs2, _, err := run(t, b, sdk.Job{ID: "snaps-gone", Kind: sdk.JobSnapshots, Repository: withNew})
	if err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("snapshots with the removed key: %v; want a wrong password", err)
	}
	_, res = rm("2")
	if want := `{"key_id":"` + out.KeyID + `","already_gone":true}`; string(res.Output) != want || res.ExitCode != 0 {
		t.Errorf("second key_remove: exit %d, output %s; want %s", res.ExitCode, res.Output, want)
	}

	for what, text := range map[string]string{"events": evs.text() + evs2.text(), "log": logs.String()} {
		if strings.Contains(text, newPassword) || strings.Contains(text, repo.Password) {
			t.Errorf("a password shows in the %s", what)
		}
	}
	if !strings.Contains(logs.String(), "key") {
		t.Errorf("the plugin logged nothing about the key jobs: %s", logs.String())
	}
}

// TestKeyJobsRefusedByPlugin: key jobs without what they need fail
// before restic runs, and removing the job's own key is refused.
func TestKeyJobsRefusedByPlugin(t *testing.T) {
	t.Parallel()
	eachResticLogging(t, func(t *testing.T, b sdk.Backend, _ *lockedBuffer) { testKeyJobsRefused(t, b) })
}

func testKeyJobsRefused(t *testing.T, b sdk.Backend) {
	repo := newRepository(t, b)
	for name, job := range map[string]sdk.Job{
		"no new password": {Kind: sdk.JobKeyAdd},
		"unknown extra":   {Kind: sdk.JobKeyAdd, NewPassword: "x-secret-1", Args: sdk.Args{Extra: json.RawMessage(`{"hots":"a"}`)}},
		"no key id":       {Kind: sdk.JobKeyRemove},
		"bad key id":      {Kind: sdk.JobKeyRemove, Args: sdk.Args{Extra: json.RawMessage(`{"key_id":"../x"}`)}},
	} {
		job.ID, job.Repository = "refused", repo
		if _, _, err := run(t, b, job); err == nil || !strings.Contains(err.Error(), "invalid job") {
			t.Errorf("%s: %v; want an invalid job", name, err)
		}
	}

	_, _, err := run(t, b, sdk.Job{
		ID: "key-remove-own", Kind: sdk.JobKeyRemove, Repository: repo,
		Args: sdk.Args{Extra: json.RawMessage(`{"key_id":"` + ownKeyID(t, repo) + `"}`)},
	})
	if err == nil || !strings.Contains(err.Error(), restic.ErrKeyInUse.Error()) {
		t.Errorf("removing the job's own key: %v; want %q", err, restic.ErrKeyInUse)
	}
	if _, res := mustRun(t, b, sdk.Job{ID: "snaps", Kind: sdk.JobSnapshots, Repository: repo}); string(res.Output) != "[]" {
		t.Errorf("the repository after the refused removal: %s", res.Output)
	}
}

// ownKeyID asks restic for the id of the key repo's password opens.
func ownKeyID(t *testing.T, repo sdk.Repository) string {
	t.Helper()
	cmd := exec.Command(restictest.Binary(t), "key", "list", "--json", "--no-cache") //nolint:gosec // G204: the test's restic
	cmd.Env = []string{"RESTIC_REPOSITORY=" + repo.URL, "RESTIC_PASSWORD=" + repo.Password, "HOME=" + t.TempDir()}
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("key list: %v", err)
	}
	var keys []struct {
		Current bool   `json:"current"`
		ID      string `json:"id"`
	}
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatalf("key list: %v: %s", err, b)
	}
	for _, k := range keys {
		if k.Current {
			return k.ID
		}
	}
	t.Fatalf("key list names no current key: %s", b)
	return ""
}
