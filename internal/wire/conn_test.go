package wire_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// recorder collects what handlers receive.
type recorder struct {
	mu  sync.Mutex
	got map[wire.Type]any
}

func (r *recorder) record(env wire.Envelope) error {
	p := wire.NewPayload(env.Type)
	if err := env.DecodePayload(p); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[env.Type] = p
	return nil
}

func (r *recorder) get(typ wire.Type) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[typ]
}

// TestEveryMessageCrossesARealConnection walks the whole catalogue over a
// real WebSocket, each message in its direction, and checks each payload
// arrives as sent (secrets included).
func TestEveryMessageCrossesARealConnection(t *testing.T) {
	s := samples()
	rec := &recorder{got: map[wire.Type]any{}}
	replyWith := func(typ wire.Type) wire.HandlerFunc {
		return func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
			if err := rec.record(env); err != nil {
				return err
			}
			return c.Reply(ctx, env, typ, s[typ])
		}
	}
	notified := make(chan wire.Type, 16)
	note := func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
		err := rec.record(env)
		notified <- env.Type
		return err
	}

	h := newHarness(t, false, wire.Config{Handlers: map[wire.Type]wire.HandlerFunc{
		wire.TypeHello:       replyWith(wire.TypeHelloOK),
		wire.TypeHeartbeat:   replyWith(wire.TypeHeartbeatAck),
		wire.TypeJobEvent:    note,
		wire.TypeJobFinished: note,
		wire.TypeJobData:     note,
		wire.TypeAdminKey:    replyWith(wire.TypeAdminKeyResult),
	}})
	agent, server := h.dial(t, wire.Config{Handlers: map[wire.Type]wire.HandlerFunc{
		wire.TypeJobDispatch: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
			if err := rec.record(env); err != nil {
				return err
			}
			var d wire.JobDispatch
			_ = env.DecodePayload(&d)
			if d.JobID == "job-9" {
				return c.Reply(ctx, env, wire.TypeJobReject, s[wire.TypeJobReject])
			}
			return c.Reply(ctx, env, wire.TypeJobAccept, s[wire.TypeJobAccept])
		},
		wire.TypeJobCancel: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
			var jc wire.JobCancel
			if err := env.DecodePayload(&jc); err != nil {
				return err
			}
			if jc.JobID != "job-8" {
				return &wire.Error{Code: wire.CodeNotFound, Message: "no job " + jc.JobID}
			}
			if err := rec.record(env); err != nil {
				return err
			}
			return c.Reply(ctx, env, wire.TypeAck, s[wire.TypeAck])
		},
		wire.TypeSchedulesSync: replyWith(wire.TypeAck),
		wire.TypeJobEventAck:   note,
		wire.TypeJobDataAck:    note,
		wire.TypeError:         note,
		wire.TypePathCheck:     replyWith(wire.TypePathCheckResult),
	}})
	ctx := t.Context()

	expectReply := func(c *wire.Conn, req, reply wire.Type, payload any) {
		t.Helper()
		env, err := c.Request(ctx, req, payload)
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		if env.Type != reply {
			t.Fatalf("%s answered with %s, want %s", req, env.Type, reply)
		}
		if err := rec.record(env); err != nil {
			t.Fatalf("%s: %v", reply, err)
		}
	}
	expectReply(agent, wire.TypeHello, wire.TypeHelloOK, s[wire.TypeHello])
	expectReply(agent, wire.TypeHeartbeat, wire.TypeHeartbeatAck, s[wire.TypeHeartbeat])
	expectReply(server, wire.TypeJobDispatch, wire.TypeJobAccept, s[wire.TypeJobDispatch])
	rejected := *s[wire.TypeJobDispatch].(*wire.JobDispatch)
	rejected.JobID = "job-9"
	if env, err := server.Request(ctx, wire.TypeJobDispatch, rejected); err != nil || env.Type != wire.TypeJobReject {
		t.Fatalf("second dispatch: %v %v", env, err)
	} else if err := rec.record(env); err != nil {
		t.Fatal(err)
	}
	expectReply(server, wire.TypeJobCancel, wire.TypeAck, s[wire.TypeJobCancel])
	expectReply(server, wire.TypeSchedulesSync, wire.TypeAck, s[wire.TypeSchedulesSync])
	expectReply(agent, wire.TypeAdminKey, wire.TypeAdminKeyResult, s[wire.TypeAdminKey])
	expectReply(server, wire.TypePathCheck, wire.TypePathCheckResult, s[wire.TypePathCheck])

	// An error reply comes back as *wire.Error.
	_, err := server.Request(ctx, wire.TypeJobCancel, wire.JobCancel{JobID: "job-x"})
	var perr *wire.Error
	if !errors.As(err, &perr) || perr.Code != wire.CodeNotFound {
		t.Fatalf("cancel of an unknown job: %v", err)
	}

	for _, n := range []struct {
		c   *wire.Conn
		typ wire.Type
	}{{agent, wire.TypeJobEvent}, {agent, wire.TypeJobFinished}, {server, wire.TypeJobEventAck}, {server, wire.TypeError}, {agent, wire.TypeJobData}, {server, wire.TypeJobDataAck}} {
		if err := n.c.Send(ctx, n.typ, s[n.typ]); err != nil {
			t.Fatalf("send %s: %v", n.typ, err)
		}
	}
	for range 6 {
		select {
		case <-notified:
		case <-time.After(5 * time.Second):
			t.Fatal("notifications did not arrive")
		}
	}

	for _, typ := range wire.Types() {
		got := rec.get(typ)
		if got == nil {
			t.Errorf("%s never crossed the connection", typ)
			continue
		}
		want := s[typ]
		if typ == wire.TypeJobDispatch {
			want = &rejected // the last one recorded
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s changed on the way:\n sent %#v\n  got %#v", typ, want, got)
		}
	}
	d := rec.get(wire.TypeJobDispatch).(*wire.JobDispatch)
	if d.Repository.Password.Reveal() != testSecret {
		t.Error("the repository password did not reach the agent")
	}
}

