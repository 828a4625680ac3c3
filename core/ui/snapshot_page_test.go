package ui

import (
	"fmt"
	"testing"
)

func TestBreadcrumbs(t *testing.T) {
	t.Parallel()
	link := func(p string) string { return "u:" + p }
	for dir, want := range map[string]string{
		"/":          "[{/ u:/}]",
		"/srv":       "[{/ u:/} {srv u:/srv}]",
		"/srv/a b/c": "[{/ u:/} {srv u:/srv} {a b u:/srv/a b} {c u:/srv/a b/c}]",
	} {
		if got := fmt.Sprint(breadcrumbs(dir, link)); got != want {
			t.Errorf("breadcrumbs(%q) = %s, want %s", dir, got, want)
		}
	}
}

func TestSnapshotRowText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ         string
		size        uint64
		size2, typ2 string
	}{
		{"file", 3000, "2.9 KiB", "file"},
		{"dir", 4096, "—", "folder"},
		{"symlink", 12, "—", "link"},
		{"fifo", 0, "—", "fifo"},
	} {
		r := snapshotRow{snapshotEntryItem: snapshotEntryItem{Type: tc.typ, Size: tc.size}}
		if r.SizeText() != tc.size2 || r.TypeText() != tc.typ2 || r.IsDir() != (tc.typ == "dir") {
			t.Errorf("%s of %d bytes: %q %q", tc.typ, tc.size, r.SizeText(), r.TypeText())
		}
	}
}
