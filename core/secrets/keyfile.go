package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// keyFileHeader opens every key file we write.
const keyFileHeader = `# restic-manager secret keys. Keep this file safe and backed up separately from the database:
# without it the sealed secrets in the database cannot be read. The first key seals; the others only open.
`

// maxKeyFileSize bounds what LoadKeyFile reads; a real key file is a few
// hundred bytes.
const maxKeyFileSize = 1 << 20

// LoadKeyFile reads the key file at path. A missing file wraps ErrNoKeyFile;
// on unix, a file readable or writable by group or others wraps
// ErrInsecureKeyFile; parse errors wrap ErrInvalidKeyFile and name the line.
//
// The format is one key per line, "<id> <base64 of 32 bytes>", with blank
// lines and lines starting with # ignored. The first key is the active one.
func LoadKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path) //nolint:gosec // the operator's configured key file
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNoKeyFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open secret key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat secret key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidKeyFile, path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrInsecureKeyFile, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidKeyFile, path, maxKeyFileSize)
	}
	return parseKeyFile(path, data)
}

// parseKeyFile parses key file contents. Errors never quote a key.
func parseKeyFile(path string, data []byte) (*Keyring, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a BOM left by a Windows editor
	var keys []*keyEntry
	lineErr := func(n int, format string, args ...any) error {
		return fmt.Errorf("%w: %s line %d: %s", ErrInvalidKeyFile, path, n, fmt.Sprintf(format, args...))
	}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, lineErr(n, "want \"<key id> <base64 key>\", got %d fields", len(fields))
		}
		id, encoded := fields[0], fields[1]
		if !validID(id) {
			// Not quoted: a key pasted in the wrong column would end up in logs.
			return nil, lineErr(n, "invalid key id (want 1-%d characters from A-Z a-z 0-9 . _ -, then a space and the key)", maxIDLength)
		}
		raw, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(raw) != keySize {
			clear(raw)
			return nil, lineErr(n, "key %s is not %d bytes in standard base64", id, keySize)
		}
		for _, prev := range keys {
			if prev.id == id {
				clear(raw)
				return nil, lineErr(n, "duplicate key id %s", id)
			}
		}
		entry, err := newKey(id, raw)
		clear(raw)
		if err != nil {
			return nil, lineErr(n, "%v", err)
		}
		keys = append(keys, entry)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s holds no keys", ErrInvalidKeyFile, path)
	}
	return &Keyring{keys: keys}, nil
}

// CreateKeyFile generates a fresh key and writes it to a new key file at path
// with mode 0600. The write is atomic (temp file in the same directory, fsync,
// link or rename, fsync of the directory) and fails, wrapping fs.ErrExist, if
// path already exists.
func CreateKeyFile(path string) (*Keyring, error) {
	entry, err := generateKey(nil)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{keys: []*keyEntry{entry}}
	if err := writeAtomic(path, kr.marshal(), false); err != nil {
		return nil, err
	}
	return kr, nil
}

// LoadOrCreateKeyFile loads the key file at path, or creates it if it does not
// exist; created reports which. The server uses it for the default
// <data_dir>/secret.key. A key file created next to a database that already
// holds sealed values opens none of them: run Verify before serving.
func LoadOrCreateKeyFile(path string) (kr *Keyring, created bool, err error) {
	kr, err = LoadKeyFile(path)
	if !errors.Is(err, ErrNoKeyFile) {
		return kr, false, err
	}
	kr, err = CreateKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our load and create.
		kr, err = LoadKeyFile(path)
		return kr, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return kr, true, nil
}

// WriteKeyFile writes the keyring to path with mode 0600, replacing any
// existing file atomically (temp file in the same directory, fsync, rename,
// fsync of the directory): a crash leaves either the old or the new file.
func (k *Keyring) WriteKeyFile(path string) error {
	if _, err := k.active(); err != nil {
		return err
	}
	return writeAtomic(path, k.marshal(), true)
}

// marshal renders the key file contents.
func (k *Keyring) marshal() []byte {
	var b bytes.Buffer
	b.WriteString(keyFileHeader)
	for _, e := range k.keys {
		b.WriteString(e.id)
		b.WriteByte(' ')
		b.WriteString(base64.StdEncoding.EncodeToString(e.raw))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeAtomic writes data to path through a 0600 temp file in the same
// directory. Without overwrite, it hard-links the temp file into place, which
// fails if path exists; on file systems without hard links it falls back to
// a check and a rename.
func writeAtomic(path string, data []byte, overwrite bool) (err error) {
	defer clear(data)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
		}
		if err != nil {
			_ = os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write secret key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}

	if overwrite {
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write secret key file: %w", err)
		}
	} else if err := placeNew(tmpName, path); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	return nil
}

// placeNew moves tmpName to path unless path exists.
func placeNew(tmpName, path string) error {
	existsErr := fmt.Errorf("secret key file %s already exists: %w", path, fs.ErrExist)
	err := os.Link(tmpName, path)
	switch {
	case err == nil:
		_ = os.Remove(tmpName)
		return nil
	case errors.Is(err, fs.ErrExist):
		return existsErr
	}
	// No hard links here: check, then rename.
	_, err = os.Lstat(path)
	switch {
	case err == nil:
		return existsErr
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("write secret key file: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable. Windows cannot fsync a directory.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir) //nolint:gosec // the key file's own directory
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
