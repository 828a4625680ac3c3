package resticcraft_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/resticcraft"
)

func resticBin(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("RESTIC_BINARY"), "/root/go/bin/restic"} {
		if c != "" {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		}
	}
	p, err := exec.LookPath("restic")
	if err != nil {
		t.Skip("no restic binary: set RESTIC_BINARY to run restic against crafted repositories")
	}
	return p
}

// A snapshot the tool writes is one restic reads, checks (reading all
// data) and restores byte for byte.
func TestCraftedSnapshotRestores(t *testing.T) {
	bin := resticBin(t)
	repo := t.TempDir()
	env := append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD=pw", "RESTIC_CACHE_DIR="+t.TempDir())
	run := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("restic %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init", "--repository-version", "1")
	if _, err := resticcraft.Open(repo, "wrong"); err == nil || !strings.Contains(err.Error(), "wrong password?") {
		t.Errorf("open with a wrong password: %v", err)
	}
	r, err := resticcraft.Open(repo, "pw")
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.AddSnapshot("crafted", []string{"/data"}, []resticcraft.Node{
		{Name: "data", Type: resticcraft.Dir, Children: []resticcraft.Node{
			{Name: "a.txt", Type: resticcraft.File, Content: []byte("hello\n")},
			{Name: "l", Type: resticcraft.Symlink, LinkTarget: "a.txt"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := run("ls", "--json", id); !strings.Contains(out, `"path":"/data/l"`) {
		t.Errorf("restic ls does not list the crafted symlink:\n%s", out)
	}
	if out := run("check", "--read-data"); !strings.Contains(out, "no errors were found") {
		t.Errorf("restic check:\n%s", out)
	}
	target := t.TempDir()
	run("restore", id, "--target", target)
	got, err := os.ReadFile(filepath.Join(target, "data", "a.txt"))
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("restored a.txt = %q, %v", got, err)
	}
	if dest, err := os.Readlink(filepath.Join(target, "data", "l")); err != nil || dest != "a.txt" {
		t.Errorf("restored symlink l → %q, %v; want a.txt", dest, err)
	}
}
