package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// testServer is the server end of the agent protocol, built on
// wire.Upgrade: it authenticates the bearer credential, answers hello and
// heartbeats, stores every job event and job_finished once per (job_id,
// seq), and acknowledges the contiguous prefix it holds, as docs/protocol.md
// asks of the real server. Tests dispatch and cancel jobs through it and
// drop its connections.
type testServer struct {
	t     testing.TB
	srv   *httptest.Server
	lis   *trackingListener
	token string
	ctx   context.Context

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	conn     *wire.Conn
	hellos   []wire.Hello
	events   map[string]map[uint64]storedEvent
	finished map[string]wire.JobFinished
	acked    map[string]uint64
	dupes    map[string]int
	holdAcks map[string]bool // jobs whose events are stored but not acknowledged
	refuse   bool            // answer connects with 503
	// onAdminKey answers admin_key (scheduled_adminkey_test.go); nil
	// answers unsupported.
	onAdminKey func(wire.AdminKey) (wire.Type, any)
	adminKeys  []wire.AdminKey // every admin_key asked
	// dataAckUpTo is how far each job's job_data is acknowledged and
	// dataSeen the last piece that came (data_test.go).
	dataAckUpTo map[string]uint64
	dataSeen    map[string]uint64
}

// storedEvent is what the server keeps of one (job_id, seq).
type storedEvent struct {
	Kind string // a job_event kind, or "finished"
	Data json.RawMessage
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{
		t:        t,
		token:    "rma_test-credential-" + fmt.Sprint(time.Now().UnixNano()),
		ctx:      ctx,
		changed:  make(chan struct{}),
		events:   map[string]map[uint64]storedEvent{},
		finished: map[string]wire.JobFinished{},
		acked:    map[string]uint64{},
		dupes:    map[string]int{},
		holdAcks: map[string]bool{},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.lis = &trackingListener{Listener: s.srv.Listener}
	s.srv.Listener = s.lis
	s.srv.Start()
	t.Cleanup(func() {
		cancel()
		s.lis.dropAll()
		s.srv.Close()
	})
	return s
}

func (s *testServer) URL() string { return s.srv.URL }

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != wire.ConnectPath || r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, `{"error":{"code":"unauthorized","message":"bad credential"}}`, http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse {
		http.Error(w, "test server unavailable", http.StatusServiceUnavailable)
		return
	}
	c, err := wire.Upgrade(s.ctx, w, r, wire.Config{
		Logger: hclog.NewNullLogger(),
		Handlers: map[wire.Type]wire.HandlerFunc{
			wire.TypeHello:       s.hello,
			wire.TypeHeartbeat:   s.heartbeat,
			wire.TypeJobEvent:    s.jobEvent,
			wire.TypeJobFinished: s.jobFinished,
			wire.TypeAdminKey:    s.adminKey,
			wire.TypeJobData:     s.jobData,
		},
	})
	if err != nil {
		return
	}
	<-c.Done()
}

func (s *testServer) hello(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var h wire.Hello
	if err := env.DecodePayload(&h); err != nil {
		return err
	}
	// hello_ok is queued before the connection is offered to the test, so
	// that no request overtakes it.
	if err := c.Reply(ctx, env, wire.TypeHelloOK, wire.HelloOK{HostID: "host-1", ServerVersion: "test", HeartbeatIntervalS: 1}); err != nil {
		return err
	}
	s.mu.Lock()
	s.hellos = append(s.hellos, h)
	s.conn = c
	s.notifyLocked()
	s.mu.Unlock()
	return nil
}

func (s *testServer) heartbeat(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	return c.Reply(ctx, env, wire.TypeHeartbeatAck, wire.HeartbeatAck{ServerTime: time.Now()})
}

func (s *testServer) jobEvent(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var e wire.JobEvent
	if err := env.DecodePayload(&e); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrPolicyViolation, err)
	}
	return s.store(ctx, c, e.JobID, e.Seq, storedEvent{Kind: string(e.Kind), Data: e.Data})
}

func (s *testServer) jobFinished(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var f wire.JobFinished
	if err := env.DecodePayload(&f); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrPolicyViolation, err)
	}
	s.mu.Lock()
	if _, ok := s.finished[f.JobID]; !ok {
		s.finished[f.JobID] = f
	}
	s.mu.Unlock()
	raw, _ := json.Marshal(f)
	return s.store(ctx, c, f.JobID, f.Seq, storedEvent{Kind: kindFinished, Data: raw})
}

// store keeps (job, seq) once and acknowledges the contiguous prefix.
func (s *testServer) store(ctx context.Context, c *wire.Conn, job string, seq uint64, ev storedEvent) error {
	s.mu.Lock()
	m := s.events[job]
	if m == nil {
		m = map[uint64]storedEvent{}
		s.events[job] = m
	}
	if _, dup := m[seq]; dup {
		s.dupes[job]++
	} else {
		m[seq] = ev
	}
	upTo := s.acked[job]
	for {
		if _, ok := m[upTo+1]; !ok {
			break
		}
		upTo++
	}
	hold := s.holdAcks[job]
	if !hold {
		s.acked[job] = upTo
	}
	s.notifyLocked()
	s.mu.Unlock()
	if hold || upTo == 0 {
		return nil
	}
	if err := c.Send(ctx, wire.TypeJobEventAck, wire.JobEventAck{JobID: job, UpToSeq: upTo}); err != nil {
		_ = err // the connection dropped; the agent resends and the next store acks
	}
	return nil
}

