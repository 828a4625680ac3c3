package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/resticcraft"
	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// resticVersion asks the configured backend which restic it drives.
func resticVersion(t *testing.T, b sdk.Backend) restic.Version {
	t.Helper()
	_, res := mustRun(t, b, sdk.Job{ID: "version", Kind: sdk.JobVersion})
	var out struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("version output %s: %v", res.Output, err)
	}
	v, err := restic.ParseVersion("restic " + out.Version)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tree lists the files below dir (relative, with their content).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func restoreArgs(snap, target string, includes []string, extra string) sdk.Args {
	a := sdk.Args{Snapshots: []string{snap}, Target: target, Includes: includes}
	if extra != "" {
		a.Extra = json.RawMessage(extra)
	}
	return a
}

// Restore options with the real restic: strip_components restores the
// includes' shared folder's contents straight into the target (restic
// 0.16+, refused plainly before), and overwrite decides what happens to a
// file the target already holds (restic 0.17+; "always", the old
// behaviour, works on every version).
func TestRestoreOptions(t *testing.T) {
	eachRestic(t, func(t *testing.T, b sdk.Backend) {
		v := resticVersion(t, b)
		repo := newRepository(t, b)
		src := filepath.Join(t.TempDir(), "src")
		restictest.WriteFile(t, filepath.Join(src, "home", "alice", "docs", "a.txt"), []byte("alpha\n"))
		restictest.WriteFile(t, filepath.Join(src, "home", "alice", "music", "b.txt"), []byte("beta\n"))
		restictest.WriteFile(t, filepath.Join(src, "home", "bob", "c.txt"), []byte("gamma\n"))
		_, res := mustRun(t, b, sdk.Job{ID: "backup", Kind: sdk.JobBackup, Repository: repo, Args: sdk.Args{Paths: []string{src}}})
		snap := res.SnapshotID

		// strip_components: /…/src/home/alice/docs/a.txt → TARGET/docs/a.txt.
		alice := filepath.Join(src, "home", "alice")
		strip := len(strings.Split(strings.Trim(alice, "/"), "/"))
		target := filepath.Join(t.TempDir(), "stripped")
		job := sdk.Job{ID: "strip", Kind: sdk.JobRestore, Repository: repo, Args: restoreArgs(snap, target,
			[]string{filepath.Join(alice, "docs", "a.txt"), filepath.Join(alice, "music")}, `{"strip_components":`+itoa(strip)+`}`)}
		evs, _, err := run(t, b, job)
		if v.AtLeast(restic.VersionRestoreSubfolder) {
			if err != nil {
				t.Fatalf("restore with strip_components: %v; events %s", err, evs.dump())
			}
			want := map[string]string{"docs/a.txt": "alpha\n", "music/b.txt": "beta\n"}
			if got := tree(t, target); !mapsEqual(got, want) {
				t.Errorf("stripped restore holds %v, want %v", got, want)
			}
		} else if !errors.Is(err, plugin.ErrUnsupported) || !strings.Contains(err.Error(), "needs restic 0.16.0 or newer") {
			t.Errorf("strip_components on restic %s: %v; want unsupported, naming 0.16.0", v, err)
		}

		// overwrite: a changed file in the target is kept with "never" and
		// replaced with "always".
		target = filepath.Join(t.TempDir(), "over")
		includes := []string{filepath.Join(alice, "docs")}
		mustRun(t, b, sdk.Job{ID: "first", Kind: sdk.JobRestore, Repository: repo, Args: restoreArgs(snap, target, includes, "")})
		restored := filepath.Join(target, alice, "docs", "a.txt")
		restictest.WriteFile(t, restored, []byte("local change\n"))
		_, _, err = run(t, b, sdk.Job{ID: "never", Kind: sdk.JobRestore, Repository: repo, Args: restoreArgs(snap, target, includes, `{"overwrite":"never"}`)})
		if v.AtLeast(restic.VersionRestoreOverwrite) {
			if err != nil {
				t.Fatalf("overwrite never: %v", err)
			}
			if b, _ := os.ReadFile(restored); string(b) != "local change\n" {
				t.Errorf("overwrite never replaced the file: %q", b)
			}
		} else if !errors.Is(err, plugin.ErrUnsupported) || !strings.Contains(err.Error(), "restore --overwrite needs restic 0.17.0 or newer") {
			t.Errorf("overwrite never on restic %s: %v; want unsupported, naming 0.17.0", v, err)
		}
		mustRun(t, b, sdk.Job{ID: "always", Kind: sdk.JobRestore, Repository: repo, Args: restoreArgs(snap, target, includes, `{"overwrite":"always"}`)})
		if b, _ := os.ReadFile(restored); string(b) != "alpha\n" {
			t.Errorf("overwrite always left %q", b)
		}
	})
}

