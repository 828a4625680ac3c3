package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// layout is the generated tree: one wide folder and numbered folders of
// perDir files, a hundred to a group:
//
//	ROOT/wide/f00000 … f09999
//	ROOT/g00/d0000/f0000 … f0999
//	ROOT/g00/d0001/…
//	ROOT/g01/d0100/…
type layout struct {
	root   string
	files  int // all files, the wide folder's included
	perDir int
	wide   int
	dirs   int // numbered folders
}

const dirsPerGroup = 100

func newLayout(root string, o options) layout {
	rest := o.files - o.wide
	return layout{root: root, files: o.files, perDir: o.perDir, wide: o.wide, dirs: (rest + o.perDir - 1) / o.perDir}
}

func (l layout) widePath() string { return filepath.Join(l.root, "wide") }

func (l layout) groupPath(g int) string { return filepath.Join(l.root, fmt.Sprintf("g%02d", g)) }

func (l layout) groups() int { return (l.dirs + dirsPerGroup - 1) / dirsPerGroup }

// dirPath is numbered folder i's path.
func (l layout) dirPath(i int) string {
	return filepath.Join(l.groupPath(i/dirsPerGroup), fmt.Sprintf("d%04d", i))
}

// filesIn is how many files numbered folder i holds (the last one may
// hold fewer).
func (l layout) filesIn(i int) int {
	if i == l.dirs-1 {
		if r := (l.files - l.wide) % l.perDir; r != 0 {
			return r
		}
	}
	return l.perDir
}

// fileName is the name of file n in a folder of count files (numbered
// folders are named as if they held perDir, the last one too).
func fileName(n, count int) string {
	w := max(4, len(fmt.Sprint(count-1)))
	return fmt.Sprintf("f%0*d", w, n)
}

// entries is what restic's ls lists for the tree: every file and folder
// below ROOT (the wide one, the groups, the numbered ones), and ROOT with
// the folders above it.
func (l layout) entries() int {
	return l.files + 1 + l.groups() + l.dirs + len(splitPath(l.root))
}

// nameMatches counts the files whose "/"+name contains q.
func (l layout) nameMatches(q string) int {
	n := 0
	for f := range l.wide {
		if strings.Contains("/"+fileName(f, l.wide), q) {
			n++
		}
	}
	for i := range l.dirs {
		for f := range l.filesIn(i) {
			if strings.Contains("/"+fileName(f, l.perDir), q) {
				n++
			}
		}
	}
	return n
}

func splitPath(p string) []string {
	var out []string
	for p != "/" && p != "." && p != "" {
		out = append(out, filepath.Base(p))
		p = filepath.Dir(p)
	}
	return out
}

// create makes the folders and the empty files, a few folders at a time.
func (l layout) create(ctx context.Context) error {
	var made atomic.Int64
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range max(2, 2*runtime.NumCPU()) {
		wg.Go(func() {
			for i := range jobs {
				dir, n, width := l.dirPath(i), l.filesIn(i), l.perDir
				if i < 0 {
					dir, n, width = l.widePath(), l.wide, l.wide
				}
				if err := makeFiles(dir, n, width); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				made.Add(int64(n))
			}
		})
	}
	var err error
feed:
	for i := -1; i < l.dirs; i++ {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err == nil && made.Load() != int64(l.files) {
		err = fmt.Errorf("made %d files, want %d", made.Load(), l.files)
	}
	return err
}

// makeFiles makes n empty files named as in a folder of width files.
func makeFiles(dir string, n, width int) error {
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // G703: inside the tree directory this run made
		return err
	}
	for f := range n {
		p := filepath.Join(dir, fileName(f, width))
		fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o640)
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		if err := syscall.Close(fd); err != nil {
			return err
		}
	}
	return nil
}

const tmpfsMagic = 0x01021994

// treeParent picks where the files go: --treedir, else /dev/shm when it has
// the inodes and room for them (an estimate of 1 KiB per file), else the
// work directory. It also names the file system.
func treeParent(o options, work string) (string, string, error) {
	dir := o.treeParent
	if dir == "" {
		dir = work
		var st syscall.Statfs_t
		if err := syscall.Statfs("/dev/shm", &st); err == nil &&
			st.Ffree > uint64(o.files)*11/10 && st.Bavail*uint64(st.Bsize) > uint64(o.files)*1024 { //nolint:gosec // G115: Bsize is positive
			dir = "/dev/shm"
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", "", fmt.Errorf("--treedir %s: %w", dir, err)
	}
	if st.Ffree < uint64(o.files) { //nolint:gosec // G115: --files is positive
		return "", "", fmt.Errorf("%s has %d free inodes, fewer than --files %d", dir, st.Ffree, o.files)
	}
	fs := fmt.Sprintf("file system type %#x", st.Type)
	if st.Type == tmpfsMagic {
		fs = "tmpfs"
	}
	return dir, fs, nil
}
