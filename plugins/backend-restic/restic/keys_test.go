package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// argvWrapper writes a shell script that records each restic command line
// (one argument per line) and, for `key add`, the mode of the password
// file it names, in log, then runs the real restic. With hold set it
// sleeps instead of running `key add`, so a test can cancel it.
func argvWrapper(t *testing.T, hold bool) (script, log string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the restic wrapper is a shell script")
	}
	dir := t.TempDir()
	log = filepath.Join(dir, "argv.log")
	script = filepath.Join(dir, "restic-wrapper")
	holdCmd := ""
	if hold {
		holdCmd = `if [ "$1" = key ] && [ "$2" = add ]; then echo holding >> "$LOG"; exec sleep 60; fi`
	}
	body := fmt.Sprintf(`#!/bin/sh
LOG=%q
echo "--- run" >> "$LOG"
for a in "$@"; do
	echo "$a" >> "$LOG"
	case "$a" in
	--new-password-file=*) echo "mode=$(stat -c %%a "${a#--new-password-file=}")" >> "$LOG" ;;
	esac
done
%s
exec %q "$@"
`, log, holdCmd, resticBinary(t))
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil { //nolint:gosec // G306: the test's own script
		t.Fatal(err)
	}
	return script, log
}

// passwordFileOf returns the --new-password-file the log records.
func passwordFileOf(t *testing.T, log string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(line, "--new-password-file="); ok {
			return f
		}
	}
	t.Fatalf("no --new-password-file in the restic command lines:\n%s", b)
	return ""
}

// keyLabels returns the user and host of the key id, from `key list` run
// with password.
func keyLabels(t *testing.T, r *Runner, repo Repository, password, id string) (user, host string) {
	t.Helper()
	repo.Password = password
	out, err := r.stdoutOf(context.Background(), repo, kindKeyList, []string{"key", "list", "--json"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []struct {
		ID       string `json:"id"`
		UserName string `json:"userName"`
		HostName string `json:"hostName"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &keys); err != nil {
		t.Fatalf("key list: %v: %s", err, out)
	}
	for _, k := range keys {
		if strings.HasPrefix(id, k.ID) {
			return k.UserName, k.HostName
		}
	}
	t.Fatalf("key list has no key %s: %s", id, out)
	return "", ""
}

// TestKeyAddRemove adds a key with the real restic, opens the repository
// with it, removes it, and removes it again.
func TestKeyAddRemove(t *testing.T) {
	t.Parallel()
	script, log := argvWrapper(t, false)
	r := newRunner(t, func(c *Config) { c.Binary = script })
	repo := newRepo(t, r)
	newPassword := randomPassword(t) + " with \"quotes\" and spaces"

	evs, _ := run(t, r, repo, KeyAddJob{NewPassword: newPassword, Host: "target-host", User: "rm-restore"})
	results := eventsOf[*KeyResult](evs)
	if len(results) != 1 || !keyIDRE.MatchString(results[0].KeyID) || len(results[0].KeyID) != 64 {
		t.Fatalf("key add: want one KeyResult with a full id, got %s", evs.dump())
	}
	id := results[0].KeyID
	for _, ev := range evs.all() {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), newPassword) || strings.Contains(string(b), `with \"quotes\"`) {
			t.Errorf("an event shows the new password: %s", b)
		}
	}

	argv, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(argv), newPassword) || strings.Contains(string(argv), repo.Password) {
		t.Errorf("a password is in restic's argv:\n%s", argv)
	}
	if !strings.Contains(string(argv), "\nmode=600\n") {
		t.Errorf("the password file is not mode 0600:\n%s", argv)
	}
	file := passwordFileOf(t, log)
	if _, err := os.Stat(filepath.Dir(file)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the password file's directory %s is still there after the run (%v)", filepath.Dir(file), err)
	}

	withNew := Repository{URL: repo.URL, Password: newPassword}
	if ok, err := r.RepositoryExists(context.Background(), withNew); !ok || err != nil {
		t.Fatalf("the new key does not open the repository: %v, %v", ok, err)
	}
	if user, host := keyLabels(t, r, repo, repo.Password, id); user != "rm-restore" || host != "target-host" {
		t.Errorf("the new key is labelled %s@%s, want rm-restore@target-host", user, host)
	}
	// The look-up older restic needs finds the same key.
	if got, err := r.keyIDByPassword(context.Background(), repo, newPassword); err != nil || got != id {
		t.Errorf("keyIDByPassword = %q, %v; want %s", got, err, id)
	}

	evs, _ = run(t, r, repo, KeyRemoveJob{ID: id})
	if rs := eventsOf[*KeyResult](evs); len(rs) != 1 || rs[0].KeyID != id || rs[0].AlreadyGone {
		t.Errorf("key remove: want KeyResult{%s, already_gone false}; events: %s", id, evs.dump())
	}
	if _, err := r.RepositoryExists(context.Background(), withNew); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("after key remove, the removed key's password: %v; want ErrWrongPassword", err)
	}

	evs, res := run(t, r, repo, KeyRemoveJob{ID: id})
	if rs := eventsOf[*KeyResult](evs); len(rs) != 1 || !rs[0].AlreadyGone || res.ExitCode != 0 {
		t.Errorf("second key remove: want already_gone and exit code 0, got %d; events: %s", res.ExitCode, evs.dump())
	}
	if errs := eventsOf[*Error](evs); len(errs) != 0 {
		t.Errorf("second key remove reported errors: %s", evs.dump())
	}
	// The repository's own key still opens it.
	if ok, err := r.RepositoryExists(context.Background(), repo); !ok || err != nil {
		t.Errorf("the repository's password after the key jobs: %v, %v", ok, err)
	}
}

