package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// newEnrollToken stores a token with uses and ttl from t0 and returns its hash.
func newEnrollToken(t *testing.T, db *DB, id string, uses int, ttl time.Duration, tags ...string) string {
	t.Helper()
	hash := "hash-" + id
	err := db.CreateEnrollmentToken(context.Background(), EnrollmentToken{
		ID: id, TokenHash: hash, CreatedAt: t0, ExpiresAt: t0.Add(ttl), UsesTotal: uses, Tags: tags,
	})
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

func enrollment(tokenHash, hostID, name string, at time.Time) Enrollment {
	return Enrollment{
		TokenHash:    tokenHash,
		Host:         Host{ID: hostID, Name: name, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "dev"},
		CredentialID: "cred-" + hostID,
		SecretHash:   "secret-" + hostID,
		Now:          at,
	}
}

func TestRedeemEnrollmentTokenCreatesHostAndCredential(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	hash := newEnrollToken(t, db, "tok1", 2, time.Hour, "prod", "db")

	got, err := db.RedeemEnrollmentToken(ctx, enrollment(hash, "h1", "web1", t0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenID != "tok1" || got.Host.ID != "h1" {
		t.Fatalf("enrolled %+v", got)
	}
	h, err := db.GetHost(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "web1" || h.Status != HostOffline || h.OS != "linux" || h.LastSeenAt != nil ||
		fmt.Sprint(h.Tags) != "[prod db]" || !h.EnrolledAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("host %+v", h)
	}
	authed, err := db.AuthenticateAgent(ctx, "secret-h1")
	if err != nil || authed.ID != "h1" {
		t.Fatalf("AuthenticateAgent = %+v, %v", authed, err)
	}
	tok, err := db.GetEnrollmentToken(ctx, "tok1")
	if err != nil || tok.UsesLeft != 1 || tok.UsesTotal != 2 || tok.LastUsedAt == nil {
		t.Fatalf("token after one use: %+v, %v", tok, err)
	}
}

func TestRedeemEnrollmentTokenRefusals(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()

	used := newEnrollToken(t, db, "used", 1, time.Hour)
	if _, err := db.RedeemEnrollmentToken(ctx, enrollment(used, "h1", "a", t0)); err != nil {
		t.Fatal(err)
	}
	expiring := newEnrollToken(t, db, "expiring", 5, time.Hour)
	revoked := newEnrollToken(t, db, "revoked", 5, time.Hour)
	if err := db.RevokeEnrollmentToken(ctx, "revoked", t0); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeEnrollmentToken(ctx, "revoked", t0.Add(time.Second)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := db.RevokeEnrollmentToken(ctx, "nope", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown token: %v", err)
	}

	tests := map[string]struct {
		hash string
		at   time.Time
		want error
	}{
		"used up":          {used, t0, ErrEnrollmentUsedUp},
		"expired":          {expiring, t0.Add(time.Hour), ErrEnrollmentExpired},
		"revoked":          {revoked, t0, ErrEnrollmentRevoked},
		"unknown":          {"hash-unknown", t0, ErrNotFound},
		"expired, revoked": {revoked, t0.Add(2 * time.Hour), ErrEnrollmentRevoked},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := db.RedeemEnrollmentToken(ctx, enrollment(tc.hash, "x-"+name, "x", tc.at))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, err := db.GetHost(ctx, "x-"+name); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a refused redemption left a host behind: %v", err)
			}
		})
	}
	if tok, _ := db.GetEnrollmentToken(ctx, "expiring"); tok.UsesLeft != 5 {
		t.Fatalf("a refused redemption took a use: %+v", tok)
	}
}

func TestConcurrentRedeemsOfOneUseTokenMakeOneHost(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	hash := newEnrollToken(t, db, "once", 1, time.Hour)

	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = db.RedeemEnrollmentToken(ctx, enrollment(hash, fmt.Sprintf("h%d", i), "same", t0))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrEnrollmentUsedUp):
			t.Errorf("unexpected error: %v", err)
		}
	}
	hosts, err := db.ListHosts(ctx, HostFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(hosts) != 1 {
		t.Fatalf("%d redemptions succeeded and %d hosts exist; want exactly one of each", ok, len(hosts))
	}
}

