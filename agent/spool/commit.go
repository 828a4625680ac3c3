package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxGroupOps bounds how many queued operations share one commit, so that
// one transaction's memory stays bounded under a flood of small appends.
const maxGroupOps = 256

// op is one write operation waiting for the writer goroutine. fn runs inside
// a write transaction shared with other operations (group commit). fn must
// check everything that can fail for its own reasons before it changes the
// transaction, so that its error leaves the others unharmed; a storage error
// goes through wtx.fail and fails the whole group.
type op struct {
	fn   func(w *wtx) error
	err  error
	own  bool // err is fn's own, not the group's storage error
	done chan struct{}
}

// do runs fn in the next group commit and returns once that commit is on disk.
func (s *Spool) do(fn func(w *wtx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	o := &op{fn: fn, done: make(chan struct{})}
	s.ops <- o
	<-o.done
	return o.err
}

// writeLoop is the single writer: it takes the next operation plus whatever
// else is already queued and commits them together, so N concurrent callers
// pay for one fsync rather than N.
func (s *Spool) writeLoop() {
	defer close(s.writerDone)
	group := make([]*op, 0, maxGroupOps)
	for o := range s.ops {
		group = append(group[:0], o)
	drain:
		for len(group) < maxGroupOps {
			select {
			case next, ok := <-s.ops:
				if !ok {
					break drain
				}
				group = append(group, next)
			default:
				break drain
			}
		}
		s.commit(group)
		clear(group)
	}
}

// commit runs one group in one transaction.
func (s *Spool) commit(group []*op) {
	var w *wtx
	err := safely(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			w = newWtx(s, tx)
			for _, o := range group {
				o.err = o.fn(w)
				if w.fatal != nil {
					return w.fatal
				}
				o.own = o.err != nil
			}
			return w.flush()
		})
	})
	if err != nil {
		s.logger.Error("spool write failed", "error", err)
		for _, o := range group {
			if !o.own {
				o.err = fmt.Errorf("spool write: %w", err)
			}
			close(o.done)
		}
		return
	}
	s.pendingEvents.Add(w.dEvents)
	s.pendingBytes.Add(w.dBytes)
	s.droppedLogs.Add(w.droppedLogs)
	s.droppedProgress.Add(w.droppedProgress)
	for _, o := range group {
		close(o.done)
	}
	if w.appended {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// wtx is the state of one group commit: the transaction, the job records it
// has read or changed, and the changes to the in-memory totals that apply
// once it commits.
type wtx struct {
	s      *Spool
	tx     *bolt.Tx
	jobs   map[string]*jobRecord
	dirty  map[string]bool
	events map[string]*bolt.Bucket
	fatal  error

	dEvents, dBytes              int64
	droppedLogs, droppedProgress uint64
	appended                     bool
}

func newWtx(s *Spool, tx *bolt.Tx) *wtx {
	return &wtx{
		s:      s,
		tx:     tx,
		jobs:   make(map[string]*jobRecord),
		dirty:  make(map[string]bool),
		events: make(map[string]*bolt.Bucket),
	}
}

// fail records a storage error that aborts the whole group.
func (w *wtx) fail(err error) error {
	if w.fatal == nil {
		w.fatal = err
	}
	return err
}

// job returns the job's record, read once per transaction.
func (w *wtx) job(id string) (*jobRecord, error) {
	if rec, ok := w.jobs[id]; ok {
		if rec == nil {
			return nil, ErrJobUnknown
		}
		return rec, nil
	}
	v := w.tx.Bucket(bucketJobs).Get([]byte(id))
	if v == nil {
		return nil, ErrJobUnknown
	}
	rec, err := decodeJob(v)
	if err != nil {
		return nil, w.fail(fmt.Errorf("%w: job %s: %w", ErrCorrupt, id, err))
	}
	w.jobs[id] = rec
	return rec, nil
}

// put marks a record as changed; flush writes it back.
func (w *wtx) put(rec *jobRecord) {
	w.jobs[rec.ID] = rec
	w.dirty[rec.ID] = true
}

// remove deletes a job's record and events at flush time.
func (w *wtx) remove(id string) error {
	if err := w.dropEventBucket(id); err != nil {
		return err
	}
	w.jobs[id] = nil
	w.dirty[id] = true
	return nil
}

// eventBucket returns the job's event bucket, creating it if create is set;
// nil if it does not exist and create is false.
func (w *wtx) eventBucket(id string, create bool) (*bolt.Bucket, error) {
	if b, ok := w.events[id]; ok {
		return b, nil
	}
	parent := w.tx.Bucket(bucketEvents)
	b := parent.Bucket([]byte(id))
	if b == nil {
		if !create {
			return nil, nil
		}
		var err error
		if b, err = parent.CreateBucket([]byte(id)); err != nil {
			return nil, w.fail(err)
		}
	}
	// Seqs only grow, so pages split at the right edge: fill them completely.
	b.FillPercent = 1.0
	w.events[id] = b
	return b, nil
}

// dropEventBucket deletes a job's (empty) event bucket.
func (w *wtx) dropEventBucket(id string) error {
	b, err := w.eventBucket(id, false)
	if err != nil || b == nil {
		return err
	}
	delete(w.events, id)
	if err := w.tx.Bucket(bucketEvents).DeleteBucket([]byte(id)); err != nil {
		return w.fail(err)
	}
	return nil
}

// flush writes the changed job records back.
func (w *wtx) flush() error {
	jobs := w.tx.Bucket(bucketJobs)
	for id := range w.dirty {
		rec := w.jobs[id]
		if rec == nil {
			if err := jobs.Delete([]byte(id)); err != nil {
				return err
			}
			continue
		}
		v, err := encodeJob(rec)
		if err != nil {
			return err
		}
		if err := jobs.Put([]byte(id), v); err != nil {
			return err
		}
	}
	return nil
}

// safely turns a panic inside bbolt (which it raises on pages it finds
// inconsistent) into an error, so that a damaged file fails the operation
// instead of the agent. bbolt rolls the transaction back and releases its
// locks before the panic reaches us.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: transaction panicked: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}

func encodeUint(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

func decodeUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