// TestKeyRemoveOwnKey: restic refuses to remove the key the job opens the
// repository with, and the runner says so.
func TestKeyRemoveOwnKey(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	repo := newRepo(t, r)
	own, err := r.keyIDByPassword(context.Background(), repo, repo.Password)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), repo, KeyRemoveJob{ID: own}, nil)
	if !errors.Is(err, ErrKeyInUse) {
		t.Fatalf("removing the job's own key: %v; want ErrKeyInUse", err)
	}
	if ok, err := r.RepositoryExists(context.Background(), repo); !ok || err != nil {
		t.Errorf("the repository's password after the refused removal: %v, %v", ok, err)
	}
}

// TestKeyAddCancelRemovesPasswordFile: a key_add cancelled while restic
// runs leaves no password file behind.
func TestKeyAddCancelRemovesPasswordFile(t *testing.T) {
	t.Parallel()
	script, log := argvWrapper(t, true)
	r := newRunner(t, func(c *Config) { c.Binary = script; c.KillGrace = 2 * time.Second })
	repo := Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: randomPassword(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, repo, KeyAddJob{NewPassword: randomPassword(t)}, nil)
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "holding") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("restic key add never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	file := passwordFileOf(t, log)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the password file is not there while restic runs: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled key add: %v; want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the cancelled key add did not return")
	}
	if _, err := os.Stat(filepath.Dir(file)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the password file's directory is still there after the cancel (%v)", err)
	}
}

// TestKeyJobsRefused: bad key jobs fail before restic runs.
func TestKeyJobsRefused(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	repo := Repository{URL: filepath.Join(t.TempDir(), "none"), Password: "repo-pw"}
	for name, job := range map[string]Job{
		"no password":          KeyAddJob{},
		"trailing white space": KeyAddJob{NewPassword: "secret "},
		"the repo's password":  KeyAddJob{NewPassword: "repo-pw"},
		"control in host":      KeyAddJob{NewPassword: "x-secret", Host: "a\nb"},
		"short id":             KeyRemoveJob{ID: "abc"},
		"flag as id":           KeyRemoveJob{ID: "--remove-all"},
		"upper-case id":        KeyRemoveJob{ID: "ABCDEF0123"},
	} {
		if _, err := r.Run(context.Background(), repo, job, nil); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("%s: %v; want ErrInvalidJob", name, err)
		}
	}
}
