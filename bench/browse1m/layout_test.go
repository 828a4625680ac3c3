package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayout makes a small tree and checks that what the benchmark expects
// of it (entry count, file names, search matches) is what is on disk.
func TestLayout(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "data")
	l := newLayout(root, options{files: 2350, perDir: 100, wide: 200})
	if l.dirs != 22 || l.filesIn(21) != 50 || l.filesIn(0) != 100 || l.groups() != 1 {
		t.Fatalf("layout %+v: dirs %d, last holds %d", l, l.dirs, l.filesIn(l.dirs-1))
	}
	if err := l.create(t.Context()); err != nil {
		t.Fatal(err)
	}
	var entries, files, matches int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		if !d.IsDir() {
			files++
			if strings.Contains("/"+d.Name(), "/"+fileName(0, l.perDir)) {
				matches++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != l.files {
		t.Errorf("%d files on disk, want %d", files, l.files)
	}
	// The walk counts ROOT; entries() counts it among the folders above.
	if want := l.entries() - len(splitPath(root)) + 1; entries != want {
		t.Errorf("%d entries on disk (root included), layout says %d", entries, want)
	}
	if got := l.nameMatches("/" + fileName(0, l.perDir)); got != matches || got != l.dirs+1 {
		t.Errorf("nameMatches: %d, on disk %d, want %d", got, matches, l.dirs+1)
	}
	for _, p := range []string{filepath.Join(l.dirPath(21), "f0049"), filepath.Join(l.widePath(), "f0199")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
}
