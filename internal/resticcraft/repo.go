// Package resticcraft writes hand-made snapshots into a real restic
// repository, so tests can check what restic and restic-manager do with
// snapshots no honest backup produces: node names like "../x" or "/etc/x",
// duplicate names, symlinks followed by entries below them. Only tests
// use it.
//
// It implements just enough of restic's repository format (doc/design.rst)
// for a local repository of version 1 (no compression) that the real
// restic created (`restic init --repository-version 1`): it opens the
// master key with the password (scrypt), then adds one pack with the
// snapshot's trees and file contents, an index file naming them and the
// snapshot file, each encrypted with AES-256-CTR and authenticated with
// Poly1305-AES.
package resticcraft

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Node types.
const (
	File    = "file"
	Dir     = "dir"
	Symlink = "symlink"
)

// Node is one entry of a crafted tree. Name is written as it is, whatever
// it holds; Children are written in the order given (restic writes them
// sorted and unique, a crafted tree need not be).
type Node struct {
	Name       string
	Type       string // File, Dir or Symlink
	Content    []byte // a file's bytes
	LinkTarget string // a symlink's target
	Children   []Node // a directory's entries
}

// Repo is a local repository opened with its password.
type Repo struct {
	dir    string
	master key
	packs  map[bool]*pack // the packs being built: data (false) and trees (true)
}

// pack is a pack file being built: its encrypted blobs, in order.
type pack struct {
	blobs []packedBlob
	data  []byte
}

type packedBlob struct {
	id     [32]byte
	tree   bool
	offset int
	length int
}

// Open reads the repository's config to check it is a version 1
// repository the password opens.
func Open(dir, password string) (*Repo, error) {
	keys, err := os.ReadDir(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	var errs []error
	for _, e := range keys {
		raw, err := os.ReadFile(filepath.Join(dir, "keys", e.Name())) //nolint:gosec // the repository the test made
		if err != nil {
			errs = append(errs, err)
			continue
		}
		master, err := openKey(raw, password)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", e.Name(), err))
			continue
		}
		r := &Repo{dir: dir, master: master}
		return r, r.checkConfig()
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("repository %s has no keys", dir)
	}
	return nil, errors.Join(errs...)
}