func TestRequestTimesOutAndALateReplyIsDropped(t *testing.T) {
	release := make(chan struct{})
	handlers := serverHandlers()
	handlers[wire.TypeHeartbeat] = func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
		<-release
		return c.Reply(ctx, env, wire.TypeHeartbeatAck, wire.HeartbeatAck{})
	}
	h := newHarness(t, false, wire.Config{Handlers: handlers})
	agent, _ := h.connect(t, wire.Config{RequestTimeout: 100 * time.Millisecond})

	start := time.Now()
	_, err := agent.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{})
	if !errors.Is(err, wire.ErrTimeout) {
		t.Fatalf("Request = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %s", d)
	}

	// A caller's own deadline is reported as such.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := agent.Request(ctx, wire.TypeHeartbeat, wire.Heartbeat{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request with a short ctx = %v", err)
	}

	// The late replies arrive; the connection must survive them.
	close(release)
	time.Sleep(200 * time.Millisecond)
	if err := agent.Err(); err != nil {
		t.Fatalf("a late reply closed the connection: %v", err)
	}
	if _, err := agent.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
		t.Fatalf("after late replies: %v", err)
	}
}

func TestConcurrentRequestsAreCorrelated(t *testing.T) {
	h := newHarness(t, false, wire.Config{})
	agent, server := h.dial(t, wire.Config{Handlers: map[wire.Type]wire.HandlerFunc{
		wire.TypeJobDispatch: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
			var d wire.JobDispatch
			if err := env.DecodePayload(&d); err != nil {
				return err
			}
			return c.Reply(ctx, env, wire.TypeJobAccept, wire.JobAccept{JobID: d.JobID})
		},
	}})
	sayHello(t, agent)

	const workers, each = 24, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("job-%d-%d", w, i)
				d := wire.JobDispatch{JobID: id, Kind: "backup", Repository: wire.Repository{URL: "/srv/repo", Password: wire.NewSecret("pw")}}
				env, err := server.Request(t.Context(), wire.TypeJobDispatch, d)
				if err != nil {
					errs <- err
					return
				}
				var a wire.JobAccept
				if err := env.DecodePayload(&a); err != nil || a.JobID != id {
					errs <- fmt.Errorf("reply for %s carried %q: %w", id, a.JobID, err)
				}
			}
		})
	}
	// The agent talks at the same time.
	wg.Go(func() {
		for range each {
			if _, err := agent.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestUnhandledRequestGetsAnErrorReply(t *testing.T) {
	h := newHarness(t, false, wire.Config{})
	_, server := h.connect(t, wire.Config{})
	_, err := server.Request(t.Context(), wire.TypeJobCancel, wire.JobCancel{JobID: "j"})
	var perr *wire.Error
	if !errors.As(err, &perr) || perr.Code != wire.CodeUnsupported {
		t.Fatalf("Request = %v, want an unsupported error", err)
	}
}

func TestCloseIsSeenByThePeerAndEndsEverything(t *testing.T) {
	h := newHarness(t, false, wire.Config{})
	handlerDone := make(chan error, 1)
	agent, server := h.connect(t, wire.Config{Handlers: map[wire.Type]wire.HandlerFunc{
		wire.TypeJobCancel: func(ctx context.Context, _ *wire.Conn, _ wire.Envelope) error {
			<-ctx.Done() // a slow handler; the connection's end must reach it
			handlerDone <- ctx.Err()
			return ctx.Err()
		},
	}})

	// Requests waiting on a connection that closes fail at once.
	waiting := make(chan error, 1)
	go func() {
		_, err := server.Request(t.Context(), wire.TypeJobCancel, wire.JobCancel{JobID: "j"})
		waiting <- err
	}()
	time.Sleep(50 * time.Millisecond)

	if err := server.CloseWithCode(wire.CloseRevoked, "credential revoked"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, agent, 5*time.Second)
	var ce *wire.CloseError
	if !errors.As(agent.Err(), &ce) || ce.Code != wire.CloseRevoked || ce.Reason != "credential revoked" || !ce.Remote {
		t.Fatalf("agent saw %v", agent.Err())
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, wire.ErrClosed) {
			t.Fatalf("pending request: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending request still waiting")
	}
	if err := agent.Send(t.Context(), wire.TypeJobEvent, samples()[wire.TypeJobEvent]); !errors.Is(err, wire.ErrClosed) {
		t.Fatalf("Send after close: %v", err)
	}
	if _, err := agent.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); !errors.Is(err, wire.ErrClosed) {
		t.Fatalf("Request after close: %v", err)
	}
	if err := <-handlerDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler context: %v", err)
	}
}

func TestClosingFlushesQueuedMessages(t *testing.T) {
	got := make(chan uint64, 100)
	handlers := serverHandlers()
	handlers[wire.TypeJobEvent] = func(_ context.Context, _ *wire.Conn, env wire.Envelope) error {
		var ev wire.JobEvent
		if err := env.DecodePayload(&ev); err != nil {
			return err
		}
		got <- ev.Seq
		return nil
	}
	h := newHarness(t, false, wire.Config{Handlers: handlers})
	agent, _ := h.connect(t, wire.Config{})
	ev := *samples()[wire.TypeJobEvent].(*wire.JobEvent)
	for seq := uint64(1); seq <= 50; seq++ {
		ev.Seq = seq
		if err := agent.Send(t.Context(), wire.TypeJobEvent, ev); err != nil {
			t.Fatal(err)
		}
	}
	_ = agent.Close("agent stopping")
	for want := uint64(1); want <= 50; want++ {
		select {
		case seq := <-got:
			if seq != want {
				t.Fatalf("event %d arrived as %d", want, seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d lost on close", want)
		}
	}
}

func TestServerContextEndClosesWithGoingAway(t *testing.T) {
	h := newHarness(t, false, wire.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	agent, err := wire.Dial(ctx, h.url, testToken, wire.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	server := h.accept(t)
	sayHello(t, agent)
	cancel()
	waitDone(t, agent, 5*time.Second)
	waitDone(t, server, 5*time.Second)
	if code := closeCode(t, server); code != websocket.CloseGoingAway {
		t.Fatalf("server saw %d, want 1001", code)
	}
}

func TestNoGoroutineOutlivesItsConnection(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		h := newHarness(t, false, wire.Config{PingInterval: 20 * time.Millisecond})
		var conns []*wire.Conn
		for range 5 {
			agent, err := wire.Dial(context.Background(), h.url, testToken, wire.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			server := <-h.conns
			conns = append(conns, agent, server)
			sayHello(t, agent)
			for range 10 {
				if _, err := agent.Request(context.Background(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
					t.Fatal(err)
				}
				_ = agent.Send(context.Background(), wire.TypeJobEvent, samples()[wire.TypeJobEvent])
			}
		}
		// Close from both ends, half each way.
		for i, c := range conns {
			if i%4 == 0 {
				_ = c.Close("bye")
			}
		}
		for _, c := range conns {
			_ = c.Close("bye")
			waitDone(t, c, 5*time.Second)
		}
		h.srv.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
