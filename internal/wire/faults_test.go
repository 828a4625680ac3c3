package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// rawDial opens a bare gorilla connection, for sending what a well-behaved
// Conn never would.
func rawDial(t *testing.T, h *harness) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), h.url, http.Header{"Authorization": {"Bearer " + testToken}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// expectClose reads until the server's close frame and returns its code.
func expectClose(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code
	}
}

func rawHello(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"id":"h1","type":"hello","payload":{"hostname":"raw","os":"linux","arch":"amd64"}}`))
	_, msg, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"hello_ok"`) {
		t.Fatalf("raw hello: %s %v", msg, err)
	}
}

// TestBadFramesCloseOnlyThatConnection sends each kind of broken frame on
// its own connection while a healthy agent keeps working.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	h := newHarness(t, false, wire.Config{})
	healthy, _ := h.connect(t, wire.Config{})

	cases := map[string]struct {
		hello bool
		frame string
		code  int
		log   string
	}{
		"malformed json":      {false, `{"v":1,"id":`, websocket.ClosePolicyViolation, "malformed frame"},
		"unknown type":        {false, `{"v":1,"id":"a","type":"shell"}`, websocket.ClosePolicyViolation, "unknown message type"},
		"wrong version":       {false, `{"v":2,"id":"a","type":"hello","payload":{}}`, websocket.ClosePolicyViolation, "unsupported protocol version"},
		"unknown field":       {false, `{"v":1,"id":"a","type":"hello","x":1}`, websocket.ClosePolicyViolation, "malformed frame"},
		"wrong first message": {false, `{"v":1,"id":"a","type":"job_event","payload":{}}`, websocket.ClosePolicyViolation, "unexpected message"},
		"wrong direction":     {true, `{"v":1,"id":"a","type":"job_dispatch","payload":{}}`, websocket.ClosePolicyViolation, "not allowed in this direction"},
		"unsolicited reply":   {true, `{"v":1,"id":"a","type":"job_accept","reply_to":"never-sent","payload":{"job_id":"j"}}`, websocket.ClosePolicyViolation, "reply to unknown request"},
		"second hello":        {true, `{"v":1,"id":"a","type":"hello","payload":{}}`, websocket.ClosePolicyViolation, "unexpected message"},
		"binary frame":        {false, "", websocket.CloseUnsupportedData, "binary frames"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ws := rawDial(t, h)
			server := h.accept(t)
			if tc.hello {
				rawHello(t, ws)
			}
			if tc.frame == "" {
				_ = ws.WriteMessage(websocket.BinaryMessage, []byte{0xde, 0xad})
			} else {
				_ = ws.WriteMessage(websocket.TextMessage, []byte(tc.frame))
			}
			if code := expectClose(t, ws); code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
			waitDone(t, server, 5*time.Second)
			if code := closeCode(t, server); code != tc.code {
				t.Errorf("server recorded %d, want %d", code, tc.code)
			}
			if !strings.Contains(h.logs.String(), tc.log) {
				t.Errorf("no logged reason %q in:\n%s", tc.log, h.logs.String())
			}
			if _, err := healthy.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
				t.Fatalf("the healthy agent suffered: %v", err)
			}
		})
	}
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	h := newHarness(t, false, wire.Config{MaxFrameSize: 64 << 10})
	healthy, _ := h.connect(t, wire.Config{})

	ws := rawDial(t, h)
	server := h.accept(t)
	rawHello(t, ws)
	big := `{"v":1,"id":"a","type":"job_event","payload":{"job_id":"j","seq":1,"kind":"log","data":{"x":"` +
		strings.Repeat("x", 2<<20) + `"}}}`
	go func() { _ = ws.WriteMessage(websocket.TextMessage, []byte(big)) }()
	if code := expectClose(t, ws); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
	waitDone(t, server, 5*time.Second)
	if !errors.Is(server.Err(), wire.ErrFrameTooLarge) || closeCode(t, server) != websocket.CloseMessageTooBig {
		t.Fatalf("server side: %v", server.Err())
	}
	if _, err := healthy.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
		t.Fatalf("the healthy agent suffered: %v", err)
	}

	// A Conn refuses to send what the peer would refuse.
	agent, _ := h.connect(t, wire.Config{MaxFrameSize: 64 << 10})
	ev := wire.JobEvent{JobID: "j", Seq: 1, Kind: wire.EventLog, Data: json.RawMessage(`{"x":"` + strings.Repeat("x", 80<<10) + `"}`)}
	if err := agent.Send(t.Context(), wire.TypeJobEvent, ev); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("Send of an oversized event = %v", err)
	}
	if agent.Err() != nil {
		t.Fatalf("refusing to send closed the connection: %v", agent.Err())
	}
}

