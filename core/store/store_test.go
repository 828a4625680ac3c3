package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testUser(id, name, role string) User {
	return User{ID: id, Username: name, PasswordHash: "$argon2id$x", Role: role, CreatedAt: t0, UpdatedAt: t0}
}

func TestMigrationsCreateSchema(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	want := []string{
		"users", "sessions", "api_tokens", "webauthn_credentials", "hosts", "enrollment_tokens",
		"agent_credentials", "repositories", "credentials", "schedules", "jobs", "job_logs", "snapshots",
		"alerts", "alert_rules", "notification_channels", "audit_log", "settings",
	}
	for _, table := range want {
		var name string
		err := db.r.QueryRow(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&name)
		if err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	var v int
	if err := db.r.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != SchemaVersion() || v < 1 {
		t.Fatalf("user_version = %d, %v; want %d", v, err, SchemaVersion())
	}
	var mode string
	if err := db.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.r.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("reader foreign_keys = %d, %v", fk, err)
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rm.db")
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, testUser("u1", "alice", RoleAdmin)); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.GetUserByName(ctx, "ALICE"); err != nil {
		t.Fatalf("user lost across reopen: %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rm.db")
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	_, err = Open(ctx, path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open on a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	err := db.CreateSession(context.Background(), Session{
		ID: "s", TokenHash: "h", CSRFHash: "c", UserID: "nobody",
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour),
	})
	if err == nil {
		t.Fatal("session for a missing user was accepted")
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for i, name := range []string{"carol", "alice", "bob"} {
		if err := db.CreateUser(ctx, testUser(fmt.Sprint("u", i), name, RoleViewer)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateUser(ctx, testUser("u9", "Alice", RoleViewer)); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate username (other case): err = %v, want ErrConflict", err)
	}
	page, err := db.ListUsers(ctx, "", 2)
	if err != nil || len(page) != 2 || page[0].Username != "alice" || page[1].Username != "bob" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	page, err = db.ListUsers(ctx, page[1].Username, 2)
	if err != nil || len(page) != 1 || page[0].Username != "carol" {
		t.Fatalf("second page = %+v, %v", page, err)
	}
	role, disabled := RoleOperator, true
	if err := db.CreateSession(ctx, Session{
		ID: "s1", TokenHash: "h1", CSRFHash: "c", UserID: "u1",
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	u, err := db.UpdateUser(ctx, "u1", UserPatch{Role: &role, Disabled: &disabled}, t0.Add(time.Minute))
	if err != nil || u.Role != RoleOperator || !u.Disabled || !u.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("update = %+v, %v", u, err)
	}
	if _, _, err := db.GetSessionByHash(ctx, "h1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session of a disabled user survived: %v", err)
	}
	if _, err := db.UpdateUser(ctx, "nope", UserPatch{Role: &role}, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing user: %v", err)
	}
	if err := db.DeleteUser(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUser(ctx, "u2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user still there: %v", err)
	}
}

func TestBootstrapExactlyOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := testUser(fmt.Sprint("admin", i), fmt.Sprint("admin", i), RoleAdmin)
			tok := APIToken{ID: fmt.Sprint("t", i), UserID: u.ID, Name: "bootstrap", TokenHash: fmt.Sprint("h", i), CreatedAt: t0}
			errs[i] = db.Bootstrap(ctx, u, tok)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, ErrAlreadyBootstrapped):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	users, _ := db.ListUsers(ctx, "", 100)
	if wins != 1 || len(users) != 1 {
		t.Fatalf("wins = %d, users = %d; want exactly one", wins, len(users))
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	_ = db.CreateUser(ctx, testUser("u1", "alice", RoleAdmin))
	_ = db.CreateUser(ctx, testUser("u2", "bob", RoleAdmin))
	for i := range 3 {
		if err := db.CreateAPIToken(ctx, APIToken{
			ID: fmt.Sprint("t", i), UserID: "u1", Name: "ci",
			TokenHash: fmt.Sprint("h", i), CreatedAt: t0.Add(time.Duration(i) * time.Second),
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.CreateAPIToken(ctx, APIToken{ID: "tb", UserID: "u2", Name: "b", TokenHash: "hb", CreatedAt: t0})
	tok, u, err := db.GetAPITokenByHash(ctx, "h1")
	if err != nil || tok.ID != "t1" || u.Username != "alice" {
		t.Fatalf("by hash = %+v %+v %v", tok, u, err)
	}
	page, err := db.ListAPITokens(ctx, "u1", "", 2)
	if err != nil || len(page) != 2 || page[0].ID != "t2" || page[1].ID != "t1" {
		t.Fatalf("page 1 = %+v %v", page, err)
	}
	page, err = db.ListAPITokens(ctx, "u1", "t1", 2)
	if err != nil || len(page) != 1 || page[0].ID != "t0" {
		t.Fatalf("page 2 = %+v %v", page, err)
	}
	all, _ := db.ListAPITokens(ctx, "", "", 10)
	if len(all) != 4 {
		t.Fatalf("all tokens = %d, want 4", len(all))
	}
	if err := db.RevokeAPIToken(ctx, "t1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAPIToken(ctx, "t1", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	tok, _ = db.GetAPIToken(ctx, "t1")
	if tok.RevokedAt == nil || !tok.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked_at = %v, want the first revocation time", tok.RevokedAt)
	}
	if err := db.RevokeAPIToken(ctx, "missing", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke missing: %v", err)
	}
}

func TestSessionsExpire(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	_ = db.CreateUser(ctx, testUser("u1", "alice", RoleAdmin))
	mk := func(id string, seen, expires time.Time) {
		if err := db.CreateSession(ctx, Session{
			ID: id, TokenHash: "h" + id, CSRFHash: "c", UserID: "u1",
			CreatedAt: t0, LastSeenAt: seen, ExpiresAt: expires,
		}); err != nil {
			t.Fatal(err)
		}
	}
	mk("fresh", t0, t0.Add(time.Hour))
	mk("idle", t0.Add(-2*time.Hour), t0.Add(time.Hour))
	mk("old", t0, t0.Add(-time.Second))
	n, err := db.DeleteStaleSessions(ctx, t0, t0.Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v; want 2", n, err)
	}
	if _, _, err := db.GetSessionByHash(ctx, "hfresh"); err != nil {
		t.Fatalf("fresh session gone: %v", err)
	}
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	add := func(actor, action, target string, at time.Time) {
		if err := db.AppendAudit(ctx, AuditEntry{
			Time: at, ActorKind: "user", ActorName: actor, Action: action,
			TargetKind: "user", TargetID: target, Outcome: "success", Detail: map[string]any{"k": "v"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	add("alice", "user.create", "u2", t0)
	add("alice", "token.create", "t1", t0.Add(time.Minute))
	add("bob", "user.update", "u2", t0.Add(2*time.Minute))
	cases := map[string]struct {
		f    AuditFilter
		want []string
	}{
		"all newest first": {AuditFilter{Limit: 10}, []string{"user.update", "token.create", "user.create"}},
		"by actor":         {AuditFilter{Actor: "alice", Limit: 10}, []string{"token.create", "user.create"}},
		"action prefix":    {AuditFilter{Action: "user.", Limit: 10}, []string{"user.update", "user.create"}},
		"exact action":     {AuditFilter{Action: "user.create", Limit: 10}, []string{"user.create"}},
		"target":           {AuditFilter{Target: "t1", Limit: 10}, []string{"token.create"}},
		"since/until":      {AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute), Limit: 10}, []string{"token.create"}},
		"limit":            {AuditFilter{Limit: 1}, []string{"user.update"}},
		"cursor":           {AuditFilter{Before: 2, Limit: 10}, []string{"user.create"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := db.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if fmt.Sprint(actions) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", actions, tc.want)
			}
			if got[0].Detail["k"] != "v" {
				t.Fatalf("detail lost: %+v", got[0].Detail)
			}
		})
	}
}

func TestResealAllIsAtomic(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for i := range 3 {
		if err := db.CreateCredential(ctx, Credential{
			ID: fmt.Sprint("c", i), Kind: "generic", KeyID: "old",
			Sealed: []byte("old:" + fmt.Sprint(i)), CreatedAt: t0, UpdatedAt: t0,
		}); err != nil {
			t.Fatal(err)
		}
	}
	failing := func(sealed, aad []byte) ([]byte, string, error) {
		if string(aad) == "credentials/sealed/c2" {
			return nil, "", errors.New("boom")
		}
		return append([]byte("new:"), sealed...), "new", nil
	}
	if _, err := db.ResealAll(ctx, failing, t0); err == nil {
		t.Fatal("reseal with a failing row reported success")
	}
	for i := range 3 {
		c, _ := db.GetCredential(ctx, fmt.Sprint("c", i))
		if c.KeyID != "old" {
			t.Fatalf("row c%d changed although the rotation failed", i)
		}
	}
	ok := func(sealed, aad []byte) ([]byte, string, error) { return append([]byte("new:"), sealed...), "new", nil }
	n, err := db.ResealAll(ctx, ok, t0)
	if err != nil || n != 3 {
		t.Fatalf("reseal = %d, %v", n, err)
	}
	err = db.VerifySealed(ctx, func(sealed, aad []byte) error {
		if string(sealed[:4]) != "new:" {
			return errors.New("not resealed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
