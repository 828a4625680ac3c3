package runner

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

func TestCheckRestoreArgs(t *testing.T) {
	t.Parallel()
	ok := sdk.Args{Snapshots: []string{"abc"}, Target: "/srv/restore", Includes: []string{"/home/a", "/etc/hosts"}}
	tests := map[string]struct {
		change func(a *sdk.Args)
		want   string // "" = accepted
	}{
		"plain":                {func(*sdk.Args) {}, ""},
		"original location":    {func(a *sdk.Args) { a.Target = "/" }, ""},
		"options":              {func(a *sdk.Args) { a.Extra = json.RawMessage(`{"overwrite":"never","strip_components":1}`) }, ""},
		"no snapshot":          {func(a *sdk.Args) { a.Snapshots = nil }, "exactly one snapshot, got 0"},
		"empty target":         {func(a *sdk.Args) { a.Target = "" }, "target is empty"},
		"relative target":      {func(a *sdk.Args) { a.Target = "srv/restore" }, `target "srv/restore" is not an absolute path`},
		"unclean target":       {func(a *sdk.Args) { a.Target = "/srv/../etc" }, `target "/srv/../etc" is not clean (want "/etc")`},
		"trailing slash":       {func(a *sdk.Args) { a.Target = "/srv/restore/" }, "is not clean"},
		"control in target":    {func(a *sdk.Args) { a.Target = "/srv/\x1b[2J" }, "target \"/srv/\\x1b[2J\" contains a control character"},
		"nul in include":       {func(a *sdk.Args) { a.Includes = []string{"/home/a\x00b"} }, "contains a control character"},
		"relative include":     {func(a *sdk.Args) { a.Includes = []string{"home/a"} }, `include "home/a" is not an absolute path`},
		"climbing include":     {func(a *sdk.Args) { a.Includes = []string{"/home/../etc/shadow"} }, `include "/home/../etc/shadow" contains ".."`},
		"unclean include":      {func(a *sdk.Args) { a.Includes = []string{"/home//a/"} }, "is not clean"},
		"empty include":        {func(a *sdk.Args) { a.Includes = []string{""} }, "an include path is empty"},
		"control in exclude":   {func(a *sdk.Args) { a.Excludes = []string{"*.log\n"} }, "exclude"},
		"bad overwrite":        {func(a *sdk.Args) { a.Extra = json.RawMessage(`{"overwrite":"sometimes"}`) }, `overwrite "sometimes"`},
		"negative strip":       {func(a *sdk.Args) { a.Extra = json.RawMessage(`{"strip_components":-2}`) }, "strip_components is negative"},
		"extra of a bad shape": {func(a *sdk.Args) { a.Extra = json.RawMessage(`[1]`) }, "extra"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := ok
			a.Includes = slices.Clone(ok.Includes)
			tc.change(&a)
			_, err := checkRestoreArgs(a)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, errUnsafeRestore) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v; want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRestoreRoots(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		includes []string
		strip    int
		want     []string
	}{
		"everything":   {nil, 0, []string{"/t"}},
		"includes":     {[]string{"/home/a", "/etc/hosts"}, 0, []string{"/t/home/a", "/t/etc/hosts"}},
		"stripped":     {[]string{"/home/a/docs", "/home/a"}, 2, []string{"/t/docs", "/t"}},
		"include root": {[]string{"/"}, 0, []string{"/t"}},
		"pattern":      {[]string{"/home/*/docs"}, 0, []string{"/t/home"}},
	}
	for name, tc := range tests {
		if got := restoreRoots("/t", tc.includes, tc.strip); !slices.Equal(got, tc.want) {
			t.Errorf("%s: roots %q, want %q", name, got, tc.want)
		}
	}
}

func TestListRoot(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		includes []string
		want     string
	}{
		"none":             {nil, "/"},
		"one file":         {[]string{"/home/a/x.txt"}, "/home/a"},
		"siblings":         {[]string{"/home/a/x", "/home/a/y/z"}, "/home/a"},
		"different trees":  {[]string{"/home/a/x", "/etc/hosts"}, "/"},
		"prefix not a dir": {[]string{"/home/ab/x", "/home/a/y"}, "/home"},
		"top level":        {[]string{"/home"}, "/"},
		"pattern":          {[]string{"/home/*/docs/x", "/home/a/y"}, "/home"},
	}
	for name, tc := range tests {
		if got := listRoot(tc.includes); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

// The entry checker sees restic ls's depth-first order: a name seen twice
// in one directory is refused, the same name in other directories is not.
func TestEntryChecker(t *testing.T) {
	t.Parallel()
	node := func(p, typ string) lsNode {
		return lsNode{MessageType: "node", Name: filepath.Base(p), Type: typ, Path: p}
	}
	tests := map[string]struct {
		includes []string
		nodes    []lsNode
		want     string
	}{
		"tree": {nil, []lsNode{
			node("/a", "dir"), node("/a/x", "file"), node("/a/b", "dir"), node("/a/b/x", "file"),
			node("/a/c", "symlink"), node("/d", "dir"), node("/d/x", "file"),
		}, ""},
		"twice at the top":          {nil, []lsNode{node("/a", "symlink"), node("/a", "dir")}, `two entries at "/a"`},
		"twice after a subtree":     {nil, []lsNode{node("/a", "dir"), node("/a/b", "dir"), node("/a/b/c", "file"), node("/a/x", "file"), node("/a/b", "file")}, `two entries at "/a/b"`},
		"listing begins below root": {[]string{"/h/a/x"}, []lsNode{node("/h/a", "dir"), node("/h/a/x", "symlink"), node("/h/a/x", "dir")}, `two entries at "/h/a/x"`},
		"outside the includes":      {[]string{"/h/a"}, []lsNode{node("/h/b", "symlink"), node("/h/b", "dir")}, ""},
		"include pattern":           {[]string{"/h/*/x"}, []lsNode{node("/h/b", "symlink"), node("/h/b", "dir")}, `two entries at "/h/b"`},
		"dot-dot":                   {nil, []lsNode{{Name: "..", Type: "dir", Path: "/"}}, `entry named ".."`},
		"slash":                     {nil, []lsNode{{Name: "a/../../x", Type: "file", Path: "/x"}}, `entry named "a/../../x"`},
		"empty":                     {nil, []lsNode{{Name: "", Type: "file", Path: "/"}}, `entry named ""`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newEntryChecker(tc.includes)
			var err error
			for _, n := range tc.nodes {
				if err = c.add(n); err != nil {
					break
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, errUnsafeRestore) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v; want one mentioning %q", err, tc.want)
			}
		})
	}
}

// checkTarget on real directories: links that stay inside the target are
// fine, links that lead out are refused wherever the restore writes.
func TestCheckTarget(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		prepare func(t *testing.T, target, outside string)
		roots   []string // relative to the target; nil = the target
		want    string
	}{
		"missing target": {func(t *testing.T, target, _ string) { rmAll(t, target) }, nil, ""},
		"empty target":   {func(*testing.T, string, string) {}, nil, ""},
		"link inside": {func(t *testing.T, target, _ string) {
			mkdir(t, filepath.Join(target, "a"))
			link(t, "a", filepath.Join(target, "b"))
			link(t, filepath.Join(target, "a"), filepath.Join(target, "c"))
		}, nil, ""},
		"link out below": {func(t *testing.T, target, outside string) {
			mkdir(t, filepath.Join(target, "a", "b"))
			link(t, outside, filepath.Join(target, "a", "b", "out"))
		}, nil, "which leads outside it"},
		"relative link out": {func(t *testing.T, target, _ string) {
			link(t, "../..", filepath.Join(target, "up"))
		}, nil, "which leads outside it"},
		"dangling link out": {func(t *testing.T, target, _ string) {
			link(t, "/nonexistent-dir/x", filepath.Join(target, "gone"))
		}, nil, "to /nonexistent-dir/x"},
		"link out elsewhere": {func(t *testing.T, target, outside string) {
			mkdir(t, filepath.Join(target, "home", "a"))
			link(t, outside, filepath.Join(target, "etc"))
		}, []string{"home/a"}, ""},
		"link out on the way": {func(t *testing.T, target, outside string) {
			mkdir(t, filepath.Join(target, "home"))
			link(t, outside, filepath.Join(target, "home", "a"))
		}, []string{"home/a/docs"}, "home/a, which leads outside it"},
		"target is a link": {func(t *testing.T, target, outside string) {
			rmAll(t, target)
			link(t, outside, target)
		}, nil, "is a symlink"},
		"target is a file": {func(t *testing.T, target, _ string) {
			rmAll(t, target)
			if err := os.WriteFile(target, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil, "is not a directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			target, outside := filepath.Join(dir, "target"), filepath.Join(dir, "outside")
			mkdir(t, target)
			mkdir(t, outside)
			tc.prepare(t, target, outside)
			roots := []string{target}
			if tc.roots != nil {
				roots = nil
				for _, r := range tc.roots {
					roots = append(roots, filepath.Join(target, r))
				}
			}
			err := checkTarget(target, roots)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, errUnsafeRestore) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v; want one mentioning %q", err, tc.want)
			}
		})
	}
	if err := checkTarget("/", []string{"/"}); err != nil {
		t.Errorf("the original location was refused: %v", err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, to, at string) {
	t.Helper()
	if err := os.Symlink(to, at); err != nil {
		t.Fatal(err)
	}
}

func rmAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}
