package runner

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/resticcraft"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// craftedRepo is a version 1 repository the real restic made, which the
// tests add crafted snapshots to.
func craftedRepo(t *testing.T, name string) (testRepo, *resticcraft.Repo) {
	t.Helper()
	repo := newRepo(t, name)
	cmd := exec.Command(resticBinary(t), "init", "--repository-version", "1", "-r", repo.URL)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+repo.password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restic init: %v: %s", err, out)
	}
	r, err := resticcraft.Open(repo.URL, repo.password)
	if err != nil {
		t.Fatal(err)
	}
	return repo, r
}

func file(name, content string) resticcraft.Node {
	return resticcraft.Node{Name: name, Type: resticcraft.File, Content: []byte(content)}
}

func symlink(name, to string) resticcraft.Node {
	return resticcraft.Node{Name: name, Type: resticcraft.Symlink, LinkTarget: to}
}

func dir(name string, children ...resticcraft.Node) resticcraft.Node {
	return resticcraft.Node{Name: name, Type: resticcraft.Dir, Children: children}
}

// A crafted snapshot cannot write outside the restore target through the
// real agent, backend and restic: names that climb out ("../x",
// "a/../../x", "/abs/x", ".."), a symlink followed by an entry of the same
// name (restic 0.18 applies that entry's mode through the link), and
// symlinks already in the target that lead out (restic 0.14 writes through
// them). Each is refused with a reason naming the problem, and the
// sentinel directory beside the target stays as it was. A snapshot with a
// symlink leading out, and nothing below it, restores: the link is made
// inside the target and nothing is written through it.
func TestCraftedSnapshotsStayInTarget(t *testing.T) {
	srv := newTestServer(t)
	startAgent(t, srv)
	srv.waitConnected(1)
	repo, craft := craftedRepo(t, "crafted")

	sentinel := t.TempDir()
	outside := filepath.Join(sentinel, "outside")
	victim := filepath.Join(outside, "victim")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		nodes    []resticcraft.Node
		includes []string
		prepare  func(target string) // what the target holds before
		want     string              // in the job's error; "" = succeeds
	}{
		"dot-dot name":       {nodes: []resticcraft.Node{file("../esc", "x")}, want: `entry named "../esc"`},
		"climbing name":      {nodes: []resticcraft.Node{file("a/../../esc", "x")}, want: `entry named "a/../../esc"`},
		"absolute name":      {nodes: []resticcraft.Node{file(victim, "pwned")}, want: "entry named"},
		"dot-dot directory":  {nodes: []resticcraft.Node{dir("..", file("esc", "x"))}, want: `entry named ".."`},
		"link then dir":      {nodes: []resticcraft.Node{symlink("link", outside), dir("link", file("esc", "x"))}, want: `two entries at "/data/link"`},
		"link then file":     {nodes: []resticcraft.Node{symlink("f", victim), file("f", "pwned")}, want: `two entries at "/data/f"`},
		"relative link, dir": {nodes: []resticcraft.Node{symlink("r", "../../outside"), dir("r", file("esc", "x"))}, want: "two entries"},
		"include below a doubled link": {
			nodes: []resticcraft.Node{symlink("link", outside), dir("link", file("esc", "x"))}, includes: []string{"/data/link/esc"},
			want: "two entries",
		},
		"link in the target, dir in the snapshot": {
			nodes:   []resticcraft.Node{dir("link", file("esc", "x"))},
			prepare: func(target string) { mustSymlink(t, outside, filepath.Join(target, "data", "link")) },
			want:    "leads outside it",
		},
		"link in the target, file in the snapshot": {
			nodes:   []resticcraft.Node{file("f", "pwned")},
			prepare: func(target string) { mustSymlink(t, victim, filepath.Join(target, "data", "f")) },
			want:    "leads outside it",
		},
		"link in the target on the way to an include": {
			nodes: []resticcraft.Node{dir("link", file("esc", "x"))}, includes: []string{"/data/link/esc"},
			prepare: func(target string) { mustSymlink(t, outside, filepath.Join(target, "data", "link")) },
			want:    "leads outside it",
		},
		"target is a link": {
			nodes: []resticcraft.Node{file("f", "x")},
			prepare: func(target string) {
				if err := os.RemoveAll(target); err != nil {
					t.Fatal(err)
				}
				mustSymlink(t, outside, target)
			},
			want: "is a symlink",
		},
		"link leading out, nothing below": {nodes: []resticcraft.Node{symlink("link", outside), file("g", "fine")}},
		"link staying inside":             {nodes: []resticcraft.Node{file("a", "fine"), symlink("b", "a")}},
	}
	i := 0
	for name, tc := range tests {
		i++
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(victim, []byte("orig"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(victim, 0o600); err != nil {
				t.Fatal(err)
			}
			snap, err := craft.AddSnapshot("crafted", []string{"/data"}, []resticcraft.Node{dir("data", tc.nodes...)})
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(sentinel, "target", strings.ReplaceAll(name, " ", "-"))
			if err := os.MkdirAll(filepath.Join(target, "data"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.prepare != nil {
				tc.prepare(target)
			}
			params := map[string]any{"snapshots": []string{snap}, "target": target, "includes": tc.includes}
			f := runJob(t, srv, dispatchOf("contain-"+randomHex(t, 4), "restore", repo, params), 60*time.Second)
			switch {
			case tc.want == "":
				mustSucceed(t, f)
			case f.Status != wire.StatusFailed || !strings.Contains(f.Error, tc.want):
				t.Errorf("restore: %s %q; want failed mentioning %q", f.Status, f.Error, tc.want)
			}
			assertOutsideUntouched(t, outside, victim)
		})
	}
	// Nothing appeared beside the targets either.
	ents, err := os.ReadDir(sentinel)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "outside" && e.Name() != "target" {
			t.Errorf("%s appeared beside the targets", filepath.Join(sentinel, e.Name()))
		}
	}
}

func mustSymlink(t *testing.T, to, at string) {
	t.Helper()
	if err := os.Symlink(to, at); err != nil {
		t.Fatal(err)
	}
}

// assertOutsideUntouched checks that outside holds only the victim file,
// with its content and mode unchanged.
func assertOutsideUntouched(t *testing.T, outside, victim string) {
	t.Helper()
	_ = filepath.WalkDir(outside, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != outside && p != victim {
			t.Errorf("%s was written outside the target", p)
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	if err != nil || !bytes.Equal(b, []byte("orig")) {
		t.Errorf("the file outside the target was changed: %q, %v", b, err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the mode of the file outside the target was changed: %v, %v", fi.Mode(), err)
	}
}