func TestHandlerFailuresAreContained(t *testing.T) {
	handlers := serverHandlers()
	handlers[wire.TypeJobEvent] = func(context.Context, *wire.Conn, wire.Envelope) error {
		panic("bug in the event handler")
	}
	handlers[wire.TypeJobFinished] = func(context.Context, *wire.Conn, wire.Envelope) error {
		return fmt.Errorf("%w: job belongs to another host", wire.ErrPolicyViolation)
	}
	h := newHarness(t, false, wire.Config{Handlers: handlers})
	healthy, _ := h.connect(t, wire.Config{})

	for typ, code := range map[wire.Type]int{wire.TypeJobEvent: websocket.CloseInternalServerErr, wire.TypeJobFinished: websocket.ClosePolicyViolation} {
		agent, server := h.connect(t, wire.Config{})
		if err := agent.Send(t.Context(), typ, samples()[typ]); err != nil {
			t.Fatal(err)
		}
		waitDone(t, agent, 5*time.Second)
		waitDone(t, server, 5*time.Second)
		if got := closeCode(t, agent); got != code {
			t.Errorf("%s: agent saw close %d, want %d", typ, got, code)
		}
	}
	if _, err := healthy.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
		t.Fatalf("the healthy agent suffered: %v", err)
	}
}

func TestPingKeepsAnIdleConnectionAlive(t *testing.T) {
	h := newHarness(t, false, wire.Config{PingInterval: 50 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	// The agent does not ping; the server's pings alone must keep both ends
	// inside their read timeouts.
	agent, server := h.connect(t, wire.Config{PingInterval: -1, ReadTimeout: 300 * time.Millisecond})
	time.Sleep(1200 * time.Millisecond)
	if agent.Err() != nil || server.Err() != nil {
		t.Fatalf("idle connection dropped: agent %v, server %v", agent.Err(), server.Err())
	}
	if _, err := agent.Request(t.Context(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
		t.Fatal(err)
	}
}

func TestPeerThatStopsAnsweringPingsIsDropped(t *testing.T) {
	h := newHarness(t, false, wire.Config{PingInterval: 50 * time.Millisecond, ReadTimeout: 250 * time.Millisecond})
	ws := rawDial(t, h)
	server := h.accept(t)
	rawHello(t, ws)
	ws.SetPingHandler(func(string) error { return nil }) // swallow pings, send no pongs
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	waitDone(t, server, 3*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("dead peer dropped after %s", d)
	}
	if !errors.Is(server.Err(), wire.ErrTimeout) {
		t.Fatalf("server closed with %v, want a timeout", server.Err())
	}
}

// TestSlowReaderMeetsBackpressure: a peer that stops reading must not make
// the sender buffer without bound; Send blocks and then fails with its ctx.
func TestSlowReaderMeetsBackpressure(t *testing.T) {
	stalled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		<-stalled // never read
		_ = ws.Close()
	}))
	defer srv.Close()
	defer close(stalled)

	agent, err := wire.Dial(t.Context(), "ws://"+srv.Listener.Addr().String(), testToken, wire.DialOptions{
		Config: wire.Config{SendQueue: 16, WriteTimeout: 3 * time.Second, PingInterval: -1, ReadTimeout: -1, CloseGrace: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := wire.JobEvent{JobID: "j", Kind: wire.EventLog, Data: json.RawMessage(`{"x":"` + strings.Repeat("y", 64<<10) + `"}`)}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sent := 0
	var sendErr error
	for seq := uint64(1); seq <= 5000; seq++ {
		ev.Seq = seq
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		sendErr = agent.Send(ctx, wire.TypeJobEvent, ev)
		cancel()
		if sendErr != nil {
			break
		}
		sent++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if !errors.Is(sendErr, context.DeadlineExceeded) {
		t.Fatalf("after %d sends: %v, want the send to block until its deadline", sent, sendErr)
	}
	// 16 queued frames plus whatever the kernel's socket buffers took.
	if sent > 1000 {
		t.Fatalf("%d frames of 64 KiB accepted by a peer that reads nothing", sent)
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB", grew>>20)
	}
	_ = agent.Close("done")
	waitDone(t, agent, 10*time.Second)
}
