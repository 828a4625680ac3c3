package sdk_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGeneratedCodeUpToDate regenerates the protobuf code into a temporary
// directory with scripts/gen-proto.sh and fails when it differs from the
// committed code: a .proto file was changed without `make proto`, or the
// generated files were edited by hand.
func TestGeneratedCodeUpToDate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("scripts/gen-proto.sh needs bash")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc is not installed: run scripts/install-protoc.sh")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "gen-proto.sh"), out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/gen-proto.sh: %v\n%s\n(scripts/install-protoc.sh installs the pinned tools)", err, b)
	}

	generated := pbFiles(t, filepath.Join(out, "sdk"))
	committed := pbFiles(t, filepath.Join(root, "sdk"))
	if len(generated) == 0 {
		t.Fatal("scripts/gen-proto.sh generated nothing")
	}
	for rel := range generated {
		if _, ok := committed[rel]; !ok {
			t.Errorf("sdk/%s is not committed: run make proto", rel)
			continue
		}
		want, err := os.ReadFile(filepath.Join(out, "sdk", rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, "sdk", rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("sdk/%s is out of date: run make proto", rel)
		}
	}
	for rel := range committed {
		if _, ok := generated[rel]; !ok {
			t.Errorf("sdk/%s has no .proto file any more: delete it", rel)
		}
	}
}

// pbFiles returns the generated Go files under dir, relative to it.
func pbFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files := make(map[string]bool)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "examples") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".pb.go") {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
