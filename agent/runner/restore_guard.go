package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// errUnsafeRestore marks a restore the agent refused before restic ran,
// because it could write outside its target (docs/restore.md "Safety").
var errUnsafeRestore = errors.New("restore refused")

// restoreOptions are the keys of a restore's extra the guard reads; the
// backend checks all of them.
type restoreOptions struct {
	Overwrite       string `json:"overwrite"`
	StripComponents int    `json:"strip_components"`
}

// guardRestore checks a restore before restic runs, again after the
// server did: the params (checkRestoreArgs), the target on this host
// (checkTarget) and the snapshot's entries (checkSnapshotEntries). The
// error names the problem and becomes the job's failure.
func (j *job) guardRestore(ctx context.Context) error {
	opts, err := checkRestoreArgs(j.args)
	if err != nil {
		return err
	}
	if err := checkTarget(j.args.Target, restoreRoots(j.args.Target, j.args.Includes, opts.StripComponents)); err != nil {
		return err
	}
	n, err := j.checkSnapshotEntries(ctx)
	if err != nil {
		return err
	}
	j.log.Debug("restore guard passed", "entries_checked", n)
	return nil
}

func unsafeRestore(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUnsafeRestore, fmt.Sprintf(format, a...))
}

// checkRestoreArgs checks what the job asks for: one snapshot, an
// absolute and clean target, absolute and clean include paths without
// "..", and no control characters anywhere.
func checkRestoreArgs(a sdk.Args) (restoreOptions, error) {
	var errs []error
	var opts restoreOptions
	if raw := bytes.TrimSpace(a.Extra); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &opts); err != nil {
			errs = append(errs, unsafeRestore("extra: %v", err))
		}
	}
	if len(a.Snapshots) != 1 {
		errs = append(errs, unsafeRestore("a restore takes exactly one snapshot, got %d", len(a.Snapshots)))
	}
	switch t := a.Target; {
	case t == "":
		errs = append(errs, unsafeRestore("target is empty"))
	case hasControl(t):
		errs = append(errs, unsafeRestore("target %q contains a control character", t))
	case !filepath.IsAbs(t):
		errs = append(errs, unsafeRestore("target %q is not an absolute path", t))
	case filepath.Clean(t) != t:
		errs = append(errs, unsafeRestore("target %q is not clean (want %q)", t, filepath.Clean(t)))
	}
	for _, inc := range a.Includes {
		switch {
		case inc == "":
			errs = append(errs, unsafeRestore("an include path is empty"))
		case hasControl(inc):
			errs = append(errs, unsafeRestore("include %q contains a control character", inc))
		case !strings.HasPrefix(inc, "/"):
			errs = append(errs, unsafeRestore("include %q is not an absolute path in the snapshot", inc))
		case slices.Contains(strings.Split(inc, "/"), ".."):
			errs = append(errs, unsafeRestore("include %q contains \"..\"", inc))
		case path.Clean(inc) != inc:
			errs = append(errs, unsafeRestore("include %q is not clean (want %q)", inc, path.Clean(inc)))
		}
	}
	for _, ex := range a.Excludes {
		if hasControl(ex) {
			errs = append(errs, unsafeRestore("exclude %q contains a control character", ex))
		}
	}
	switch opts.Overwrite {
	case "", "always", "if-changed", "if-newer", "never":
	default:
		errs = append(errs, unsafeRestore("overwrite %q: want always, if-changed, if-newer or never", opts.Overwrite))
	}
	if opts.StripComponents < 0 {
		errs = append(errs, unsafeRestore("strip_components is negative (%d)", opts.StripComponents))
	}
	return opts, errors.Join(errs...)
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// restoreRoots are the directories of the host a restore writes below:
// each include's place under the target (its first strip components
// dropped; for a pattern, the directory above its first pattern
// component), or the whole target without includes.
func restoreRoots(target string, includes []string, strip int) []string {
	if len(includes) == 0 {
		return []string{target}
	}
	roots := make([]string, 0, len(includes))
	for _, inc := range includes {
		parts := strings.Split(strings.TrimPrefix(inc, "/"), "/")
		if strip > 0 {
			parts = parts[min(strip, len(parts)):]
		}
		for i, p := range parts {
			if isPattern(p) {
				parts = parts[:i] // a pattern: everything from its parent on
				break
			}
		}
		roots = append(roots, filepath.Join(append([]string{target}, parts...)...))
	}
	return roots
}

