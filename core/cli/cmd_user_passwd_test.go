package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sessionLogin logs in with a password and reports the status.
func sessionLogin(t *testing.T, srvURL, user, password string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	res, err := http.Post(srvURL+"/api/v1/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestUserPasswd(t *testing.T) {
	t.Parallel()
	srv, admin := realServer(t)
	const first, second, third = "correct horse battery", "a second long password", "the third long password"
	root := invocation{env: map[string]string{envAddr: srv.URL, envToken: admin}}

	r := root.run(t, "user", "passwd", "--current-password-file", "-", "--new-password-file", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "want exactly two lines") {
		t.Errorf("empty stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	r = invocation{env: root.env, stdin: "not the password\n" + second + "\n"}.run(t,
		"user", "passwd", "--current-password-file", "-", "--new-password-file", "-")
	if r.code != 1 || r.stderr != "Error: current_password is wrong (HTTP 403)\n" {
		t.Errorf("wrong current password: exit %d, stderr %q", r.code, r.stderr)
	}
	r = invocation{env: root.env, stdin: first + "\nshort\n"}.run(t,
		"user", "passwd", "--current-password-file", "-", "--new-password-file", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "new_password: password must be at least 12 characters") {
		t.Errorf("short new password: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := sessionLogin(t, srv.URL, "root", first); got != http.StatusOK {
		t.Fatalf("a refused change changed the password: login %d", got)
	}

	r = invocation{env: root.env, stdin: first + "\r\n" + second + "\r\n"}.run(t,
		"user", "passwd", "--current-password-file", "-", "--new-password-file", "-")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Password changed") {
		t.Fatalf("change: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := sessionLogin(t, srv.URL, "root", first); got != http.StatusUnauthorized {
		t.Errorf("old password after the change: login %d, want 401", got)
	}
	if got := sessionLogin(t, srv.URL, "root", second); got != http.StatusOK {
		t.Errorf("new password after the change: login %d, want 200", got)
	}

	// From files, the current one on standard input.
	newFile := filepath.Join(t.TempDir(), "new.pw")
	if err := os.WriteFile(newFile, []byte(third+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = invocation{env: root.env, stdin: second + "\n"}.run(t,
		"user", "passwd", "--current-password-file", "-", "--new-password-file", newFile)
	if r.code != 0 {
		t.Fatalf("change from a file: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := sessionLogin(t, srv.URL, "root", third); got != http.StatusOK {
		t.Errorf("password from the file: login %d, want 200", got)
	}

	r = root.run(t, "user", "passwd", "--new-password-file", newFile)
	if r.code != 2 || !strings.Contains(r.stderr, "--current-password-file") {
		t.Errorf("missing flag: exit %d, stderr %q", r.code, r.stderr)
	}
	r = root.run(t, "user", "passwd", "--current-password-file", "-", "--new-password-file", "-", "--new-password", "x")
	if r.code != 2 {
		t.Errorf("a password flag on the command line: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestAuditListOutcome(t *testing.T) {
	t.Parallel()
	srv, admin := realServer(t)
	for range 2 {
		if got := sessionLogin(t, srv.URL, "root", "not the password"); got != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", got)
		}
	}
	sessionLogin(t, srv.URL, "root", "correct horse battery")
	in := invocation{env: map[string]string{envAddr: srv.URL, envToken: admin}}
	r := in.run(t, "audit", "list", "--action", "login", "--outcome", "denied", "--json")
	var entries []struct{ Action, Outcome string }
	if err := json.Unmarshal([]byte(r.stdout), &entries); r.code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if len(entries) != 2 || entries[0].Outcome != "denied" || entries[1].Outcome != "denied" {
		t.Errorf("denied logins: %+v", entries)
	}
	r = in.run(t, "audit", "list", "--outcome", "maybe")
	if r.code != 2 || !strings.Contains(r.stderr, `--outcome "maybe": want success, failure or denied`) {
		t.Errorf("bad outcome: exit %d, stderr %q", r.code, r.stderr)
	}
}
