package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds each transaction of the copy.
const compactTxBytes = 16 << 20

// Compact rewrites the spool file with only its live data and swaps it in.
// A bbolt file never shrinks by itself: after a long outage filled the spool,
// the file keeps its peak size, and freed pages keep old bytes (acknowledged
// events, deleted state values) until reused. Compact blocks every other
// operation while it runs; call it when the agent is idle, e.g. at start-up.
//
// A crash during Compact leaves the old file in place (the copy is renamed
// over it only once complete and synced); the next Open removes the copy.
func (s *Spool) Compact() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	// Holding mu for writing means no operation is in flight: the writer
	// goroutine is idle until we let go.
	tmp := s.path + compactSuffix
	if err := s.copyTo(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact spool: %w", err)
	}
	if err := s.db.Close(); err != nil {
		_ = os.Remove(tmp)
		return s.reopenAfter(fmt.Errorf("compact spool: close: %w", err))
	}
	if err := os.Rename(tmp, s.path); err != nil {
		_ = os.Remove(tmp)
		return s.reopenAfter(fmt.Errorf("compact spool: %w", err))
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		s.logger.Warn("cannot sync the state dir after compaction", "error", err)
	}
	return s.reopenAfter(nil)
}

// copyTo writes a compacted, synced copy of the database to path.
func (s *Spool) copyTo(path string) error {
	dst, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	err = bolt.Compact(dst, s.db, compactTxBytes)
	if err == nil {
		err = dst.Sync()
	}
	return errors.Join(err, dst.Close())
}

// reopenAfter reopens the spool file after Compact closed it and returns
// cause. If the file cannot be reopened the spool is closed for good.
func (s *Spool) reopenAfter(cause error) error {
	db, err := s.openDB()
	if err != nil {
		s.db = nil
		close(s.ops)
		<-s.writerDone
		s.logger.Error("spool cannot be reopened after compaction; it is closed", "error", err)
		return errors.Join(cause, fmt.Errorf("reopen spool: %w", err))
	}
	s.db = db
	return cause
}

// syncDir makes a rename in dir durable. Windows has no directory fsync.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir) //nolint:gosec // the spool's own state dir
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
