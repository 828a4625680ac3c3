package alert

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// clock is the engine's settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// sent is one Send call the fake channels received.
type sent struct {
	channel string
	n       notify.Notification
}

// fakeChannels stands in for the channel registry in these unit tests,
// which need to make channels fail on demand and to see every
// notification; the real registry, its plugins and real receivers are
// tested together end to end in core/cmd/restic-manager.
type fakeChannels struct {
	mu   sync.Mutex
	fail map[string]error
	got  []sent
}

func (f *fakeChannels) Send(_ context.Context, channel string, n notify.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if channel == "nope" {
		return fmt.Errorf("%w %q", ErrUnknownChannel, channel)
	}
	if err := f.fail[channel]; err != nil {
		return err
	}
	f.got = append(f.got, sent{channel, n})
	return nil
}

func (f *fakeChannels) setFail(channel string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[channel] = err
}

// harness is an engine over a real store with a settable clock, driven
// step by step from the test's goroutine (the engine's own goroutine is
// not started): each step is what the engine does for one event.
type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	clock *clock
	chans *fakeChannels
	e     *Engine
	done  chan Delivery
}

func newHarness(t *testing.T, tune func(*Options)) *harness {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	h := &harness{
		t: t, ctx: context.Background(), db: db, clock: &clock{now: t0},
		chans: &fakeChannels{fail: map[string]error{}}, done: make(chan Delivery, 100),
	}
	opts := Options{
		Store: db, Channels: h.chans, Now: h.clock.Now, PublicURL: "https://backup.example.com",
		Retries: 1, RetryBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OnDelivered: func(d Delivery) { h.done <- d },
	}
	if tune != nil {
		tune(&opts)
	}
	h.e = New(opts)
	t.Cleanup(h.e.Close)
	return h
}

// await waits for n deliveries to end, hands their outcomes to the engine
// as its goroutine would, and returns them.
func (h *harness) await(n int) []Delivery {
	h.t.Helper()
	var out []Delivery
	for len(out) < n {
		select {
		case d := <-h.done:
			out = append(out, d)
		case <-time.After(5 * time.Second):
			h.t.Fatalf("waited for %d deliveries, got %d: %+v", n, len(out), out)
		}
	}
	for range out {
		h.e.onDelivery(h.ctx, <-h.e.results)
	}
	return out
}

// quiet checks that nothing more is delivered.
func (h *harness) quiet() {
	h.t.Helper()
	select {
	case d := <-h.done:
		h.t.Fatalf("unexpected delivery %+v", d)
	case <-time.After(150 * time.Millisecond):
	}
}

// sentTo returns what the channel took so far.
func (h *harness) sentTo(channel string) []notify.Notification {
	h.chans.mu.Lock()
	defer h.chans.mu.Unlock()
	var out []notify.Notification
	for _, s := range h.chans.got {
		if s.channel == channel {
			out = append(out, s.n)
		}
	}
	return out
}

// addRule stores a rule made through the API, created now.
func (h *harness) addRule(in rule.Input) string {
	h.t.Helper()
	s, err := rule.Parse(in)
	if err != nil {
		h.t.Fatal(err)
	}
	r := ToStore(s, auth.NewID(), h.clock.Now())
	if err := h.db.CreateAlertRule(h.ctx, r); err != nil {
		h.t.Fatal(err)
	}
	return r.ID
}

// addHost enrolls a host with tags, enrolled (and online) now.
func (h *harness) addHost(name string, tags ...string) string {
	h.t.Helper()
	tok := auth.NewID()
	now := h.clock.Now()
	if err := h.db.CreateEnrollmentToken(h.ctx, store.EnrollmentToken{
		ID: tok, TokenHash: "hash-" + tok, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UsesTotal: 1, Tags: tags,
	}); err != nil {
		h.t.Fatal(err)
	}
	id := auth.NewID()
	if _, err := h.db.RedeemEnrollmentToken(h.ctx, store.Enrollment{
		TokenHash: "hash-" + tok, Host: store.Host{ID: id, Name: name, Hostname: name}, CredentialID: auth.NewID(),
		SecretHash: "secret-" + id, Now: now,
	}); err != nil {
		h.t.Fatal(err)
	}
	h.setStatus(id, store.HostOnline)
	return id
}

func (h *harness) setStatus(hostID, status string) {
	h.t.Helper()
	if err := h.db.SetHostStatus(h.ctx, hostID, status, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) addRepo(name string) string {
	h.t.Helper()
	id := auth.NewID()
	now := h.clock.Now()
	if err := h.db.CreateRepository(h.ctx, store.Repository{ID: id, Name: name, URL: "/srv/" + name, CreatedAt: now, UpdatedAt: now}); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// endJob records a job of kind that ended now with status, and tells the
// engine (as the hub's FinishJob does) and lets it evaluate.
func (h *harness) endJob(hostID, repoID, kind, status, msg string) string {
	h.t.Helper()
	id := auth.NewID()
	now := h.clock.Now()
	if err := h.db.CreateJob(h.ctx, store.Job{ID: id, HostID: hostID, Kind: kind, Status: store.JobQueued, RepositoryID: repoID, CreatedAt: now}); err != nil {
		h.t.Fatal(err)
	}
	code := 0
	if status == store.JobFailed {
		code = 1
	}
	if err := h.db.FinishJob(h.ctx, id, store.JobEnd{Status: status, ExitCode: &code, Error: msg, At: now}); err != nil {
		h.t.Fatal(err)
	}
	h.e.onJobEnd(h.ctx, jobEnd{id: id, at: time.Now()})
	return id
}

func (h *harness) alerts(f store.AlertFilter) []store.Alert {
	h.t.Helper()
	f.Limit = 100
	as, err := h.db.ListAlerts(h.ctx, f)
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

func (h *harness) onlyAlert(f store.AlertFilter) store.Alert {
	h.t.Helper()
	as := h.alerts(f)
	if len(as) != 1 {
		h.t.Fatalf("%d alerts for %+v, want 1: %+v", len(as), f, as)
	}
	return as[0]
}

func (h *harness) auditActions() []string {
	h.t.Helper()
	es, err := h.db.ListAudit(h.ctx, store.AuditFilter{Action: "alert.", Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	slices.Reverse(out)
	return out
}

func channelsOf(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Channel)
	}
	slices.Sort(out)
	return out
}

func requireContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

var errRefused = errors.New("server answered 503 Service Unavailable")