// checkTarget refuses a target that is itself a symlink, and any symlink
// on the way from the target to a root, or below a root, that leads out
// of the target: restic (0.14 at least) writes through such links. The
// target "/" (the original location) contains everything.
func checkTarget(target string, roots []string) error {
	if target == "/" {
		return nil
	}
	fi, err := os.Lstat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // restic creates it; nothing below it exists yet
	case err != nil:
		return unsafeRestore("target %s: %v", target, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		dest, _ := filepath.EvalSymlinks(target)
		return unsafeRestore("target %s is a symlink (to %s): give the directory it leads to as the target", target, dest)
	case !fi.IsDir():
		return unsafeRestore("target %s exists and is not a directory", target)
	}
	// The target's own parents may be links (/tmp → /private/tmp): the
	// place it resolves to is the chosen one.
	base, err := filepath.EvalSymlinks(target)
	if err != nil {
		return unsafeRestore("target %s: %v", target, err)
	}
	for _, root := range roots {
		if err := checkTree(target, base, root); err != nil {
			return err
		}
	}
	return nil
}

// checkTree checks each existing component from target down to root, then
// everything below root, for symlinks that leave base (the resolved target).
func checkTree(target, base, root string) error {
	rel, err := filepath.Rel(target, root)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return unsafeRestore("%s is outside the target %s", root, target)
	}
	p := target
	if rel != "." {
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			p = filepath.Join(p, part)
			fi, err := os.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return unsafeRestore("%s: %v", p, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				if err := checkLink(target, base, p); err != nil {
					return err
				}
				if p == root {
					return nil // a link inside the target, not followed
				}
			}
		}
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return unsafeRestore("%s: %v", p, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return checkLink(target, base, p)
		}
		return nil
	})
}

// checkLink refuses the symlink p when it resolves outside base. A link
// that leads nowhere yet is judged by its text, relative to where it is.
func checkLink(target, base, p string) error {
	dest, err := filepath.EvalSymlinks(p)
	if err != nil {
		text, rerr := os.Readlink(p)
		if rerr != nil {
			return unsafeRestore("%s: %v", p, rerr)
		}
		dest = text
		if !filepath.IsAbs(dest) {
			dir, derr := filepath.EvalSymlinks(filepath.Dir(p))
			if derr != nil {
				dir = filepath.Dir(p)
			}
			dest = filepath.Join(dir, dest)
		}
	}
	if within(base, dest) {
		return nil
	}
	return unsafeRestore("the target %s holds the symlink %s, which leads outside it (to %s); "+
		"restic could write through it: remove it, or restore into an empty directory", target, p, dest)
}

