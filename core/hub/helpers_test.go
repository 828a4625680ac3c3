package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// The tests here run the real API (httptest) over a real store with a
// real hub, and talk to it through a testAgent: a protocol-level peer
// built on internal/wire.Dial, standing in for the agent binary, which the
// end-to-end tests run.

const adminPassword = "a long admin password"

// logBuffer collects the server's log output, to check that no secret
// reaches it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testServer struct {
	db    *store.DB
	hub   *hub.Hub
	srv   *httptest.Server
	log   *logBuffer
	admin string // an admin API token
}

// fastOptions are hub options that make the tests quick: short sweeps and
// flushes. Each test changes what it needs.
func fastOptions() hub.Options {
	return hub.Options{
		SweepInterval:   50 * time.Millisecond,
		FlushInterval:   5 * time.Millisecond,
		DispatchTimeout: 5 * time.Second,
	}
}

func newTestServer(t testing.TB, mod func(*hub.Options)) *testServer {
	tt, _ := t.(*testing.T)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Trace, Output: logs})
	svc := repos.New(db, kr, time.Now)
	opts := fastOptions()
	opts.Store, opts.Logger = db, logger
	opts.Secrets = hub.RepoSecretsFunc(func(ctx context.Context, id string) (string, string, map[string]string, error) {
		return svc.RepositorySecrets(ctx, id)
	})
	opts.AdminSecrets = hub.AdminSecretsFunc(func(ctx context.Context, id string) (string, bool, error) {
		return openAdminPassword(ctx, db, kr, id) // adminkey_test.go
	})
	if mod != nil {
		mod(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := hub.New(ctx, opts)
	setup, _ := auth.NewToken(auth.KindSetup)
	a := api.New(api.Options{
		Store: db, Logger: logger, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams,
		Sealer: kr, Agents: h, OnHostRevoked: h.Revoke,
	})
	srv := httptest.NewServer(a)
	s := &testServer{db: db, hub: h, srv: srv, log: logs}
	t.Cleanup(func() {
		cancel()
		h.Close()
		srv.Close()
		if tt != nil && tt.Failed() {
			tt.Logf("server log:\n%s", logs.String())
		}
	})
	var boot struct {
		Token string `json:"token"`
	}
	s.call(t, "POST", "/api/v1/bootstrap", "", map[string]string{"setup_token": setup, "username": "root", "password": adminPassword}, http.StatusCreated, &boot)
	s.admin = boot.Token
	return s
}

// call makes one API request and decodes the answer into out (if not nil).
func (s *testServer) call(t testing.TB, method, path, token string, body any, want int, out any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// enroll enrolls a host named name and returns its id and agent credential.
func (s *testServer) enroll(t testing.TB, name string) (string, string) {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	s.call(t, "POST", "/api/v1/enrollment-tokens", s.admin, map[string]any{}, http.StatusCreated, &tok)
	var got struct {
		HostID     string `json:"host_id"`
		Credential string `json:"credential"`
	}
	s.call(t, "POST", "/api/v1/agents/enroll", "", map[string]string{
		"token": tok.Token, "hostname": name, "os": "linux", "arch": "amd64", "agent_version": "test",
	}, http.StatusCreated, &got)
	return got.HostID, got.Credential
}

// addRepo adds a repository and returns its id.
func (s *testServer) addRepo(t testing.TB, name, password string, env map[string]string) string {
	t.Helper()
	var repo struct {
		ID string `json:"id"`
	}
	s.call(t, "POST", "/api/v1/repositories", s.admin, map[string]any{
		"name": name, "url": "/srv/restic/" + name, "password": password, "env": env,
	}, http.StatusCreated, &repo)
	return repo.ID
}

// job is the API's job object, as far as tests need it.
type job struct {
	ID           string          `json:"id"`
	HostID       string          `json:"host_id"`
	Host         string          `json:"host"`
	Kind         string          `json:"kind"`
	Status       string          `json:"status"`
	Repository   string          `json:"repository"`
	RepositoryID string          `json:"repository_id"`
	ScheduleID   *string         `json:"schedule_id"`
	ExitCode     *int            `json:"exit_code"`
	Error        string          `json:"error"`
	Summary      json.RawMessage `json:"summary"`
	StartedAt    *time.Time      `json:"started_at"`
	FinishedAt   *time.Time      `json:"finished_at"`
	CreatedBy    string          `json:"created_by"`
}

func (s *testServer) run(t testing.TB, host string, body map[string]any, want int) job {
	t.Helper()
	var j job
	var out any
	if want == http.StatusCreated {
		out = &j
	}
	s.call(t, "POST", "/api/v1/hosts/"+host+"/jobs", s.admin, body, want, out)
	return j
}

func (s *testServer) job(t testing.TB, id string) job {
	t.Helper()
	var j job
	s.call(t, "GET", "/api/v1/jobs/"+id, s.admin, nil, http.StatusOK, &j)
	return j
}

type logItem struct {
	Seq    int64  `json:"seq"`
	Stream string `json:"stream"`
	Type   string `json:"type"`
	Line   string `json:"line"`
}

// logs returns every stored event of a job, following the pages.
func (s *testServer) jobLogs(t testing.TB, id string) []logItem {
	t.Helper()
	var all []logItem
	path := "/api/v1/jobs/" + id + "/logs?limit=7"
	for {
		var page struct {
			Items      []logItem `json:"items"`
			NextCursor string    `json:"next_cursor"`
		}
		s.call(t, "GET", path, s.admin, nil, http.StatusOK, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		path = "/api/v1/jobs/" + id + "/logs?limit=7&cursor=" + page.NextCursor
	}
}

func (s *testServer) hostStatus(t testing.TB, id string) string {
	t.Helper()
	var h struct {
		Status string `json:"status"`
	}
	s.call(t, "GET", "/api/v1/hosts/"+id, s.admin, nil, http.StatusOK, &h)
	return h.Status
}

// eventually polls cond until it holds or twenty seconds pass (the CI
// machine runs many test packages at once).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testAgent speaks the agent protocol to the test server, by hand.
type testAgent struct {
	t      testing.TB
	c      *wire.Conn
	hostID string

	// onDispatch answers job_dispatch; nil accepts.
	onDispatch func(d wire.JobDispatch) (wire.Type, any)

	dispatches chan received[wire.JobDispatch]
	cancels    chan wire.JobCancel

	mu   sync.Mutex
	acks map[string]uint64
	cond *sync.Cond
}

type received[T any] struct {
	msg T
	at  time.Time
}

// dial connects a testAgent with credential; it has not said hello yet.
func (s *testServer) dial(t testing.TB, credential string) (*testAgent, error) {
	t.Helper()
	a := &testAgent{
		t: t, acks: map[string]uint64{},
		dispatches: make(chan received[wire.JobDispatch], 100),
		cancels:    make(chan wire.JobCancel, 100),
	}
	a.cond = sync.NewCond(&a.mu)
	url, _ := wire.ConnectURL(s.srv.URL)
	c, err := wire.Dial(context.Background(), url, credential, wire.DialOptions{Config: wire.Config{
		Handlers: map[wire.Type]wire.HandlerFunc{
			wire.TypeJobDispatch: a.handleDispatch,
			wire.TypeJobCancel:   a.handleCancel,
			wire.TypeJobEventAck: a.handleAck,
		},
	}})
	if err != nil {
		return nil, err
	}
	a.c = c
	t.Cleanup(func() { _ = c.Close("test over") })
	return a, nil
}

// connect dials and says hello.
func (s *testServer) connect(t testing.TB, credential string, running ...string) *testAgent {
	t.Helper()
	a, err := s.dial(t, credential)
	if err != nil {
		t.Fatal(err)
	}
	a.hello(running...)
	return a
}

func (a *testAgent) hello(running ...string) wire.HelloOK {
	a.t.Helper()
	reply, err := a.c.Request(context.Background(), wire.TypeHello, wire.Hello{
		Hostname: "test-host", OS: "linux", Arch: "amd64", AgentVersion: "test", ResticVersion: "0.18.1",
		Backends: []string{"restic"}, State: wire.AgentState{RunningJobs: running},
	})
	if err != nil {
		a.t.Fatalf("hello: %v", err)
	}
	var ok wire.HelloOK
	if err := reply.DecodePayload(&ok); err != nil {
		a.t.Fatal(err)
	}
	a.hostID = ok.HostID
	return ok
}

func (a *testAgent) handleDispatch(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var d wire.JobDispatch
	if err := env.DecodePayload(&d); err != nil {
		return err
	}
	a.dispatches <- received[wire.JobDispatch]{d, time.Now()}
	typ, payload := wire.TypeJobAccept, any(wire.JobAccept{JobID: d.JobID})
	if a.onDispatch != nil {
		typ, payload = a.onDispatch(d)
	}
	return c.Reply(ctx, env, typ, payload)
}

func (a *testAgent) handleCancel(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var jc wire.JobCancel
	if err := env.DecodePayload(&jc); err != nil {
		return err
	}
	a.cancels <- jc
	return c.Reply(ctx, env, wire.TypeAck, wire.Ack{})
}

func (a *testAgent) handleAck(_ context.Context, _ *wire.Conn, env wire.Envelope) error {
	var ack wire.JobEventAck
	if err := env.DecodePayload(&ack); err != nil {
		return err
	}
	a.mu.Lock()
	if ack.UpToSeq > a.acks[ack.JobID] {
		a.acks[ack.JobID] = ack.UpToSeq
	}
	a.cond.Broadcast()
	a.mu.Unlock()
	return nil
}

func (a *testAgent) acked(jobID string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acks[jobID]
}

// waitAck waits until the server acknowledged jobID up to seq.
func (a *testAgent) waitAck(jobID string, seq uint64) {
	a.t.Helper()
	eventually(a.t, fmt.Sprintf("ack of %s up to %d", jobID, seq), func() bool { return a.acked(jobID) >= seq })
}

func (a *testAgent) waitDispatch() received[wire.JobDispatch] {
	a.t.Helper()
	select {
	case d := <-a.dispatches:
		return d
	case <-time.After(5 * time.Second):
		a.t.Fatal("no job_dispatch arrived")
		return received[wire.JobDispatch]{}
	}
}

func (a *testAgent) send(typ wire.Type, payload any) {
	a.t.Helper()
	if err := a.c.Send(context.Background(), typ, payload); err != nil {
		a.t.Fatalf("send %s: %v", typ, err)
	}
}

// logEvent sends one log event with lines.
func (a *testAgent) logEvent(jobID string, seq uint64, lines ...string) {
	a.t.Helper()
	data, _ := json.Marshal(wire.LogData{Stream: "stdout", Lines: lines})
	a.send(wire.TypeJobEvent, wire.JobEvent{JobID: jobID, Seq: seq, Time: time.Now(), Kind: wire.EventLog, Data: data})
}

func (a *testAgent) event(jobID string, seq uint64, kind wire.EventKind, data any) {
	a.t.Helper()
	raw, _ := json.Marshal(data)
	a.send(wire.TypeJobEvent, wire.JobEvent{JobID: jobID, Seq: seq, Time: time.Now(), Kind: kind, Data: raw})
}

func (a *testAgent) finish(jobID string, seq uint64, status string, exit int, summary any) {
	a.t.Helper()
	var raw json.RawMessage
	if summary != nil {
		raw, _ = json.Marshal(summary)
	}
	now := time.Now()
	a.send(wire.TypeJobFinished, wire.JobFinished{
		JobID: jobID, Seq: seq, Status: status, ExitCode: exit, Summary: raw,
		StartedAt: now.Add(-time.Second), FinishedAt: now,
	})
}

// closeCode waits for the connection to end and returns its close code.
func (a *testAgent) closeCode() int {
	a.t.Helper()
	select {
	case <-a.c.Done():
	case <-time.After(5 * time.Second):
		a.t.Fatal("the connection did not close")
	}
	var ce *wire.CloseError
	if !errors.As(a.c.Err(), &ce) {
		a.t.Fatalf("connection ended with %v", a.c.Err())
	}
	return ce.Code
}

// streamFrame is one frame of /jobs/{id}/stream.
type streamFrame struct {
	Frame  string `json:"frame"`
	Seq    int64  `json:"seq"`
	Type   string `json:"type"`
	Line   string `json:"line"`
	Status string `json:"status"`
	Job    *job   `json:"job"`
}

// stream opens a job's stream with the admin token.
func (s *testServer) stream(t testing.TB, jobID string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/api/v1/jobs/" + jobID + "/stream"
	ws, res, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + s.admin}})
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func readFrame(t testing.TB, ws *websocket.Conn) streamFrame {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f streamFrame
	if err := ws.ReadJSON(&f); err != nil {
		t.Fatalf("read stream frame: %v", err)
	}
	return f
}
