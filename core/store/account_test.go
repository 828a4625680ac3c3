package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestDeleteOtherSessionsKeepsOne(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for _, u := range []User{testUser("u1", "alice", RoleViewer), testUser("u2", "bob", RoleViewer)} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for i, owner := range []string{"u1", "u1", "u1", "u2"} {
		id := fmt.Sprint("s", i)
		if err := db.CreateSession(ctx, Session{
			ID: id, TokenHash: "tok-" + id, CSRFHash: "csrf-" + id, UserID: owner,
			CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteOtherSessions(ctx, "u1", "s1"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"s0": false, "s1": true, "s2": false, "s3": true} {
		_, _, err := db.GetSessionByHash(ctx, "tok-"+id)
		if got := err == nil; got != want {
			t.Errorf("session %s exists = %v (%v), want %v", id, got, err, want)
		}
	}
	if err := db.DeleteOtherSessions(ctx, "u1", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.GetSessionByHash(ctx, "tok-s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("with no session to keep, s1 is still there: %v", err)
	}
	if _, _, err := db.GetSessionByHash(ctx, "tok-s3"); err != nil {
		t.Errorf("bob's session went with alice's: %v", err)
	}
}

func TestListHostsByEnrollmentToken(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	many := newEnrollToken(t, db, "many", 3, time.Hour)
	other := newEnrollToken(t, db, "other", 1, time.Hour)
	for i, name := range []string{"web2", "web1"} {
		if _, err := db.RedeemEnrollmentToken(ctx, enrollment(many, "h"+name, name, t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RedeemEnrollmentToken(ctx, enrollment(other, "hdb", "db1", t0)); err != nil {
		t.Fatal(err)
	}
	names := func(tokenID string, limit int) string {
		t.Helper()
		hosts, err := db.ListHostsByEnrollmentToken(ctx, tokenID, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hosts {
			out = append(out, h.Name)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		token string
		limit int
		want  string
	}{
		{"many", 10, "[web2 web1]"}, // in the order they enrolled
		{"many", 1, "[web2]"},
		{"other", 10, "[db1]"},
		{"unused", 10, "[]"},
	} {
		if got := names(tc.token, tc.limit); got != tc.want {
			t.Errorf("hosts of %s (limit %d) = %s, want %s", tc.token, tc.limit, got, tc.want)
		}
	}
}

func TestAuditOutcomeFilter(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for i, outcome := range []string{"success", "denied", "failure", "denied"} {
		if err := db.AppendAudit(ctx, AuditEntry{
			Time: t0.Add(time.Duration(i) * time.Second), ActorKind: "user", ActorName: "alice",
			Action: fmt.Sprint("a", i), Outcome: outcome,
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ListAudit(ctx, AuditFilter{Outcome: "denied", Actor: "alice", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range got {
		actions = append(actions, e.Action)
	}
	if fmt.Sprint(actions) != "[a3 a1]" {
		t.Errorf("denied entries = %v, want [a3 a1]", actions)
	}
}