func (r *Repo) checkConfig() error {
	raw, err := os.ReadFile(filepath.Join(r.dir, "config"))
	if err != nil {
		return err
	}
	plain, err := r.master.decrypt(raw)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var cfg struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(plain, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.Version != 1 {
		return fmt.Errorf("config: repository version %d: only version 1 (restic init --repository-version 1) is supported", cfg.Version)
	}
	return nil
}

// nodeJSON is a tree node as restic stores it.
type nodeJSON struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Mode       uint32    `json:"mode,omitempty"`
	ModTime    time.Time `json:"mtime"`
	AccessTime time.Time `json:"atime"`
	ChangeTime time.Time `json:"ctime"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	User       string    `json:"user,omitempty"`
	Size       uint64    `json:"size,omitempty"`
	Links      uint64    `json:"links,omitempty"`
	LinkTarget string    `json:"linktarget,omitempty"`
	Content    []string  `json:"content"`
	Subtree    *string   `json:"subtree,omitempty"`
}

// Go's os.FileMode bits, which restic stores.
const (
	modeDir     = 1 << 31
	modeSymlink = 1 << 27
)

// AddSnapshot writes root as a new snapshot of paths and returns its id.
// Each call writes a pack of trees, a pack of file contents (restic keeps
// the two apart) and an index file naming both.
func (r *Repo) AddSnapshot(hostname string, paths []string, root []Node) (string, error) {
	r.packs = map[bool]*pack{false: {}, true: {}}
	rootID, err := r.tree(root)
	if err != nil {
		return "", err
	}
	var packs []map[string]any
	for _, tree := range []bool{false, true} {
		p := r.packs[tree]
		if len(p.blobs) == 0 {
			continue
		}
		id, err := r.writePack(p)
		if err != nil {
			return "", err
		}
		packs = append(packs, map[string]any{"id": id, "blobs": p.index()})
	}
	idx, err := json.Marshal(map[string]any{"packs": packs})
	if err != nil {
		return "", err
	}
	if _, err := r.writeFile("index", idx); err != nil {
		return "", err
	}
	snap := map[string]any{
		"time":     time.Now().UTC().Format(time.RFC3339Nano),
		"tree":     hex.EncodeToString(rootID[:]),
		"paths":    paths,
		"hostname": hostname,
		"username": "root",
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return "", err
	}
	return r.writeFile("snapshots", raw)
}

// tree stores the nodes' contents and subtrees, then the tree itself.
func (r *Repo) tree(nodes []Node) ([32]byte, error) {
	now := time.Now().UTC()
	out := struct {
		Nodes []nodeJSON `json:"nodes"`
	}{Nodes: []nodeJSON{}}
	for _, n := range nodes {
		nj := nodeJSON{
			Name: n.Name, Type: n.Type, ModTime: now, AccessTime: now, ChangeTime: now,
			UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Links: 1, //nolint:gosec // ids fit
		}
		switch n.Type {
		case File:
			nj.Mode, nj.Size, nj.Content = 0o644, uint64(len(n.Content)), []string{}
			if len(n.Content) > 0 {
				id, err := r.blob(n.Content, false)
				if err != nil {
					return [32]byte{}, err
				}
				nj.Content = []string{hex.EncodeToString(id[:])}
			}
		case Dir:
			sub, err := r.tree(n.Children)
			if err != nil {
				return [32]byte{}, err
			}
			s := hex.EncodeToString(sub[:])
			nj.Mode, nj.Subtree = modeDir|0o755, &s
		case Symlink:
			nj.Mode, nj.LinkTarget = modeSymlink|0o777, n.LinkTarget
		default:
			return [32]byte{}, fmt.Errorf("node %q: unknown type %q", n.Name, n.Type)
		}
		out.Nodes = append(out.Nodes, nj)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return [32]byte{}, err
	}
	return r.blob(append(raw, '\n'), true)
}

// blob adds plain to the pack of its kind; its id is its SHA-256.
func (r *Repo) blob(plain []byte, tree bool) ([32]byte, error) {
	id := sha256.Sum256(plain)
	p := r.packs[tree]
	for _, b := range p.blobs {
		if b.id == id {
			return id, nil
		}
	}
	sealed, err := r.master.encryptBytes(plain)
	if err != nil {
		return id, err
	}
	p.blobs = append(p.blobs, packedBlob{id: id, tree: tree, offset: len(p.data), length: len(sealed)})
	p.data = append(p.data, sealed...)
	return id, nil
}

// writePack appends the encrypted header (type, length and id of each
// blob) and its length, and stores the pack under data/.
func (r *Repo) writePack(p *pack) (string, error) {
	var header []byte
	for _, b := range p.blobs {
		t := byte(0)
		if b.tree {
			t = 1
		}
		header = append(header, t)
		header = binary.LittleEndian.AppendUint32(header, uint32(b.length)) //nolint:gosec // test blobs are small
		header = append(header, b.id[:]...)
	}
	sealed, err := r.master.encryptBytes(header)
	if err != nil {
		return "", err
	}
	file := append(append([]byte{}, p.data...), sealed...)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(sealed))) //nolint:gosec // small
	sum := sha256.Sum256(file)
	id := hex.EncodeToString(sum[:])
	dir := filepath.Join(r.dir, "data", id[:2])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return id, os.WriteFile(filepath.Join(dir, id), file, 0o600)
}

// index lists the pack's blobs as an index file names them.
func (p *pack) index() []map[string]any {
	out := make([]map[string]any, 0, len(p.blobs))
	for _, b := range p.blobs {
		t := "data"
		if b.tree {
			t = "tree"
		}
		out = append(out, map[string]any{"id": hex.EncodeToString(b.id[:]), "type": t, "offset": b.offset, "length": b.length})
	}
	return out
}

// writeFile encrypts plain into dir/<sha256 of the encrypted bytes>.
func (r *Repo) writeFile(dir string, plain []byte) (string, error) {
	sealed, err := r.master.encryptBytes(plain)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(sealed)
	id := hex.EncodeToString(sum[:])
	return id, os.WriteFile(filepath.Join(r.dir, dir, id), sealed, 0o600)
}