func TestReEnrolledNameInheritsNothing(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	hash := newEnrollToken(t, db, "two", 2, time.Hour)
	if _, err := db.RedeemEnrollmentToken(ctx, enrollment(hash, "old", "web1", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RedeemEnrollmentToken(ctx, enrollment(hash, "new", "web1", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	for secret, want := range map[string]string{"secret-old": "old", "secret-new": "new"} {
		h, err := db.AuthenticateAgent(ctx, secret)
		if err != nil || h.ID != want {
			t.Fatalf("credential %s authenticates as %q (%v), want %q", secret, h.ID, err, want)
		}
	}
	for _, id := range []string{"old", "new"} {
		creds, err := db.ListAgentCredentials(ctx, id)
		if err != nil || len(creds) != 1 || creds[0].SecretHash != "secret-"+id {
			t.Fatalf("credentials of %s: %+v, %v", id, creds, err)
		}
	}
	same, err := db.GetHostsByName(ctx, "web1")
	if err != nil || len(same) != 2 || same[0].ID != "old" || same[1].ID != "new" {
		t.Fatalf("hosts named web1: %+v, %v", same, err)
	}

	// Revoking the new host leaves the old one working, and the other way round.
	if err := db.RevokeHost(ctx, "new", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AuthenticateAgent(ctx, "secret-new"); !errors.Is(err, ErrAgentRevoked) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked host's credential: %v", err)
	}
	if h, err := db.AuthenticateAgent(ctx, "secret-old"); err != nil || h.ID != "old" {
		t.Fatalf("the old host lost its credential when the new one was revoked: %v", err)
	}
}

func TestRevokeHost(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	hash := newEnrollToken(t, db, "t", 1, time.Hour)
	if _, err := db.RedeemEnrollmentToken(ctx, enrollment(hash, "h1", "web1", t0)); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateHostHello(ctx, "h1", HostHello{Hostname: "web1", OS: "linux"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeHost(ctx, "h1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeHost(ctx, "h1", t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := db.RevokeHost(ctx, "nope", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown host: %v", err)
	}
	h, err := db.GetHost(ctx, "h1")
	if err != nil || h.Status != HostRevoked {
		t.Fatalf("host after revoke: %+v, %v", h, err)
	}
	creds, _ := db.ListAgentCredentials(ctx, "h1")
	if len(creds) != 1 || creds[0].RevokedAt == nil || !creds[0].RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("credentials after revoke: %+v", creds)
	}
	if _, err := db.AuthenticateAgent(ctx, "secret-h1"); !errors.Is(err, ErrAgentRevoked) {
		t.Fatalf("AuthenticateAgent after revoke: %v", err)
	}
	if _, err := db.AuthenticateAgent(ctx, "secret-unknown"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrAgentRevoked) {
		t.Fatalf("AuthenticateAgent with an unknown credential: %v", err)
	}
	// Nothing brings a revoked host back.
	if err := db.UpdateHostHello(ctx, "h1", HostHello{Hostname: "web1"}, t0.Add(time.Hour)); !errors.Is(err, ErrAgentRevoked) {
		t.Fatalf("hello from a revoked host: %v", err)
	}
	if err := db.SetHostStatus(ctx, "h1", HostOnline, t0.Add(time.Hour)); !errors.Is(err, ErrAgentRevoked) {
		t.Fatalf("SetHostStatus on a revoked host: %v", err)
	}
	if h, _ := db.GetHost(ctx, "h1"); h.Status != HostRevoked {
		t.Fatalf("status %q after a late hello", h.Status)
	}
}

func TestHostHelloAndStatus(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	hash := newEnrollToken(t, db, "t", 3, time.Hour)
	for _, id := range []string{"h1", "h2"} {
		if _, err := db.RedeemEnrollmentToken(ctx, enrollment(hash, id, id, t0)); err != nil {
			t.Fatal(err)
		}
	}
	hello := HostHello{
		Hostname: "h1.example.com", OS: "linux", Arch: "arm64", AgentVersion: "1.2.3",
		ResticVersion: "0.18.1", Backends: []string{"restic"},
	}
	seen := t0.Add(time.Minute)
	if err := db.UpdateHostHello(ctx, "h1", hello, seen); err != nil {
		t.Fatal(err)
	}
	h, _ := db.GetHost(ctx, "h1")
	if h.Status != HostOnline || h.Name != "h1" || h.Hostname != "h1.example.com" || h.Arch != "arm64" ||
		h.ResticVersion != "0.18.1" || fmt.Sprint(h.Backends) != "[restic]" || h.LastSeenAt == nil || !h.LastSeenAt.Equal(seen) {
		t.Fatalf("host after hello: %+v", h)
	}
	if err := db.UpdateHostHello(ctx, "nope", hello, seen); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrAgentRevoked) {
		t.Fatalf("hello for an unknown host: %v", err)
	}

	if err := db.SetHostStatus(ctx, "h1", HostOffline, seen.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	h, _ = db.GetHost(ctx, "h1")
	if h.Status != HostOffline || !h.LastSeenAt.Equal(seen) {
		t.Fatalf("offline keeps last_seen: %+v", h)
	}
	if err := db.SetHostStatus(ctx, "h1", HostOnline, seen.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	h, _ = db.GetHost(ctx, "h1")
	if h.Status != HostOnline || !h.LastSeenAt.Equal(seen.Add(2*time.Minute)) {
		t.Fatalf("online records last_seen: %+v", h)
	}
	if err := db.SetHostStatus(ctx, "h1", HostRevoked, seen); err == nil {
		t.Fatal("SetHostStatus accepted revoked")
	}
	if err := db.SetHostStatus(ctx, "nope", HostOnline, seen); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetHostStatus on an unknown host: %v", err)
	}

	if err := db.SetHostStatus(ctx, "h2", HostOnline, t0); err != nil {
		t.Fatal(err)
	}
	n, err := db.MarkStaleHostsOffline(ctx, seen, seen)
	if err != nil || n != 1 {
		t.Fatalf("MarkStaleHostsOffline = %d, %v; want 1 (h2 only)", n, err)
	}
	if h, _ := db.GetHost(ctx, "h2"); h.Status != HostOffline {
		t.Fatalf("h2 is %s", h.Status)
	}
	if h, _ := db.GetHost(ctx, "h1"); h.Status != HostOnline {
		t.Fatalf("h1 is %s", h.Status)
	}
}

func TestListHostsFiltersAndPages(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	hash := newEnrollToken(t, db, "t", 10, time.Hour)
	for i, name := range []string{"c", "a", "b", "a"} {
		if _, err := db.RedeemEnrollmentToken(ctx, enrollment(hash, fmt.Sprintf("h%d", i), name, t0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RevokeHost(ctx, "h2", t0); err != nil {
		t.Fatal(err)
	}
	var names []string
	after := ""
	for {
		page, err := db.ListHosts(ctx, HostFilter{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page {
			names = append(names, h.Name+"/"+h.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(names) != "[a/h1 a/h3 b/h2 c/h0]" {
		t.Fatalf("pages: %v", names)
	}
	revoked, _ := db.ListHosts(ctx, HostFilter{Status: HostRevoked, Limit: 10})
	if len(revoked) != 1 || revoked[0].ID != "h2" {
		t.Fatalf("status filter: %+v", revoked)
	}
	named, _ := db.ListHosts(ctx, HostFilter{Name: "a", Limit: 10})
	if len(named) != 2 {
		t.Fatalf("name filter: %+v", named)
	}
}

func TestListEnrollmentTokens(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, testUser("u1", "alice", RoleAdmin)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		err := db.CreateEnrollmentToken(ctx, EnrollmentToken{
			ID: fmt.Sprintf("t%d", i), TokenHash: fmt.Sprintf("h%d", i), CreatedBy: "u1",
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), ExpiresAt: t0.Add(time.Hour), UsesTotal: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := db.ListEnrollmentTokens(ctx, "", 2)
	if err != nil || len(first) != 2 || first[0].ID != "t2" || first[0].CreatedBy != "u1" || first[0].UsesLeft != 1 {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	rest, err := db.ListEnrollmentTokens(ctx, first[1].ID, 2)
	if err != nil || len(rest) != 1 || rest[0].ID != "t0" {
		t.Fatalf("second page: %+v, %v", rest, err)
	}
	// Deleting the creator keeps the token, without a creator.
	if err := db.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if tok, err := db.GetEnrollmentToken(ctx, "t0"); err != nil || tok.CreatedBy != "" {
		t.Fatalf("token after its creator was deleted: %+v, %v", tok, err)
	}
	if err := db.CreateEnrollmentToken(ctx, EnrollmentToken{ID: "dup", TokenHash: "h0", CreatedAt: t0, ExpiresAt: t0, UsesTotal: 1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate hash: %v", err)
	}
}
