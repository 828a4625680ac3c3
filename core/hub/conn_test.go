package hub_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

func TestHelloMarksTheHostOnlineAndDisconnectOffline(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *hub.Options) { o.HeartbeatInterval = 7 * time.Second })
	hostID, cred := s.enroll(t, "web1")
	if got := s.hostStatus(t, hostID); got != "offline" {
		t.Fatalf("enrolled host is %s before its agent connects", got)
	}
	a, err := s.dial(t, cred)
	if err != nil {
		t.Fatal(err)
	}
	ok := a.hello()
	if ok.HostID != hostID || ok.HeartbeatIntervalS != 7 {
		t.Fatalf("hello_ok = %+v", ok)
	}
	if got := s.hostStatus(t, hostID); got != "online" {
		t.Fatalf("host is %s after hello", got)
	}
	var h struct {
		Hostname      string   `json:"hostname"`
		ResticVersion string   `json:"restic_version"`
		Backends      []string `json:"backends"`
	}
	s.call(t, "GET", "/api/v1/hosts/"+hostID, s.admin, nil, http.StatusOK, &h)
	if h.Hostname != "test-host" || h.ResticVersion != "0.18.1" || len(h.Backends) != 1 {
		t.Fatalf("host after hello = %+v", h)
	}
	if _, err := a.c.Request(context.Background(), wire.TypeHeartbeat, wire.Heartbeat{Time: time.Now()}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	_ = a.c.Close("agent stopping")
	eventually(t, "host offline after disconnect", func() bool { return s.hostStatus(t, hostID) == "offline" })
}

func TestHeartbeatTimeoutMarksTheHostOffline(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *hub.Options) { o.OfflineAfter = 400 * time.Millisecond })
	hostID, cred := s.enroll(t, "quiet")
	a := s.connect(t, cred)

	// Heartbeats keep it online past OfflineAfter.
	for range 8 {
		if _, err := a.c.Request(context.Background(), wire.TypeHeartbeat, wire.Heartbeat{Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := s.hostStatus(t, hostID); got != "online" {
		t.Fatalf("heartbeating host is %s", got)
	}
	// Silence (pings still flow) drops it.
	if code := a.closeCode(); code != websocket.CloseGoingAway {
		t.Fatalf("silent agent's connection closed with %d, want 1001", code)
	}
	eventually(t, "silent host offline", func() bool { return s.hostStatus(t, hostID) == "offline" })
}

func TestRevokeClosesTheConnectionAndRefusesReconnects(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "doomed")
	a := s.connect(t, cred)
	s.call(t, "DELETE", "/api/v1/hosts/"+hostID, s.admin, nil, http.StatusNoContent, nil)
	if code := a.closeCode(); code != wire.CloseRevoked {
		t.Fatalf("revoked agent's connection closed with %d, want %d", code, wire.CloseRevoked)
	}
	_, err := s.dial(t, cred)
	var he *wire.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized || !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("reconnect of a revoked agent: %v, want HTTP 401", err)
	}
	if got := s.hostStatus(t, hostID); got != "revoked" {
		t.Fatalf("host is %s", got)
	}
}

func TestANewConnectionReplacesTheOldOne(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "twice")
	first := s.connect(t, cred)
	second := s.connect(t, cred)
	if code := first.closeCode(); code != wire.CloseReplaced {
		t.Fatalf("first connection closed with %d, want %d", code, wire.CloseReplaced)
	}
	// The replaced connection's end does not take the host offline.
	time.Sleep(100 * time.Millisecond)
	if got := s.hostStatus(t, hostID); got != "online" {
		t.Fatalf("host is %s after a reconnect", got)
	}
	if _, err := second.c.Request(context.Background(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
		t.Fatalf("the new connection does not work: %v", err)
	}
}

func TestConnectRefusesWrongCredentials(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	for name, cred := range map[string]string{
		"unknown agent credential": "rma_0000000000000000000000000000000000000000000",
		"user API token":           s.admin,
		"garbage":                  "not-a-token",
	} {
		_, err := s.dial(t, cred)
		var he *wire.HandshakeError
		if !errors.As(err, &he) || (he.StatusCode != http.StatusUnauthorized && he.StatusCode != http.StatusForbidden) {
			t.Errorf("%s: %v, want 401 or 403", name, err)
		}
	}
}

func TestEventsBeforeHelloAreRefused(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	_, cred := s.enroll(t, "eager")
	a, err := s.dial(t, cred)
	if err != nil {
		t.Fatal(err)
	}
	_ = a.c.Send(context.Background(), wire.TypeJobEvent, wire.JobEvent{JobID: "j", Seq: 1, Kind: wire.EventLog})
	if code := a.closeCode(); code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want 1008", code)
	}
}

// slowOfflineStore delays marking a host offline, as a busy database would.
type slowOfflineStore struct {
	hub.Store
	delay time.Duration
}

func (s slowOfflineStore) SetHostStatus(ctx context.Context, id, status string, now time.Time) error {
	if status == store.HostOffline {
		time.Sleep(s.delay)
	}
	return s.Store.SetHostStatus(ctx, id, status, now)
}

func TestAReconnectIsNotOverwrittenByTheOldConnectionsOfflineWrite(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *hub.Options) { o.Store = slowOfflineStore{Store: o.Store, delay: 400 * time.Millisecond} })
	hostID, cred := s.enroll(t, "web1")
	a := s.connect(t, cred)
	_ = a.c.Close("reconnect")
	<-a.c.Done()
	// The old connection's offline write is still sleeping when the new
	// connection says hello.
	s.connect(t, cred)
	time.Sleep(800 * time.Millisecond)
	if got := s.hostStatus(t, hostID); got != "online" {
		t.Fatalf("host is %s after its agent reconnected", got)
	}
}