// What restic itself does with crafted node names ("../x", "a/../../x",
// an absolute name, ".."): it refuses each entry ("invalid child node
// name"), restores the rest and fails, on every version; nothing is
// written beside the target. The symlink cases restic does not contain
// are the agent's (agent/runner/restore_guard.go).
func TestRestoreRefusesCraftedNames(t *testing.T) {
	eachRestic(t, func(t *testing.T, b sdk.Backend) {
		bin := resticBinaryOf(t, b)
		sentinel := t.TempDir()
		repoDir := filepath.Join(sentinel, "repo")
		pw := restictest.Password(t)
		cmd := exec.Command(bin, "init", "--repository-version", "1", "-r", repoDir)
		cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+pw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restic init: %v: %s", err, out)
		}
		craft, err := resticcraft.Open(repoDir, pw)
		if err != nil {
			t.Fatal(err)
		}
		repo := sdk.Repository{URL: repoDir, Password: pw}
		outside := filepath.Join(sentinel, "outside")
		for _, name := range []string{"../esc", "a/../../esc", outside + "/esc", ".."} {
			node := resticcraft.Node{Name: name, Type: resticcraft.File, Content: []byte("x")}
			if name == ".." {
				node = resticcraft.Node{Name: name, Type: resticcraft.Dir, Children: []resticcraft.Node{{Name: "esc", Type: resticcraft.File, Content: []byte("x")}}}
			}
			snap, err := craft.AddSnapshot("crafted", []string{"/data"}, []resticcraft.Node{{
				Name: "data", Type: resticcraft.Dir, Children: []resticcraft.Node{node, {Name: "ok.txt", Type: resticcraft.File, Content: []byte("fine")}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(sentinel, "target", "t")
			evs, _, err := run(t, b, sdk.Job{ID: "crafted", Kind: sdk.JobRestore, Repository: repo, Args: restoreArgs(snap, target, nil, "")})
			if err == nil {
				t.Errorf("%q: restore succeeded", name)
			}
			if !slices.ContainsFunc(evs.errors(), func(e *sdk.ErrorEvent) bool { return strings.Contains(e.Message, "invalid child node name") }) &&
				!strings.Contains(evs.dump(), "invalid child node name") {
				t.Errorf("%q: restic did not report the invalid name; events %s", name, evs.dump())
			}
			if got := tree(t, filepath.Join(sentinel, "target")); !mapsEqual(got, map[string]string{"t/data/ok.txt": "fine"}) {
				t.Errorf("%q: the target holds %v, want only data/ok.txt", name, got)
			}
			ents, _ := os.ReadDir(sentinel)
			for _, e := range ents {
				if e.Name() != "repo" && e.Name() != "target" {
					t.Errorf("%q: %s was written beside the target", name, e.Name())
				}
			}
			if err := os.RemoveAll(filepath.Join(sentinel, "target")); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// resticBinaryOf is the restic binary eachRestic configured b with.
func resticBinaryOf(t *testing.T, b sdk.Backend) string {
	t.Helper()
	v := resticVersion(t, b)
	for _, bin := range restictest.Binaries(t) {
		out, err := exec.Command(bin, "version").Output()
		if err == nil && bytes.Contains(out, []byte("restic "+v.String()+" ")) {
			return bin
		}
	}
	t.Fatalf("no restic %s among the test binaries", v)
	return ""
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
