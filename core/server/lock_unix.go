//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked means another process holds the data directory.
var ErrLocked = errors.New("data directory is in use")

// lockDataDir takes an exclusive lock on <dir>/server.lock so that two
// servers, or a server and `secrets rotate`, never share a data directory.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // G304: the path is data_dir from the operator's config
	if err != nil {
		return nil, fmt.Errorf("lock data_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%w: another restic-manager server (or command) is using %s", ErrLocked, dir)
	}
	return func() { _ = f.Close() }, nil
}
