package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// repoCLI runs the binary like serverProc.cli, with standard input and
// extra environment variables.
func (p *serverProc) repoCLI(t *testing.T, token, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(append(os.Environ(), "RM_ADDR=http://"+p.addr, "RM_TOKEN="+token), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// bootstrapAdmin creates the first admin and returns its API token.
func bootstrapAdmin(t *testing.T, p *serverProc) string {
	t.Helper()
	setup, err := os.ReadFile(filepath.Join(p.dataDir, "setup-token"))
	if err != nil {
		t.Fatal(err)
	}
	r := p.repoCLI(t, "", "a long admin password\n", nil,
		"bootstrap", "--setup-token", strings.TrimSpace(string(setup)), "--username", "admin", "--password-file", "-")
	if r.code != 0 {
		t.Fatalf("bootstrap: %d %s", r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func TestEndToEndRepositories(t *testing.T) {
	t.Parallel()
	const (
		password    = "e2e-repo-password-7c1d9f"
		newPassword = "e2e-rotated-password-42aa"
		envSecret   = "e2e-aws-secret-8b3e51"
		urlPassword = "e2e-url-password-c0ffee"
	)
	p := startServer(t)
	admin := bootstrapAdmin(t, p)
	pwFile := filepath.Join(t.TempDir(), "repo.pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(t.TempDir(), "repo")

	// --env K=V on the command line, --env K from the environment.
	r := p.repoCLI(t, admin, "", []string{"AWS_SECRET_ACCESS_KEY=" + envSecret},
		"repo", "add", "--name", "local", "--url", repoDir, "--password-file", pwFile,
		"--env", "AWS_ACCESS_KEY_ID=AKIAE2E", "--env", "AWS_SECRET_ACCESS_KEY", "--description", "e2e")
	if r.code != 0 {
		t.Fatalf("repo add: exit %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if len(id) != 36 {
		t.Fatalf("repo add printed %q, want the id", r.stdout)
	}
	// The password from standard input; a URL with a password in it.
	r = p.repoCLI(t, admin, password+"\n", nil, "repo", "add", "--json", "--name", "rest",
		"--url", "rest:https://backup:"+urlPassword+"@rest.example.com/repo", "--password-file", "-")
	if r.code != 0 {
		t.Fatalf("repo add --json: exit %d %s", r.code, r.stderr)
	}
	var restRepo map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &restRepo); err != nil || restRepo["url"] != "rest:https://backup:***@rest.example.com/repo" {
		t.Fatalf("repo add --json printed %s (%v)", r.stdout, err)
	}
	if r := p.repoCLI(t, admin, "", nil, "repo", "add", "--name", "local", "--url", repoDir, "--password-file", pwFile); r.code == 0 ||
		!strings.Contains(r.stderr, "exists already") {
		t.Fatalf("duplicate repo add: exit %d %s", r.code, r.stderr)
	}

	var outputs []string
	out := p.ok(t, admin, "repo", "list", "--json")
	outputs = append(outputs, out)
	var repos []struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		URL         string   `json:"url"`
		EnvKeys     []string `json:"env_keys"`
		HasPassword bool     `json:"has_password"`
	}
	if err := json.Unmarshal([]byte(out), &repos); err != nil || len(repos) != 2 {
		t.Fatalf("repo list --json = %s (%v)", out, err)
	}
	if repos[0].ID != id || repos[0].URL != repoDir || !repos[0].HasPassword ||
		fmt.Sprint(repos[0].EnvKeys) != "[AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY]" {
		t.Fatalf("repo list --json[0] = %+v", repos[0])
	}
	outputs = append(outputs, p.ok(t, admin, "repo", "list"), p.ok(t, admin, "repo", "show", "local"),
		p.ok(t, admin, "repo", "show", id, "--json"))

	// Rotate the password; the old sealed row goes.
	pw2 := filepath.Join(t.TempDir(), "new.pw")
	if err := os.WriteFile(pw2, []byte(newPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, p.ok(t, admin, "repo", "update", "local", "--password-file", pw2, "--json"))
	outputs = append(outputs, p.ok(t, admin, "audit", "list", "--json"))
	p.ok(t, admin, "repo", "remove", "rest")
	if r := p.cli(t, admin, "repo", "show", "rest"); r.code == 0 {
		t.Fatal("a removed repository is still shown")
	}
	if r := p.cli(t, admin, "repo", "init", "local"); r.code == 0 {
		t.Fatal("repo init ran; it needs the job system")
	}

	for _, o := range outputs {
		for _, s := range []string{password, newPassword, envSecret, urlPassword} {
			if strings.Contains(o, s) {
				t.Fatalf("CLI output holds the secret %q:\n%s", s, o)
			}
		}
	}

	// Stop the server so everything is in the database file, then look
	// for the secrets in every value of every table and in the raw bytes
	// of the database and its WAL. The URL is stored as given (docs/api.md
	// says so), so the URL's password is only checked where it is not.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("server exit: %v", err)
	}
	dbPath := filepath.Join(p.dataDir, "restic-manager.db")
	sealedSecrets := []string{password, newPassword, envSecret}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(dbPath + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sealedSecrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q in the clear", filepath.Base(dbPath+suffix), s)
			}
		}
	}
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for table, values := range dumpTables(t, db) {
		for _, v := range values {
			for _, s := range sealedSecrets {
				if strings.Contains(v, s) {
					t.Errorf("table %s holds the secret %q", table, s)
				}
			}
		}
	}
	var sealedRows int
	if err := db.QueryRow(`SELECT COUNT(*) FROM credentials WHERE kind IN ('repository_password', 'backend_env')`).Scan(&sealedRows); err != nil || sealedRows != 2 {
		t.Fatalf("credentials rows = %d (%v); want the password and env of the one repository left", sealedRows, err)
	}
	for _, s := range []string{password, newPassword, envSecret, urlPassword} {
		if strings.Contains(p.log.String(), s) {
			t.Errorf("the server log holds the secret %q", s)
		}
	}
}

// dumpTables returns every value of every table as text, by table.
func dumpTables(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case string:
					out[table] = append(out[table], v)
				case []byte:
					out[table] = append(out[table], string(v))
				}
			}
		}
		rows.Close()
	}
	return out
}
