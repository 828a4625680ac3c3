package repos_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

const (
	testPassword = "correct-horse-repo-password"
	testEnvValue = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
)

func newKeyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newService(t *testing.T) (*repos.Service, *store.DB, *secrets.Keyring) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	kr := newKeyring(t)
	return repos.New(db, kr, nil), db, kr
}

func testSpec(name string) repos.Spec {
	return repos.Spec{
		Name: name, URL: "s3:s3.amazonaws.com/bucket/" + name, Password: testPassword,
		Env: map[string]string{"AWS_SECRET_ACCESS_KEY": testEnvValue, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"},
	}
}

func TestCreateSealsAndOpens(t *testing.T) {
	t.Parallel()
	svc, db, _ := newService(t)
	ctx := context.Background()
	r, err := svc.Create(ctx, testSpec("offsite"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.HasPassword || strings.Join(r.EnvKeys, ",") != "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY" || r.ManagedBy != "user" {
		t.Fatalf("created %+v", r)
	}
	_, pw, env, err := svc.RepositorySecrets(ctx, r.ID)
	if err != nil || pw != testPassword || env["AWS_SECRET_ACCESS_KEY"] != testEnvValue || len(env) != 2 {
		t.Fatalf("secrets = %q %v %v", pw, env, err)
	}

	// Sealed at rest: the raw rows hold neither secret, and their key id
	// is the keyring's.
	raw, err := sql.Open("sqlite3", "file:"+db.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT kind, key_id, sealed FROM credentials`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	kinds := map[string]bool{}
	for rows.Next() {
		var kind, keyID string
		var sealed []byte
		if err := rows.Scan(&kind, &keyID, &sealed); err != nil {
			t.Fatal(err)
		}
		kinds[kind] = true
		for _, secret := range []string{testPassword, testEnvValue, "AWS_SECRET_ACCESS_KEY"} {
			if bytes.Contains(sealed, []byte(secret)) {
				t.Errorf("%s row holds %q in the clear", kind, secret)
			}
		}
		if id, err := secrets.KeyID(sealed); err != nil || id != keyID {
			t.Errorf("%s row: key_id %q, sealed with %q (%v)", kind, keyID, id, err)
		}
	}
	if !kinds[store.KindRepositoryPassword] || !kinds[store.KindBackendEnv] || len(kinds) != 2 {
		t.Fatalf("credential kinds stored: %v", kinds)
	}
}

func TestSealedValueIsBoundToItsRow(t *testing.T) {
	t.Parallel()
	svc, db, kr := newService(t)
	ctx := context.Background()
	a, err := svc.Create(ctx, testSpec("a"))
	if err != nil {
		t.Fatal(err)
	}
	spec := testSpec("b")
	spec.Password = "the other password"
	b, err := svc.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := db.GetRepository(ctx, a.ID)
	rb, _ := db.GetRepository(ctx, b.ID)
	// Each sealed value opens under its own row's AAD only.
	if _, err := kr.Open(ra.Password.Sealed, store.CredentialAAD(ra.Password.ID)); err != nil {
		t.Fatalf("own row: %v", err)
	}
	if _, err := kr.Open(ra.Password.Sealed, store.CredentialAAD(rb.Password.ID)); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("opened under another row's AAD: %v", err)
	}

	// Copy a's sealed password into b's row, as someone with write access
	// to the database file might: b's secrets no longer open, rather than
	// silently becoming a's.
	w, err := sql.Open("sqlite3", "file:"+db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec(`UPDATE credentials SET sealed = ? WHERE id = ?`, ra.Password.Sealed, rb.Password.ID); err != nil {
		t.Fatal(err)
	}
	if _, pw, _, err := svc.RepositorySecrets(ctx, b.ID); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("copied sealed value opened as %q (%v)", pw, err)
	}
	err = db.VerifySealed(ctx, func(sealed, aad []byte) error { _, err := kr.Open(sealed, aad); return err })
	if err == nil {
		t.Fatal("the start-up check missed a copied sealed value")
	}
}

func TestSecretsSurviveKeyRotation(t *testing.T) {
	t.Parallel()
	svc, db, kr := newService(t)
	ctx := context.Background()
	r, err := svc.Create(ctx, testSpec("main"))
	if err != nil {
		t.Fatal(err)
	}
	next, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.ResealAll(ctx, func(sealed, aad []byte) ([]byte, string, error) {
		out, err := next.Reseal(sealed, aad)
		if err != nil {
			return nil, "", err
		}
		id, err := secrets.KeyID(out)
		return out, id, err
	}, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("resealed %d rows, %v", n, err)
	}
	onlyNew, err := next.WithOnly(next.ActiveID())
	if err != nil {
		t.Fatal(err)
	}
	_, pw, env, err := repos.New(db, onlyNew, nil).RepositorySecrets(ctx, r.ID)
	if err != nil || pw != testPassword || env["AWS_SECRET_ACCESS_KEY"] != testEnvValue {
		t.Fatalf("after rotation: %q %v %v", pw, env, err)
	}
	if _, _, _, err := svc.RepositorySecrets(ctx, r.ID); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("the old key alone still opens: %v", err)
	}
}

func TestUpdateReplacesSecrets(t *testing.T) {
	t.Parallel()
	svc, db, _ := newService(t)
	ctx := context.Background()
	r, err := svc.Create(ctx, testSpec("main"))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := db.GetRepository(ctx, r.ID)
	newPW, newURL := "a brand new password", "rest:https://backup:hunter2@rest.example.com/main"
	got, err := svc.Update(ctx, "main", repos.Patch{
		Password: &newPW, URL: &newURL, SetEnv: true, Env: map[string]string{"B2_ACCOUNT_KEY": "b2secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "rest:https://backup:***@rest.example.com/main" || strings.Join(got.EnvKeys, ",") != "B2_ACCOUNT_KEY" {
		t.Fatalf("updated view %+v", got)
	}
	url, pw, env, err := svc.RepositorySecrets(ctx, r.ID)
	if err != nil || url != newURL || pw != newPW || env["B2_ACCOUNT_KEY"] != "b2secret" || len(env) != 1 {
		t.Fatalf("secrets after update = %q %q %v %v", url, pw, env, err)
	}
	for _, old := range []string{before.Password.ID, before.Env.ID} {
		if _, err := db.GetCredential(ctx, old); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old credential %s survived the rotation: %v", old, err)
		}
	}

	got, err = svc.Update(ctx, r.ID, repos.Patch{SetEnv: true, Env: map[string]string{}})
	if err != nil || len(got.EnvKeys) != 0 {
		t.Fatalf("clearing env: %+v %v", got, err)
	}
	bad := ""
	if _, err := svc.Update(ctx, r.ID, repos.Patch{Password: &bad}); len(repos.Problems(err)) != 1 {
		t.Fatalf("empty password: %v", err)
	}
}

func TestManagedByConfigIsReadOnly(t *testing.T) {
	t.Parallel()
	svc, db, _ := newService(t)
	ctx := context.Background()
	now := time.Now()
	if err := db.CreateRepository(ctx, store.Repository{
		ID: "cfg1", Name: "declared", URL: "/srv/restic", ManagedBy: "config", CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	desc := "changed"
	if _, err := svc.Update(ctx, "declared", repos.Patch{Description: &desc}); !errors.Is(err, repos.ErrManagedByConfig) {
		t.Fatalf("update: %v", err)
	}
	if err := svc.Delete(ctx, "declared"); !errors.Is(err, repos.ErrManagedByConfig) {
		t.Fatalf("delete: %v", err)
	}
	if r, err := svc.Get(ctx, "cfg1"); err != nil || r.Description != "" || r.HasPassword {
		t.Fatalf("get: %+v %v", r, err)
	}
}

func TestWithoutSealer(t *testing.T) {
	t.Parallel()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := repos.New(db, nil, nil)
	if _, err := svc.Create(context.Background(), testSpec("x")); !errors.Is(err, repos.ErrNoSealer) {
		t.Fatalf("create without a sealer: %v", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", repos.MaxPasswordLen+1)
	tests := map[string]struct {
		edit  func(*repos.Spec)
		field string // "" = valid
	}{
		"valid":                   {func(*repos.Spec) {}, ""},
		"local path":              {func(s *repos.Spec) { s.URL = "/srv/restic/main" }, ""},
		"local: prefix":           {func(s *repos.Spec) { s.URL = "local:/srv/restic" }, ""},
		"windows drive":           {func(s *repos.Spec) { s.URL = `D:\restic` }, ""},
		"sftp":                    {func(s *repos.Spec) { s.URL = "sftp:user@host:/srv/restic" }, ""},
		"rest with password":      {func(s *repos.Spec) { s.URL = "rest:https://u:p@host:8000/repo" }, ""},
		"rclone":                  {func(s *repos.Spec) { s.URL = "rclone:remote:bucket" }, ""},
		"dotted name":             {func(s *repos.Spec) { s.Name = "web-01.daily_v2" }, ""},
		"empty name":              {func(s *repos.Spec) { s.Name = "" }, "name"},
		"name with slash":         {func(s *repos.Spec) { s.Name = "a/b" }, "name"},
		"name with dotdot":        {func(s *repos.Spec) { s.Name = "a..b" }, "name"},
		"name starts with dot":    {func(s *repos.Spec) { s.Name = ".hidden" }, "name"},
		"name with NUL":           {func(s *repos.Spec) { s.Name = "a\x00b" }, "name"},
		"name too long":           {func(s *repos.Spec) { s.Name = strings.Repeat("a", 65) }, "name"},
		"empty url":               {func(s *repos.Spec) { s.URL = "" }, "url"},
		"relative url":            {func(s *repos.Spec) { s.URL = "backups/main" }, "url"},
		"bare http url":           {func(s *repos.Spec) { s.URL = "https://host/repo" }, "url"},
		"unknown backend":         {func(s *repos.Spec) { s.URL = "ftp://host/repo" }, "url"},
		"prefix only":             {func(s *repos.Spec) { s.URL = "s3:" }, "url"},
		"rest without http":       {func(s *repos.Spec) { s.URL = "rest:host/repo" }, "url"},
		"relative local:":         {func(s *repos.Spec) { s.URL = "local:repo" }, "url"},
		"url with newline":        {func(s *repos.Spec) { s.URL = "/srv/a\nb" }, "url"},
		"url with NUL":            {func(s *repos.Spec) { s.URL = "/srv/a\x00" }, "url"},
		"empty password":          {func(s *repos.Spec) { s.Password = "" }, "password"},
		"password over 4 KiB":     {func(s *repos.Spec) { s.Password = long }, "password"},
		"password with NUL":       {func(s *repos.Spec) { s.Password = "a\x00b" }, "password"},
		"env key with dash":       {func(s *repos.Spec) { s.Env = map[string]string{"AWS-KEY": "v"} }, "env"},
		"env key starts digit":    {func(s *repos.Spec) { s.Env = map[string]string{"1KEY": "v"} }, "env"},
		"env key with =":          {func(s *repos.Spec) { s.Env = map[string]string{"K=V": "v"} }, "env"},
		"env value with NUL":      {func(s *repos.Spec) { s.Env = map[string]string{"KEY": "a\x00"} }, "env"},
		"env RESTIC_PASSWORD":     {func(s *repos.Spec) { s.Env = map[string]string{"RESTIC_PASSWORD": "x"} }, "env"},
		"env RESTIC_REPOSITORY":   {func(s *repos.Spec) { s.Env = map[string]string{"RESTIC_REPOSITORY": "/x"} }, "env"},
		"description with NUL":    {func(s *repos.Spec) { s.Description = "a\x00" }, "description"},
		"empty env value allowed": {func(s *repos.Spec) { s.Env = map[string]string{"KEY": ""} }, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testSpec("main")
			tc.edit(&s)
			err := repos.ValidateSpec(s)
			problems := repos.Problems(err)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			if len(problems) != 1 || problems[0].Field != tc.field {
				t.Fatalf("problems %v, want one about %s", err, tc.field)
			}
			for _, secret := range []string{s.Password, testEnvValue, "a\x00b"} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q quotes a secret", err)
				}
			}
		})
	}
	// Several problems are reported together.
	err := repos.ValidateSpec(repos.Spec{Name: "a/b", URL: "x"})
	if got := len(repos.Problems(err)); got != 3 {
		t.Fatalf("%d problems in %v, want name, url and password", got, err)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"rest:https://user:pass@host/":          "rest:https://user:***@host/",
		"rest:https://user:p:a@ss@host:8000/r":  "rest:https://user:***@host:8000/r",
		"rest:http://user@host/":                "rest:http://user@host/",
		"rest:https://host/repo":                "rest:https://host/repo",
		"s3:https://key:secret@minio:9000/b":    "s3:https://key:***@minio:9000/b",
		"sftp:user@host:/srv/restic":            "sftp:user@host:/srv/restic",
		"/srv/restic":                           "/srv/restic",
		"rest:https://host/path?x=user:pw@evil": "rest:https://host/path?x=user:pw@evil",
		"rest:https://:onlypass@host/":          "rest:https://:***@host/",
		// A password with '/', '?', '#' or '@' in it is hidden whole.
		"s3:https://AKIA:wJal/rXU+tn?F#EMI@minio:9000/b":                      "s3:https://AKIA:***@minio:9000/b",
		"rest:https://user:12/34@host/":                                       "rest:https://user:***@host/",
		"rest:https://u:p@w@host/repo@2024":                                   "rest:https://u:***@2024", // ambiguous: too much, not too little
		"rest:https://host/repo@2024":                                         "rest:https://host/repo@2024",
		"rclone::s3,access_key_id=AKIA,secret_access_key='x:y/z':bucket/path": "rclone::s3,access_key_id=***,secret_access_key=***:bucket/path",
		"rclone:remote:bucket/path":                                           "rclone:remote:bucket/path",
	}
	for in, want := range tests {
		if got := repos.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
