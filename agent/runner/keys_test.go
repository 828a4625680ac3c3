package runner

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// storedText is everything the server received of a job, and its
// job_finished, as one text for secret checks.
func storedText(srv *testServer, jobID string) string {
	var b strings.Builder
	for _, e := range srv.stream(jobID) {
		b.Write(e.Data)
		b.WriteByte('\n')
	}
	srv.mu.Lock()
	f := srv.finished[jobID]
	srv.mu.Unlock()
	fj, _ := json.Marshal(f)
	b.Write(fj)
	return b.String()
}

// filesContaining lists the files under dir whose bytes contain s.
func filesContaining(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), s) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resticWith runs restic against repo's location with password.
func resticWith(t *testing.T, repo testRepo, password string, args ...string) error {
	t.Helper()
	cmd := exec.Command(resticBinary(t), append([]string{"-r", repo.URL, "--no-cache"}, args...)...) //nolint:gosec // G204: the test's restic
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	return nil
}

// TestKeyJobsThroughTheAgent: a key_add dispatched with a new password
// makes a key that opens the repository, reports its id, and leaves the
// password nowhere (events, job_finished, the agent's log, its state dir);
// key_remove takes it away, and a second one says it was gone already.
func TestKeyJobsThroughTheAgent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ta := startAgent(t, srv)
	srv.waitConnected(1)
	repo := newRepo(t, "keys")
	initRepo(t, srv, repo)

	newPassword := "one-job-" + randomHex(t, 16)
	d := dispatchOf("key-add-1", string(sdk.JobKeyAdd), repo, map[string]any{"extra": map[string]string{"host": "target", "user": "rm"}})
	d.NewPassword = wire.NewSecret(newPassword)
	f := runJob(t, srv, d, 2*time.Minute)
	mustSucceed(t, f)
	var sum struct {
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal(f.Summary, &sum); err != nil || len(sum.KeyID) != 64 {
		t.Fatalf("key_add summary %s (%v); want {\"key_id\": <64 hex digits>}", f.Summary, err)
	}
	if err := resticWith(t, repo, newPassword, "snapshots"); err != nil {
		t.Fatalf("the new key does not open the repository: %s", err)
	}

	rm := func(id string) wire.JobFinished {
		f := runJob(t, srv, dispatchOf(id, string(sdk.JobKeyRemove), repo, map[string]any{"extra": map[string]string{"key_id": sum.KeyID}}), 2*time.Minute)
		mustSucceed(t, f)
		return f
	}
	if f := rm("key-remove-1"); string(f.Summary) != `{"key_id":"`+sum.KeyID+`"}` {
		t.Errorf("key_remove summary %s", f.Summary)
	}
	if err := resticWith(t, repo, newPassword, "snapshots"); err == nil {
		t.Error("the removed key still opens the repository")
	}
	if f := rm("key-remove-2"); string(f.Summary) != `{"key_id":"`+sum.KeyID+`","already_gone":true}` {
		t.Errorf("second key_remove summary %s", f.Summary)
	}

	secrets := append(repo.secrets(), newPassword)
	assertNoSecrets(t, "the key_add job's events", storedText(srv, "key-add-1"), secrets...)
	assertNoSecrets(t, "the agent's log", ta.logs.String(), secrets...)
	if files := filesContaining(t, ta.stateDir, newPassword); len(files) != 0 {
		t.Errorf("the new password is in the agent's state: %v", files)
	}
}

// echoBackend stands in for backend-restic to show what the agent does
// with a backend that lets the new password through: it says the password
// in a log line, an error event, its summary and its error. It is no model
// of restic.
type echoBackend struct {
	mu   sync.Mutex
	jobs []sdk.Job
}

func (b *echoBackend) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "echo", Kind: plugin.KindBackend, APIVersion: sdk.APIVersion, PluginVersion: "0.0.0"}, nil
}

func (b *echoBackend) ConfigSchema(context.Context) (plugin.Schema, error) {
	return plugin.Schema{}, nil
}

func (b *echoBackend) Configure(context.Context, []byte) error { return nil }

func (b *echoBackend) Run(_ context.Context, job sdk.Job, emit func(sdk.Event) error) (sdk.Result, error) {
	if job.Kind == sdk.JobVersion {
		return sdk.Result{Output: json.RawMessage(`{"version":"0.0.0-echo"}`)}, nil
	}
	b.mu.Lock()
	b.jobs = append(b.jobs, job)
	b.mu.Unlock()
	pw := job.NewPassword
	quoted, _ := json.Marshal(map[string]string{"said": pw})
	for _, ev := range []sdk.Event{
		{Log: &sdk.LogLine{Stream: sdk.StreamStderr, Text: "using " + pw}},
		{Error: &sdk.ErrorEvent{Message: "cannot use " + pw, Item: pw}},
		{Summary: &sdk.Summary{Raw: quoted}},
	} {
		if err := emit(ev); err != nil {
			return sdk.Result{}, err
		}
	}
	return sdk.Result{ExitCode: 1, Output: quoted}, errors.New("key add failed for " + pw)
}

// TestNewPasswordMappedAndScrubbed: the agent hands job_dispatch's
// new_password to the backend as Job.NewPassword, and scrubs it from every
// event and from job_finished even when the backend does not.
func TestNewPasswordMappedAndScrubbed(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	be := &echoBackend{}
	logs := &logBuffer{}
	a, err := New(Config{
		ServerURL: srv.URL(), Credential: srv.token, StateDir: filepath.Join(t.TempDir(), "state"),
		Backend: be, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		ReconnectBase: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	srv.waitConnected(1)

	newPassword := `pw "with" \ quotes-` + randomHex(t, 8)
	d := wire.JobDispatch{
		JobID: "echo-1", Kind: string(sdk.JobKeyAdd),
		Repository:  wire.Repository{ID: "r", URL: "/nowhere", Password: wire.NewSecret("repo-password")},
		NewPassword: wire.NewSecret(newPassword),
	}
	f := runJob(t, srv, d, time.Minute)
	if f.Status != wire.StatusFailed {
		t.Fatalf("the echo job: %s, want failed", f.Status)
	}
	be.mu.Lock()
	jobs := append([]sdk.Job(nil), be.jobs...)
	be.mu.Unlock()
	if len(jobs) != 1 || jobs[0].NewPassword != newPassword || jobs[0].Repository.Password != "repo-password" {
		t.Fatalf("the backend got %d jobs; want one carrying the new password and the repository's", len(jobs))
	}
	text := storedText(srv, "echo-1")
	escaped, _ := json.Marshal(newPassword)
	for _, s := range []string{newPassword, string(escaped[1 : len(escaped)-1])} {
		if strings.Contains(text, s) || strings.Contains(logs.String(), s) {
			t.Errorf("the new password (as %s) reached the server or the log:\n%s", s, text)
		}
	}
	if n := strings.Count(text, redacted); n < 4 {
		t.Errorf("want the password redacted in the log line, error, summary and job error; %d marks in:\n%s", n, text)
	}
	if !strings.Contains(f.Error, "key add failed for "+redacted) {
		t.Errorf("job_finished error %q", f.Error)
	}
}
