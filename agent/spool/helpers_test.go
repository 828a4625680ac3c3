package spool

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
)

// openTest opens a spool in a fresh temp dir. Unless the test sets it, fsync
// is off: a test process that ends normally loses nothing without it, and the
// crash and reopen tests that care keep it on.
func openTest(t testing.TB, opts Options) *Spool {
	t.Helper()
	return openDir(t, t.TempDir(), opts)
}

func openDir(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testWriter{t}})
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func mustBegin(t testing.TB, s *Spool, id string) {
	t.Helper()
	if err := s.BeginJob(id, JobMeta{Kind: "backup"}); err != nil {
		t.Fatalf("begin %s: %v", id, err)
	}
}

func mustAppend(t testing.TB, s *Spool, id string, ev Event) uint64 {
	t.Helper()
	seq, err := s.Append(id, ev)
	if err != nil {
		t.Fatalf("append to %s: %v", id, err)
	}
	return seq
}

func mustPending(t testing.TB, s *Spool, id string) []Entry {
	t.Helper()
	entries, err := s.Pending(id, 0, 0)
	if err != nil {
		t.Fatalf("pending %s: %v", id, err)
	}
	return entries
}

func mustJob(t testing.TB, s *Spool, id string) Job {
	t.Helper()
	j, err := s.Job(id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}

func logLine(n int) Event {
	return Event{Kind: KindLog, Time: time.Unix(1700000000, int64(n)), Data: fmt.Appendf(nil, "line %d", n)}
}

func progress(n int) Event {
	return Event{Kind: KindProgress, Data: fmt.Appendf(nil, `{"percent_done":%d}`, n)}
}

func seqs(entries []Entry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

// checkConsistent runs bbolt's own consistency check over the file and
// verifies that the in-memory totals match the job records and the events.
func checkConsistent(t testing.TB, s *Spool) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		var count, size int64
		err := tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			rec, err := decodeJob(v)
			if err != nil {
				return err
			}
			var n, b int64
			if eb := tx.Bucket(bucketEvents).Bucket(k); eb != nil {
				if err := eb.ForEach(func(ek, ev []byte) error {
					seq := decodeUint(ek)
					if seq <= rec.AckedSeq || seq > rec.LastSeq {
						return fmt.Errorf("job %s: seq %d outside (%d, %d]", k, seq, rec.AckedSeq, rec.LastSeq)
					}
					n++
					b += int64(len(ek) + len(ev))
					return nil
				}); err != nil {
					return err
				}
			}
			if n != rec.PendingCount || b != rec.PendingBytes {
				return fmt.Errorf("job %s: record says %d events/%d bytes, bucket holds %d/%d", k, rec.PendingCount, rec.PendingBytes, n, b)
			}
			count += n
			size += b
			return nil
		})
		if err != nil {
			return err
		}
		if count != s.pendingEvents.Load() || size != s.pendingBytes.Load() {
			return fmt.Errorf("totals say %d events/%d bytes, jobs hold %d/%d", s.pendingEvents.Load(), s.pendingBytes.Load(), count, size)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("spool inconsistent: %v", err)
	}
}
