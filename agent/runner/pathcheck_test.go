package runner

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// TestPathCheckOverTheConnection asks the real agent about paths over its
// real connection and checks each answer, and that the probe leaves
// nothing behind.
func TestPathCheckOverTheConnection(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	startAgent(t, srv)
	srv.waitConnected(1)

	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(base, "read-only")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(readOnly, 0o755) }) //nolint:gosec // G302: t.TempDir must be able to remove it
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// root may create files in a 0555 directory: the probe tells the
	// truth either way.
	root := os.Geteuid() == 0

	ask := func(path string) wire.PathCheckResult {
		t.Helper()
		reply := srv.request(wire.TypePathCheck, wire.PathCheck{Path: path})
		if reply.Type != wire.TypePathCheckResult {
			t.Fatalf("path_check %s answered %s", path, reply.Type)
		}
		var res wire.PathCheckResult
		if err := reply.DecodePayload(&res); err != nil {
			t.Fatal(err)
		}
		if res.User != me.Username {
			t.Errorf("path_check %s: user %q, want %q", path, res.User, me.Username)
		}
		return res
	}
	for name, tc := range map[string]struct {
		path string
		want wire.PathCheckResult
	}{
		"writable directory":      {base, wire.PathCheckResult{Exists: true, IsDir: true, Writable: true}},
		"missing, parent exists":  {filepath.Join(base, "new", "deeper"), wire.PathCheckResult{Writable: true}},
		"a file":                  {file, wire.PathCheckResult{Exists: true}},
		"below a file":            {filepath.Join(file, "sub"), wire.PathCheckResult{}},
		"read-only directory":     {readOnly, wire.PathCheckResult{Exists: true, IsDir: true, Writable: root}},
		"missing below read-only": {filepath.Join(readOnly, "new"), wire.PathCheckResult{Writable: root}},
	} {
		got := ask(tc.path)
		tc.want.Path, tc.want.User = tc.path, me.Username
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", name, got, tc.want)
		}
	}
	if got := ask("relative/dir"); got.Error == "" || got.Exists || got.Writable {
		t.Errorf("a relative path: %+v; want an error", got)
	}

	// Nothing was created by the probes.
	for _, dir := range []string{base, readOnly} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{base: 2, readOnly: 0}[dir]
		if len(ents) != want {
			t.Errorf("%s holds %d entries after the checks, want %d: %v", dir, len(ents), want, ents)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check of a missing path created it: %v", err)
	}

	// A malformed request is an invalid-request error, and the agent stays
	// connected.
	c := srv.current()
	_, err = c.Request(t.Context(), wire.TypePathCheck, wire.PathCheck{Path: ""})
	var perr *wire.Error
	if !errors.As(err, &perr) || perr.Code != wire.CodeInvalid {
		t.Errorf("an empty path: %v; want an invalid error", err)
	}
	if got := ask(base); !got.Writable {
		t.Errorf("after the bad request: %+v", got)
	}
}

// TestCheckPathNotRoot: the non-root answer for a read-only directory,
// which only a test run by another user than root can observe.
func TestCheckPathNotRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories; TestPathCheckOverTheConnection covers what root sees")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) }) //nolint:gosec // G302: t.TempDir must be able to remove it
	if got := checkPath(dir); !got.Exists || !got.IsDir || got.Writable {
		t.Errorf("a 0555 directory: %+v; want exists, not writable", got)
	}
	if got := checkPath(filepath.Join(dir, "new")); got.Exists || got.Writable {
		t.Errorf("below a 0555 directory: %+v; want not writable", got)
	}
}
