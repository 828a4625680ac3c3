package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"
)

func testCred(id, kind string) *Credential {
	return &Credential{ID: id, Kind: kind, KeyID: "k1", Sealed: []byte("sealed:" + id), CreatedAt: t0, UpdatedAt: t0}
}

func testRepo(id, name string) Repository {
	return Repository{
		ID: id, Name: name, URL: "/srv/restic/" + name,
		Password:  testCred(id+"-pw", KindRepositoryPassword),
		Env:       testCred(id+"-env", KindBackendEnv),
		CreatedAt: t0, UpdatedAt: t0,
	}
}

// credentialIDs lists every row of the credentials table.
func credentialIDs(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.r.Query(`SELECT id FROM credentials ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestRepositoryCreateGetList(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for i, name := range []string{"carol", "alice", "bob"} {
		if err := db.CreateRepository(ctx, testRepo(fmt.Sprint("r", i), name)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.GetRepository(ctx, "alice")
	if err != nil || got.ID != "r1" || got.URL != "/srv/restic/alice" || got.ManagedBy != "user" {
		t.Fatalf("by name = %+v, %v", got, err)
	}
	if got.Password == nil || string(got.Password.Sealed) != "sealed:r1-pw" || got.Password.Kind != KindRepositoryPassword ||
		got.Env == nil || got.Env.ID != "r1-env" || !got.Env.CreatedAt.Equal(t0) {
		t.Fatalf("credentials read back = %+v / %+v", got.Password, got.Env)
	}
	if got, err := db.GetRepository(ctx, "r2"); err != nil || got.Name != "bob" {
		t.Fatalf("by id = %+v, %v", got, err)
	}
	if _, err := db.GetRepository(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}

	page, err := db.ListRepositories(ctx, "", 2)
	if err != nil || len(page) != 2 || page[0].Name != "alice" || page[1].Name != "bob" {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	page, err = db.ListRepositories(ctx, "bob", 2)
	if err != nil || len(page) != 1 || page[0].Name != "carol" {
		t.Fatalf("page 2 = %+v, %v", page, err)
	}

	before := credentialIDs(t, db)
	dup := testRepo("r9", "alice")
	if err := db.CreateRepository(ctx, dup); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v, want ErrConflict", err)
	}
	if after := credentialIDs(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused create left credentials behind: %v, was %v", after, before)
	}
}

func TestRepositoryWithoutEnv(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	r := testRepo("r1", "plain")
	r.Env = nil
	if err := db.CreateRepository(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetRepository(ctx, "plain")
	if err != nil || got.Env != nil || got.Password == nil {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestRepositoryCreateIsOneTransaction(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateCredential(ctx, *testCred("taken", "generic")); err != nil {
		t.Fatal(err)
	}
	// The env row cannot be inserted: the password row written before it
	// must go too, and no repository may appear.
	r := testRepo("r1", "half")
	r.Env = testCred("taken", KindBackendEnv)
	if err := db.CreateRepository(ctx, r); err == nil {
		t.Fatal("create with a clashing credential id succeeded")
	}
	if _, err := db.GetRepository(ctx, "half"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("repository after a failed create: %v", err)
	}
	if ids := credentialIDs(t, db); fmt.Sprint(ids) != "[taken]" {
		t.Fatalf("credentials after a failed create: %v", ids)
	}

	r = testRepo("r2", "wrongkind")
	r.Password.Kind = KindBackendEnv
	if err := db.CreateRepository(ctx, r); err == nil {
		t.Fatal("a password row of the wrong kind was accepted")
	}
	if ids := credentialIDs(t, db); fmt.Sprint(ids) != "[taken]" {
		t.Fatalf("credentials after a refused kind: %v", ids)
	}
}

func TestGetRepositoryPrefersID(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	// A name may look like another repository's id; the id wins.
	if err := db.CreateRepository(ctx, testRepo("a1", "first")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRepository(ctx, testRepo("b2", "a1")); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetRepository(ctx, "a1"); err != nil || got.ID != "a1" {
		t.Fatalf("ref a1 = %+v, %v; want the repository with id a1", got, err)
	}
}

func TestRepositoryUpdateRotatesCredentials(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateRepository(ctx, testRepo("r1", "main")); err != nil {
		t.Fatal(err)
	}
	url, desc := "sftp:backup@host:/srv/restic", "offsite"
	later := t0.Add(time.Hour)
	got, err := db.UpdateRepository(ctx, "r1", RepositoryPatch{
		URL: &url, Description: &desc, Password: testCred("pw2", KindRepositoryPassword),
	}, later)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != url || got.Description != desc || got.Password.ID != "pw2" || got.Env.ID != "r1-env" || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after update: %+v", got)
	}
	if ids := credentialIDs(t, db); fmt.Sprint(ids) != "[pw2 r1-env]" {
		t.Fatalf("credentials after rotating the password: %v; the old row must be gone", ids)
	}

	got, err = db.UpdateRepository(ctx, "r1", RepositoryPatch{SetEnv: true, Env: testCred("env2", KindBackendEnv)}, later)
	if err != nil || got.Env == nil || got.Env.ID != "env2" {
		t.Fatalf("replace env: %+v, %v", got, err)
	}
	got, err = db.UpdateRepository(ctx, "r1", RepositoryPatch{SetEnv: true}, later)
	if err != nil || got.Env != nil {
		t.Fatalf("remove env: %+v, %v", got, err)
	}
	if ids := credentialIDs(t, db); fmt.Sprint(ids) != "[pw2]" {
		t.Fatalf("credentials after removing env: %v", ids)
	}

	// A failing rotation changes nothing.
	if err := db.CreateCredential(ctx, *testCred("taken", "generic")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateRepository(ctx, "r1", RepositoryPatch{URL: &desc, Password: testCred("taken", KindRepositoryPassword)}, later); err == nil {
		t.Fatal("update with a clashing credential id succeeded")
	}
	if got, _ := db.GetRepository(ctx, "r1"); got.URL != url || got.Password.ID != "pw2" {
		t.Fatalf("a failed update changed the repository: %+v", got)
	}
	if _, err := db.UpdateRepository(ctx, "missing", RepositoryPatch{URL: &url}, later); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
}

func TestRepositoryDelete(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateRepository(ctx, testRepo("r1", "main")); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.w.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO hosts (id, name, enrolled_at, created_at, updated_at) VALUES ('h1', 'web', 0, 0, 0)`)
	exec(`INSERT INTO schedules (id, name, host_id, repository_id, cron, created_at, updated_at)
		VALUES ('s1', 'nightly', 'h1', 'r1', '0 3 * * *', 0, 0)`)
	exec(`INSERT INTO jobs (id, host_id, kind, status, repository_id, created_at) VALUES ('j1', 'h1', 'backup', 'succeeded', 'r1', 0)`)

	err := db.DeleteRepository(ctx, "r1")
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("delete while a schedule uses it: %v, want ErrInUse", err)
	}
	if _, err := db.GetRepository(ctx, "r1"); err != nil {
		t.Fatalf("refused delete removed the repository: %v", err)
	}

	exec(`DELETE FROM schedules WHERE id = 's1'`)
	if err := db.DeleteRepository(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRepository(ctx, "r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted repository still there: %v", err)
	}
	if ids := credentialIDs(t, db); len(ids) != 0 {
		t.Fatalf("credentials of a deleted repository remain: %v", ids)
	}
	var repoID sql.NullString
	if err := db.r.QueryRow(`SELECT repository_id FROM jobs WHERE id = 'j1'`).Scan(&repoID); err != nil {
		t.Fatalf("the job's history went with the repository: %v", err)
	}
	if repoID.Valid {
		t.Fatalf("job still points at the deleted repository: %v", repoID.String)
	}
	if err := db.DeleteRepository(ctx, "r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}
