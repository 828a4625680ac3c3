// Package restictest holds what the backend-restic tests share: finding
// the real restic binary they drive, random test data, and a look at the
// processes running on the machine. Only tests import it.
package restictest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
)

var (
	findOnce sync.Once
	found    string
	findErr  error
)

// Binary returns the absolute path of the real restic the tests drive:
// $RESTIC_BINARY, else restic in $PATH, else $(go env GOPATH)/bin/restic.
// Without one the test fails, saying how to install it.
func Binary(t testing.TB) string {
	t.Helper()
	findOnce.Do(func() {
		var cands []string
		if p := os.Getenv("RESTIC_BINARY"); p != "" {
			cands = append(cands, p)
		}
		cands = append(cands, "restic")
		exe := "restic"
		if runtime.GOOS == "windows" {
			exe += ".exe"
		}
		for _, gp := range filepath.SplitList(build.Default.GOPATH) {
			cands = append(cands, filepath.Join(gp, "bin", exe))
		}
		for _, c := range cands {
			if p, err := restic.Find(c); err == nil {
				found = p
				return
			}
		}
		findErr = fmt.Errorf("no restic binary (tried %s): run scripts/install-restic.sh "+
			"and set RESTIC_BINARY to the path it prints", strings.Join(cands, ", "))
	})
	if findErr != nil {
		t.Fatal(findErr)
	}
	return found
}

// Binaries returns Binary and every restic named in
// $RESTIC_EXTRA_BINARIES (a PATH-style list), for tests that check output
// parsing against several restic releases, such as Debian's 0.14.0:
//
//	RESTIC_EXTRA_BINARIES=/opt/restic-0.14.0/restic go test ./plugins/backend-restic/...
//
// A listed binary that cannot be used fails the test.
func Binaries(t testing.TB) []string {
	t.Helper()
	out := []string{Binary(t)}
	for _, p := range filepath.SplitList(os.Getenv("RESTIC_EXTRA_BINARIES")) {
		if p == "" {
			continue
		}
		abs, err := restic.Find(p)
		if err != nil {
			t.Fatalf("RESTIC_EXTRA_BINARIES: %s: %v", p, err)
		}
		out = append(out, abs)
	}
	return out
}

// Password returns a fresh random repository password.
func Password(t testing.TB) string {
	t.Helper()
	return "pw-" + hex.EncodeToString(RandomBytes(t, 12))
}

// RandomBytes returns n random bytes, which restic can neither compress
// nor deduplicate.
func RandomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteFile writes data to path, creating its directories.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// WriteRandomFile writes size random bytes to path, a MiB at a time.
func WriteRandomFile(t testing.TB, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path) //nolint:gosec // G304: a test file in a temp dir
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, len(buf))
		if _, err := rand.Read(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		size -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Proc is a live process as /proc shows it.
type Proc struct {
	PID     int
	Argv    []string
	Environ []string
}

// ErrNoProc is what Procs returns where there is no /proc to read.
var ErrNoProc = errors.New("listing processes needs Linux's /proc")

// Procs lists the live (not zombie) processes other than this one, with
// their argv and, where readable, environment. It may be called from any
// goroutine. Linux only: elsewhere it returns ErrNoProc.
func Procs() ([]Proc, error) {
	if runtime.GOOS != "linux" {
		return nil, ErrNoProc
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")) //nolint:gosec // G304: /proc
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a kernel thread
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat")) //nolint:gosec // G304: /proc
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		environ, _ := os.ReadFile(filepath.Join(dir, "environ")) //nolint:gosec // G304: /proc
		out = append(out, Proc{PID: pid, Argv: split0(cmdline), Environ: split0(environ)})
	}
	return out, nil
}

// Mentions reports whether p's argv or environment contains s.
func (p Proc) Mentions(s string) bool {
	for _, a := range append(append([]string(nil), p.Argv...), p.Environ...) {
		if strings.Contains(a, s) {
			return true
		}
	}
	return false
}

func split0(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}
