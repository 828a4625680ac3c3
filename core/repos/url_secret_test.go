package repos_test

import (
	"bytes"
	"context"
	"database/sql"
	"testing"

	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/store"
)

const urlPassword = "url-pass-Secret42"

// rawDump is every text and blob the database file holds in the
// repositories and credentials tables, as someone reading the file sees it.
func rawDump(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var out bytes.Buffer
	for _, q := range []string{`SELECT url FROM repositories`, `SELECT sealed FROM credentials`} {
		rows, err := raw.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			out.Write(b)
			out.WriteByte('\n')
		}
		_ = rows.Close()
	}
	return out.Bytes()
}

func TestAURLsPasswordIsSealedAtRest(t *testing.T) {
	t.Parallel()
	svc, db, _ := newService(t)
	ctx := context.Background()
	spec := testSpec("rest")
	spec.URL = "rest:https://backup:" + urlPassword + "@rest.example:8000/rest"
	r, err := svc.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != "rest:https://backup:***@rest.example:8000/rest" {
		t.Fatalf("shown URL = %q", r.URL)
	}
	if bytes.Contains(rawDump(t, db.Path()), []byte(urlPassword)) {
		t.Fatal("the URL's password is in the database file in the clear")
	}
	url, _, _, err := svc.RepositorySecrets(ctx, r.ID)
	if err != nil || url != spec.URL {
		t.Fatalf("dispatch URL = %q, %v", url, err)
	}

	// A new URL without a password drops the sealed one; a new one with a
	// password replaces it.
	plain := "rest:https://rest.example:8000/rest"
	if _, err := svc.Update(ctx, r.ID, repos.Patch{URL: &plain}); err != nil {
		t.Fatal(err)
	}
	if url, _, _, _ := svc.RepositorySecrets(ctx, r.ID); url != plain {
		t.Fatalf("after a plain URL: %q", url)
	}
	if n := countCredentials(t, db.Path(), store.KindRepositoryURL); n != 0 {
		t.Fatalf("%d sealed URLs left after the password went", n)
	}
	again := "rest:https://other:" + urlPassword + "2@rest.example:8000/rest"
	if _, err := svc.Update(ctx, r.ID, repos.Patch{URL: &again}); err != nil {
		t.Fatal(err)
	}
	if url, _, _, _ := svc.RepositorySecrets(ctx, r.ID); url != again {
		t.Fatalf("after a new URL: %q", url)
	}
	if n := countCredentials(t, db.Path(), store.KindRepositoryURL); n != 1 {
		t.Fatalf("%d sealed URLs, want 1", n)
	}
	if err := svc.Delete(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if n := countCredentials(t, db.Path(), store.KindRepositoryURL); n != 0 {
		t.Fatalf("%d sealed URLs left after the repository went", n)
	}
}

func TestURLsStoredInTheClearAreSealedAtStart(t *testing.T) {
	t.Parallel()
	svc, db, _ := newService(t)
	ctx := context.Background()
	r, err := svc.Create(ctx, testSpec("old"))
	if err != nil {
		t.Fatal(err)
	}
	// As a server before the url_credential_id column stored it.
	old := "rest:https://backup:" + urlPassword + "@rest.example/old"
	w, err := sql.Open("sqlite3", "file:"+db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`UPDATE repositories SET url = ? WHERE id = ?`, old, r.ID); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()

	n, err := svc.SealStoredURLs(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sealed %d, %v", n, err)
	}
	if bytes.Contains(rawDump(t, db.Path()), []byte(urlPassword)) {
		t.Fatal("the URL's password is still in the clear")
	}
	if url, _, _, err := svc.RepositorySecrets(ctx, r.ID); err != nil || url != old {
		t.Fatalf("dispatch URL = %q, %v", url, err)
	}
	if n, err := svc.SealStoredURLs(ctx); err != nil || n != 0 {
		t.Fatalf("a second pass sealed %d, %v", n, err)
	}
}

func countCredentials(t *testing.T, path, kind string) int {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM credentials WHERE kind = ?`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