// within reports whether p is base or below it.
func within(base, p string) bool {
	rel, err := filepath.Rel(base, filepath.Clean(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// lsNode is what the guard reads of an ls data line.
type lsNode struct {
	MessageType string `json:"message_type"`
	StructType  string `json:"struct_type"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	Path        string `json:"path"`
}

// checkSnapshotEntries lists the part of the snapshot the restore takes
// (restic ls, through the backend) and refuses entry names that are not a
// plain name ("", ".", "..", anything with "/") and two entries with the
// same path: restic 0.18 applies the second one's metadata through the
// symlink the first one made. It returns how many entries it checked.
func (j *job) checkSnapshotEntries(ctx context.Context) (int, error) {
	dir := listRoot(j.args.Includes)
	extra, err := json.Marshal(map[string]any{"path": dir, "recursive": true})
	if err != nil {
		return 0, err
	}
	ls := sdk.Job{
		ID: j.id + "-guard", Kind: sdk.JobLs, Repository: backendRepository(j.repo),
		Args: sdk.Args{Snapshots: j.args.Snapshots, Extra: extra},
	}
	if dir == "/" {
		ls.Args.Extra = nil
	}
	c := newEntryChecker(j.args.Includes)
	_, err = j.a.backend.Run(ctx, ls, func(ev sdk.Event) error {
		if ev.Log == nil || ev.Log.Stream != sdk.StreamStdout {
			return nil
		}
		var n lsNode
		if json.Unmarshal([]byte(ev.Log.Text), &n) != nil || (n.MessageType != "node" && n.StructType != "node") {
			return nil
		}
		return c.add(n)
	})
	switch {
	case errors.Is(err, errUnsafeRestore):
		return c.count, err
	case err != nil:
		return c.count, fmt.Errorf("%w: cannot list the snapshot to check it first: %w", errUnsafeRestore, err)
	}
	return c.count, nil
}

// listRoot is the deepest directory holding every include ("/" without
// includes), so one restic ls covers them all.
func listRoot(includes []string) string {
	if len(includes) == 0 {
		return "/"
	}
	common := literalDirs(includes[0])
	for _, inc := range includes {
		parts := literalDirs(inc)
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	if p := strings.Join(common, "/"); p != "" {
		return p
	}
	return "/"
}

// literalDirs are the components of an include's directory up to the
// first one with a pattern character (restic takes includes as patterns).
func literalDirs(inc string) []string {
	parts := strings.Split(path.Dir(inc), "/")
	for i, p := range parts {
		if isPattern(p) {
			return parts[:i]
		}
	}
	return parts
}

func isPattern(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// entryChecker sees a snapshot's entries in restic's depth-first order.
// It keeps the names seen in each directory on the way to the current
// entry, so memory grows with the depth and width of one path, not with
// the snapshot.
type entryChecker struct {
	includes []string
	stack    []dirNames
	count    int
}

type dirNames struct {
	path  string
	names map[string]bool
}

func newEntryChecker(includes []string) *entryChecker {
	return &entryChecker{includes: includes, stack: []dirNames{{path: "/", names: map[string]bool{}}}}
}

func (c *entryChecker) add(n lsNode) error {
	if !c.taken(n.Path) {
		return nil
	}
	c.count++
	if n.Name == "" || n.Name == "." || n.Name == ".." || strings.Contains(n.Name, "/") || hasControl(n.Name) {
		return unsafeRestore("the snapshot holds an entry named %q (at %q), which could lead outside the target", n.Name, n.Path)
	}
	parent := path.Dir(n.Path)
	for len(c.stack) > 1 && c.stack[len(c.stack)-1].path != parent {
		c.stack = c.stack[:len(c.stack)-1]
	}
	if c.stack[len(c.stack)-1].path != parent {
		// The listing began below the root: its first directory.
		c.stack = append(c.stack, dirNames{path: parent, names: map[string]bool{}})
	}
	top := c.stack[len(c.stack)-1]
	if top.names[n.Name] {
		return unsafeRestore("the snapshot holds two entries at %q (a crafted snapshot?); restic could write through the first one", n.Path)
	}
	top.names[n.Name] = true
	if n.Type == "dir" {
		c.stack = append(c.stack, dirNames{path: n.Path, names: map[string]bool{}})
	}
	return nil
}

// taken reports whether the restore takes the entry at p: it is an
// include, below one or on the way to one.
func (c *entryChecker) taken(p string) bool {
	if len(c.includes) == 0 {
		return true
	}
	for _, inc := range c.includes {
		if isPattern(inc) {
			return true // a pattern: check everything listed
		}
		if p == inc || strings.HasPrefix(p, inc+"/") || strings.HasPrefix(inc, p+"/") || inc == "/" {
			return true
		}
	}
	return false
}
