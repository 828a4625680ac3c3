package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// scriptAgent is a testAgent for the end-to-end CLI tests: a
// protocol-level agent in the test process (internal/wire) whose "restic"
// is a script per job kind. The real agent binary and restic are driven by
// the agent's own end-to-end tests; this one checks the operator CLI
// against the real server.
type scriptAgent struct {
	t  *testing.T
	c  *wire.Conn
	mu sync.Mutex
	// hold keeps jobs of this kind running until they are cancelled.
	hold    string
	running map[string]chan struct{}
	release chan string
}

var e2eSnapshotID = strings.Repeat("5e", 32)

func startScriptAgent(t *testing.T, p *serverProc, credential, hold string) *scriptAgent {
	t.Helper()
	a := &scriptAgent{t: t, hold: hold, running: map[string]chan struct{}{}, release: make(chan string, 10)}
	url, err := wire.ConnectURL("http://" + p.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := wire.Dial(ctx, url, credential, wire.DialOptions{Config: wire.Config{Handlers: map[wire.Type]wire.HandlerFunc{
		wire.TypeJobDispatch: a.onDispatch,
		wire.TypeJobCancel:   a.onCancel,
		wire.TypeJobEventAck: func(context.Context, *wire.Conn, wire.Envelope) error { return nil },
	}}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a.c = c
	t.Cleanup(func() {
		cancel()
		<-c.Done()
	})
	if _, err := c.Request(ctx, wire.TypeHello, wire.Hello{
		Hostname: "web1", OS: "linux", Arch: "amd64",
		AgentVersion: "e2e", ResticVersion: "0.18.1", Backends: []string{"restic"},
	}); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *scriptAgent) onDispatch(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var d wire.JobDispatch
	if err := env.DecodePayload(&d); err != nil {
		return err
	}
	if err := c.Reply(ctx, env, wire.TypeJobAccept, wire.JobAccept{JobID: d.JobID}); err != nil {
		return err
	}
	stop := make(chan struct{})
	a.mu.Lock()
	a.running[d.JobID] = stop
	a.mu.Unlock()
	go a.run(d, stop)
	return nil
}

func (a *scriptAgent) onCancel(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var jc wire.JobCancel
	if err := env.DecodePayload(&jc); err != nil {
		return err
	}
	a.mu.Lock()
	if stop, ok := a.running[jc.JobID]; ok {
		close(stop)
		delete(a.running, jc.JobID)
	}
	a.mu.Unlock()
	return c.Reply(ctx, env, wire.TypeAck, wire.Ack{})
}

// run plays restic for one job.
func (a *scriptAgent) run(d wire.JobDispatch, stop chan struct{}) {
	ctx := context.Background()
	seq := uint64(0)
	send := func(kind wire.EventKind, data any) {
		seq++
		raw, _ := json.Marshal(data)
		_ = a.c.Send(ctx, wire.TypeJobEvent, wire.JobEvent{JobID: d.JobID, Seq: seq, Time: time.Now(), Kind: kind, Data: raw})
	}
	finish := func(status string, code int, errText string, summary any) {
		seq++
		var raw json.RawMessage
		if summary != nil {
			raw, _ = json.Marshal(summary)
		}
		_ = a.c.Send(ctx, wire.TypeJobFinished, wire.JobFinished{
			JobID: d.JobID, Seq: seq, Status: status, ExitCode: code,
			Error: errText, Summary: raw, FinishedAt: time.Now(),
		})
	}
	send(wire.EventStatus, wire.StatusData{Status: "running"})
	if d.Kind == a.hold {
		send(wire.EventLog, wire.LogData{Stream: "stdout", Lines: []string{"holding until cancelled"}})
		<-stop
		finish(wire.StatusCancelled, 130, "cancelled", nil)
		return
	}
	switch d.Kind {
	case "backup":
		var p struct {
			Paths []string `json:"paths"`
		}
		_ = json.Unmarshal(d.Params, &p)
		send(wire.EventLog, wire.LogData{Stream: "stdout", Lines: []string{"using parent snapshot none", "backing up " + strings.Join(p.Paths, " ")}})
		send(wire.EventProgress, map[string]any{"message_type": "status", "percent_done": 0.5, "total_files": 4, "files_done": 2})
		send(wire.EventSummary, map[string]any{"message_type": "summary", "files_new": 4, "snapshot_id": e2eSnapshotID})
		finish(wire.StatusSucceeded, 0, "", nil)
	case "snapshots":
		finish(wire.StatusSucceeded, 0, "", []map[string]any{{
			"id": e2eSnapshotID, "short_id": e2eSnapshotID[:8], "time": "2026-05-06T07:08:09Z", "hostname": "web1",
			"paths": []string{"/srv/data"}, "tags": []string{"e2e"},
		}})
	case "check":
		send(wire.EventError, map[string]any{"message_type": "exit_error", "code": 1, "message": "pack 1234 is damaged"})
		finish(wire.StatusFailed, 1, "restic check found damage", nil)
	default:
		finish(wire.StatusSucceeded, 0, "", nil)
	}
}

func TestEndToEndJobsThroughTheCLI(t *testing.T) {
	t.Parallel()
	p := startServer(t)
	admin := bootstrapAdmin(t, p)

	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(p.ok(t, admin, "enroll-token", "create", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	body := strings.NewReader(`{"token":"` + tok.Token + `","hostname":"web1","os":"linux","arch":"amd64","agent_version":"e2e"}`)
	res, err := http.Post("http://"+p.addr+"/api/v1/agents/enroll", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	var enrolled struct {
		Credential string `json:"credential"`
	}
	_ = json.NewDecoder(res.Body).Decode(&enrolled)
	res.Body.Close()
	if r := p.repoCLI(t, admin, "e2e-jobs-password\n", nil, "repo", "add", "--name", "main", "--url", "/srv/restic/main", "--password-file", "-"); r.code != 0 {
		t.Fatalf("repo add: %d %s", r.code, r.stderr)
	}

	// A job for an offline host waits for it.
	queued := strings.TrimSpace(p.ok(t, admin, "job", "run", "unlock", "--host", "web1", "--repo", "main"))
	if out := p.ok(t, admin, "job", "show", queued); !strings.Contains(out, "queued") {
		t.Fatalf("job show of a queued job:\n%s", out)
	}
	startScriptAgent(t, p, enrolled.Credential, "prune")
	if out := p.ok(t, admin, "job", "wait", queued, "--timeout", "10s"); !strings.Contains(out, "succeeded") {
		t.Fatalf("job wait: %s", out)
	}

	// repo init runs an init job and reports it.
	out := p.ok(t, admin, "repo", "init", "main", "--host", "web1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "succeeded (exit code 0)") {
		t.Fatalf("repo init printed:\n%s", out)
	}

	// A backup: run prints the id, wait exits 0, logs show restic's output.
	id := strings.TrimSpace(p.ok(t, admin, "job", "run", "backup", "--host", "web1", "--repo", "main", "--path", "/srv/data", "--tag", "e2e", "--limit-upload", "1024"))
	if len(id) != 36 {
		t.Fatalf("job run printed %q, want the job id", id)
	}
	p.ok(t, admin, "job", "wait", id)
	logs := p.ok(t, admin, "job", "logs", id)
	for _, want := range []string{"backing up /srv/data", "summary: 4 new", "snapshot 5e5e5e5e saved", "[succeeded, exit code 0]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("job logs lacks %q:\n%s", want, logs)
		}
	}
	if follow := p.ok(t, admin, "job", "logs", "-f", id); !strings.Contains(follow, "backing up /srv/data") {
		t.Errorf("job logs -f of an ended job:\n%s", follow)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, admin, "job", "logs", id, "--json")), &items); err != nil || len(items) != 5 {
		t.Fatalf("job logs --json: %d items (%v)", len(items), err)
	}

	var jobs []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, admin, "job", "list", "--host", "web1", "--json")), &jobs); err != nil {
		t.Fatal(err)
	}
	var backup map[string]any
	for _, j := range jobs {
		if j["id"] == id {
			backup = j
		}
	}
	for _, field := range []string{"id", "host_id", "kind", "status", "repository", "schedule_id", "created_at", "started_at", "finished_at", "exit_code", "error", "summary"} {
		if _, ok := backup[field]; !ok {
			t.Errorf("job JSON lacks %q: %v", field, backup)
		}
	}
	if backup["status"] != "succeeded" || backup["kind"] != "backup" || backup["repository"] != "main" {
		t.Fatalf("backup job = %v", backup)
	}

	// The snapshot is listed (the refresh after the backup ran too).
	var snaps []map[string]any
	eventuallyE2E(t, "the snapshot list", func() bool {
		snaps = nil
		_ = json.Unmarshal([]byte(p.ok(t, admin, "snapshot", "list", "--host", "web1", "--repo", "main", "--json")), &snaps)
		return len(snaps) == 1 && snaps[0]["hostname"] == "web1"
	})
	for _, field := range []string{"id", "short_id", "time", "paths", "tags", "hostname", "repository"} {
		if _, ok := snaps[0][field]; !ok {
			t.Errorf("snapshot JSON lacks %q: %v", field, snaps[0])
		}
	}
	if table := p.ok(t, admin, "snapshot", "list", "--host", "web1"); !strings.Contains(table, "5e5e5e5e") {
		t.Fatalf("snapshot list:\n%s", table)
	}

	// A failing job: wait exits 1 with the reason.
	failing := strings.TrimSpace(p.ok(t, admin, "job", "run", "check", "--host", "web1", "--repo", "main"))
	r := p.cli(t, admin, "job", "wait", failing)
	if r.code != 1 || !strings.Contains(r.stdout, "failed (exit code 1): restic check found damage") {
		t.Fatalf("job wait of a failed job: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Cancel a running job, following it live meanwhile.
	held := strings.TrimSpace(p.ok(t, "", "job", "run", "prune", "--host", "web1", "--repo", "main", "--token", admin))
	followed := make(chan result, 1)
	go func() { followed <- p.cli(t, admin, "job", "logs", "-f", held) }()
	eventuallyE2E(t, "the held job to run", func() bool { return strings.Contains(p.ok(t, admin, "job", "show", held), "running") })
	// The agent here stops at once, so the job may have ended by the time
	// the server answers the cancel.
	if out := p.ok(t, admin, "job", "cancel", held); !strings.Contains(out, "cancel sent") && !strings.Contains(out, "cancelled") {
		t.Fatalf("job cancel: %s", out)
	}
	r = p.cli(t, admin, "job", "wait", held, "--timeout", "10s")
	if r.code != 1 || !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("job wait of a cancelled job: %d %s %s", r.code, r.stdout, r.stderr)
	}
	select {
	case f := <-followed:
		if f.code != 0 || !strings.Contains(f.stdout, "holding until cancelled") || !strings.Contains(f.stderr, "cancelled") {
			t.Fatalf("job logs -f: %d\n%s\n%s", f.code, f.stdout, f.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("job logs -f did not end with the job")
	}
	if r := p.cli(t, admin, "job", "cancel", held); r.code != 1 || !strings.Contains(r.stderr, "ended") {
		t.Fatalf("cancel of an ended job: %d %s", r.code, r.stderr)
	}

	// Bad input is a usage error.
	if r := p.cli(t, admin, "job", "run", "backup", "--host", "web1"); r.code != 2 {
		t.Fatalf("job run without --repo: %d %s", r.code, r.stderr)
	}
	if r := p.cli(t, admin, "job", "run", "backup", "--host", "web1", "--repo", "main", "--path", "relative"); r.code != 1 || !strings.Contains(r.stderr, "not absolute") {
		t.Fatalf("job run with a relative path: %d %s", r.code, r.stderr)
	}
	if strings.Contains(p.log.String(), "e2e-jobs-password") {
		t.Fatal("the repository password reached the server log")
	}
}

func eventuallyE2E(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
