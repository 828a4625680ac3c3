package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/wire"
)

const (
	testToken  = "agent-credential-0123456789"
	testSecret = "hunter2-correct-horse"
	testKey    = "AKIA-secret-key-value"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

// samples holds one payload per catalogue type, as the pointer that
// wire.NewPayload would return, so decoded payloads compare with DeepEqual.
func samples() map[wire.Type]any {
	return map[wire.Type]any{
		wire.TypeHello: &wire.Hello{
			Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "v0.1.0", ResticVersion: "0.18.1",
			Backends: []string{"restic"}, State: wire.AgentState{RunningJobs: []string{"job-7"}}, Protocols: []int{1},
		},
		wire.TypeHelloOK:      &wire.HelloOK{HostID: "host-1", ServerVersion: "v0.1.0", HeartbeatIntervalS: 30, Protocol: 1},
		wire.TypeHeartbeat:    &wire.Heartbeat{Time: t0, RunningJobs: []string{"job-7"}},
		wire.TypeHeartbeatAck: &wire.HeartbeatAck{ServerTime: t0},
		wire.TypeJobDispatch: &wire.JobDispatch{
			JobID: "job-8", Kind: "backup",
			Repository: wire.Repository{
				ID: "repo-1", Name: "offsite", URL: "s3:https://s3.example.com/bucket",
				Password: wire.NewSecret(testSecret),
				Env:      map[string]wire.Secret{"AWS_SECRET_ACCESS_KEY": wire.NewSecret(testKey)},
			},
			Params:   json.RawMessage(`{"paths":["/etc","/home"],"tags":["nightly"]}`),
			Deadline: t0.Add(time.Hour),
		},
		wire.TypeJobAccept:   &wire.JobAccept{JobID: "job-8"},
		wire.TypeJobReject:   &wire.JobReject{JobID: "job-9", Reason: "repository locked by job-8"},
		wire.TypeJobCancel:   &wire.JobCancel{JobID: "job-8", Reason: "operator asked"},
		wire.TypeJobEvent:    &wire.JobEvent{JobID: "job-8", Seq: 1, Time: t0, Kind: wire.EventLog, Data: json.RawMessage(`{"stream":"stdout","lines":["open repository"]}`)},
		wire.TypeJobEventAck: &wire.JobEventAck{JobID: "job-8", UpToSeq: 1},
		wire.TypeJobFinished: &wire.JobFinished{
			JobID: "job-8", Seq: 2, Status: wire.StatusSucceeded, ExitCode: 0,
			Summary: json.RawMessage(`{"message_type":"summary","snapshot_id":"abc"}`), StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		},
		wire.TypeSchedulesSync:  &wire.SchedulesSync{Revision: 3, Schedules: json.RawMessage(`[{"id":"s1","cron":"0 3 * * *"}]`)},
		wire.TypeAck:            &wire.Ack{},
		wire.TypeError:          &wire.Error{Code: wire.CodeNotFound, Message: "no job job-x"},
		wire.TypeJobData:        &wire.JobData{JobID: "job-8", Seq: 1, Data: []byte("PK\x03\x04\x00\xff")},
		wire.TypeJobDataAck:     &wire.JobDataAck{JobID: "job-8", UpToSeq: 1},
		wire.TypeAdminKey:       &wire.AdminKey{ScheduleID: "sched-1", JobID: "job-8", Kind: "prune"},
		wire.TypeAdminKeyResult: &wire.AdminKeyResult{Password: wire.NewSecret(testSecret)},

		wire.TypePathCheck:       &wire.PathCheck{Path: "/srv/restore"},
		wire.TypePathCheckResult: &wire.PathCheckResult{Path: "/srv/restore", Exists: true, IsDir: true, Writable: true, User: "restic"},
	}
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: w, Level: hclog.Debug})
}

// harness is an httptest server that authenticates agents and hands each
// upgraded connection to the test.
type harness struct {
	srv   *httptest.Server
	url   string
	conns chan *wire.Conn
	logs  *syncBuffer
}

// serverHandlers answers hello and heartbeat as a server would.
func serverHandlers() map[wire.Type]wire.HandlerFunc {
	return map[wire.Type]wire.HandlerFunc{
		wire.TypeHello: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
			var h wire.Hello
			if err := env.DecodePayload(&h); err != nil {
				return err
			}
			return c.Reply(ctx, env, wire.TypeHelloOK, wire.HelloOK{HostID: "host-" + h.Hostname, ServerVersion: "test", HeartbeatIntervalS: 30})
		},
		wire.TypeHeartbeat: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
			return c.Reply(ctx, env, wire.TypeHeartbeatAck, wire.HeartbeatAck{ServerTime: time.Now()})
		},
	}
}

func newHarness(t testing.TB, useTLS bool, cfg wire.Config) *harness {
	t.Helper()
	h := &harness{conns: make(chan *wire.Conn, 64), logs: &syncBuffer{}}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(h.logs)
	}
	if cfg.Handlers == nil {
		cfg.Handlers = serverHandlers()
	}
	ctx := t.Context()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"unauthorized","message":"unknown agent credential"}}`)
			return
		}
		c, err := wire.Upgrade(ctx, w, r, cfg)
		if err != nil {
			return
		}
		h.conns <- c
	})
	h.srv = httptest.NewUnstartedServer(handler)
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are expected
	if useTLS {
		h.srv.StartTLS()
		h.url = "wss://" + h.srv.Listener.Addr().String() + wire.ConnectPath
	} else {
		h.srv.Start()
		h.url = "ws://" + h.srv.Listener.Addr().String() + wire.ConnectPath
	}
	t.Cleanup(h.srv.Close)
	return h
}

// accept returns the server side of the next connection.
func (h *harness) accept(t testing.TB) *wire.Conn {
	t.Helper()
	select {
	case c := <-h.conns:
		t.Cleanup(func() { _ = c.Close("test over") })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection reached the server")
		return nil
	}
}

// dial connects an agent and returns both ends, without hello.
func (h *harness) dial(t testing.TB, cfg wire.Config) (agent, server *wire.Conn) {
	t.Helper()
	c, err := wire.Dial(t.Context(), h.url, testToken, wire.DialOptions{Config: cfg})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close("test over") })
	return c, h.accept(t)
}

// connect dials and says hello.
func (h *harness) connect(t testing.TB, cfg wire.Config) (agent, server *wire.Conn) {
	t.Helper()
	agent, server = h.dial(t, cfg)
	sayHello(t, agent)
	return agent, server
}

func sayHello(t testing.TB, c *wire.Conn) wire.HelloOK {
	t.Helper()
	reply, err := c.Request(t.Context(), wire.TypeHello, samples()[wire.TypeHello])
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	var ok wire.HelloOK
	if err := reply.DecodePayload(&ok); err != nil {
		t.Fatalf("hello_ok: %v", err)
	}
	return ok
}

// waitDone waits for a connection's goroutines to end.
func waitDone(t *testing.T, c *wire.Conn, within time.Duration) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("connection still running after %s (err=%v)", within, c.Err())
	}
}

// closeCode returns the close code a connection ended with.
func closeCode(t *testing.T, c *wire.Conn) int {
	t.Helper()
	var ce *wire.CloseError
	if !errors.As(c.Err(), &ce) {
		t.Fatalf("connection not closed: %v", c.Err())
	}
	return ce.Code
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