func (s *testServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond (called with s.mu held) is true.
func (s *testServer) waitFor(timeout time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			s.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// waitConnected waits for the n-th hello.
func (s *testServer) waitConnected(n int) wire.Hello {
	s.t.Helper()
	var h wire.Hello
	s.waitFor(30*time.Second, fmt.Sprintf("hello #%d", n), func() bool {
		if len(s.hellos) >= n {
			h = s.hellos[n-1]
			return true
		}
		return false
	})
	return h
}

func (s *testServer) current() *wire.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// request sends a request on the current connection, retrying while the
// agent reconnects.
func (s *testServer) request(typ wire.Type, payload any) wire.Envelope {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := s.current()
		if c != nil {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			reply, err := c.Request(ctx, typ, payload)
			cancel()
			if err == nil {
				return reply
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("%s: %v", typ, err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dispatch sends job_dispatch and returns the reply's type and payload.
func (s *testServer) dispatch(d wire.JobDispatch) (wire.Type, wire.JobReject) {
	s.t.Helper()
	reply := s.request(wire.TypeJobDispatch, d)
	var rej wire.JobReject
	if reply.Type == wire.TypeJobReject {
		if err := reply.DecodePayload(&rej); err != nil {
			s.t.Fatal(err)
		}
	}
	return reply.Type, rej
}

// mustAccept dispatches and fails the test unless the agent accepts.
func (s *testServer) mustAccept(d wire.JobDispatch) {
	s.t.Helper()
	if typ, rej := s.dispatch(d); typ != wire.TypeJobAccept {
		s.t.Fatalf("dispatch %s (%s): got %s %q", d.JobID, d.Kind, typ, rej.Reason)
	}
}

func (s *testServer) cancel(jobID string) {
	s.t.Helper()
	if reply := s.request(wire.TypeJobCancel, wire.JobCancel{JobID: jobID, Reason: "test"}); reply.Type != wire.TypeAck {
		s.t.Fatalf("job_cancel answered %s", reply.Type)
	}
}

// waitFinished waits for the job's job_finished.
func (s *testServer) waitFinished(jobID string, timeout time.Duration) wire.JobFinished {
	s.t.Helper()
	var f wire.JobFinished
	s.waitFor(timeout, "job_finished of "+jobID, func() bool {
		var ok bool
		f, ok = s.finished[jobID]
		return ok
	})
	return f
}

// waitEvent waits until the job has an event of kind.
func (s *testServer) waitEvent(jobID, kind string, timeout time.Duration) {
	s.t.Helper()
	s.waitFor(timeout, kind+" event of "+jobID, func() bool {
		for _, e := range s.events[jobID] {
			if e.Kind == kind {
				return true
			}
		}
		return false
	})
}

// stream returns the job's stored events in seq order and checks that
// they are 1…N without a gap, job_finished last.
func (s *testServer) stream(jobID string) []storedEvent {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.events[jobID]
	seqs := make([]uint64, 0, len(m))
	for seq := range m {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	out := make([]storedEvent, 0, len(seqs))
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			s.t.Fatalf("job %s: seq %d follows %d: the stream has a gap", jobID, seq, i)
		}
		out = append(out, m[seq])
	}
	f, ok := s.finished[jobID]
	if !ok || len(out) == 0 || f.Seq != uint64(len(out)) || out[len(out)-1].Kind != kindFinished {
		s.t.Fatalf("job %s: job_finished (seq %d) is not the last of %d events", jobID, f.Seq, len(out))
	}
	return out
}

func (s *testServer) setRefuse(refuse bool) {
	s.mu.Lock()
	s.refuse = refuse
	s.mu.Unlock()
}

func (s *testServer) setHoldAcks(jobID string, hold bool) {
	s.mu.Lock()
	s.holdAcks[jobID] = hold
	s.mu.Unlock()
}

func (s *testServer) dupesOf(jobID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dupes[jobID]
}

func (s *testServer) eventCount(jobID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events[jobID])
}

func (s *testServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hellos)
}

// waitAcked waits until the server has acknowledged the job up to its
// job_finished, so the agent may forget it.
func (s *testServer) waitAcked(jobID string) {
	s.t.Helper()
	s.waitFor(30*time.Second, "acknowledgement of all of "+jobID, func() bool {
		f, ok := s.finished[jobID]
		return ok && s.acked[jobID] == f.Seq
	})
}

// drop closes the current connection: abruptly (the TCP socket, as a
// crashing server or a network would) or with a close frame.
func (s *testServer) drop(abrupt bool) {
	if abrupt {
		s.lis.dropAll()
		return
	}
	if c := s.current(); c != nil {
		_ = c.CloseWithCode(1001, "test server restarting")
	}
}

// trackingListener remembers accepted connections so that the test can
// close their sockets, which the hijacked WebSocket connections hide from
// httptest.Server.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) dropAll() {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
