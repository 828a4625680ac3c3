package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Class says what the spool may do with an event under pressure.
type Class uint8

const (
	// ClassKeep events (summaries, errors, final events) are never dropped.
	ClassKeep Class = iota
	// ClassLog events (restic's output lines) may be dropped, oldest first,
	// when the spool is full; a KindLogsDropped marker replaces them.
	ClassLog
	// ClassProgress events only matter until the next one: a newer progress
	// event of the same job replaces the older one, and progress is the first
	// thing dropped when the spool is full.
	ClassProgress
)

// Event kinds the spool knows by name. Every other kind is opaque to it.
const (
	// KindProgress is restic's periodic status (ClassProgress).
	KindProgress = "progress"
	// KindLog is one line of restic's output (ClassLog).
	KindLog = "log"
	// KindLogsDropped is the synthetic marker that stands in for log lines
	// dropped because the spool was full. Its Data is a DroppedLogs in JSON.
	KindLogsDropped = "logs_dropped"
)

// maxKindLen bounds Event.Kind.
const maxKindLen = 64

// DefaultClassify is the classification used when Options.Classify is nil:
// KindProgress is ClassProgress, KindLog is ClassLog, everything else
// ClassKeep.
func DefaultClassify(kind string) Class {
	switch kind {
	case KindProgress:
		return ClassProgress
	case KindLog:
		return ClassLog
	default:
		return ClassKeep
	}
}

// Event is one job event as the runner produces it. Data is opaque to the
// spool (typically one JSON message for the wire).
type Event struct {
	Kind string
	// Time is when the event happened; zero means "now" at Append.
	Time time.Time
	Data []byte
}

// Entry is a spooled event with its place in the job's stream.
type Entry struct {
	JobID string
	Seq   uint64
	Class Class
	Event
}

// encoded is an event ready to be stored: its class and its value bytes.
type encoded struct {
	class Class
	val   []byte
	store bool // false: superseded or dropped progress; gets a seq, not stored
}

// size is what an event counts against the cap: key plus value.
func (e *encoded) size() int64 { return int64(seqKeyLen + len(e.val)) }

// The value of an event: version byte, class byte, unix nanoseconds
// (big-endian int64), kind length byte, kind, data.
const (
	eventVersion   = 1
	eventHeaderLen = 2 + 8 + 1
	seqKeyLen      = 8
)

func seqKey(seq uint64) []byte { return encodeUint(seq) }

// encode validates and encodes events outside the writer goroutine.
func (s *Spool) encode(events []Event) ([]encoded, error) {
	out := make([]encoded, len(events))
	now := s.now()
	for i, ev := range events {
		if ev.Kind == "" || len(ev.Kind) > maxKindLen {
			return nil, fmt.Errorf("%w: kind %q", ErrInvalidEvent, ev.Kind)
		}
		if len(ev.Data) > s.opts.MaxEventBytes {
			return nil, fmt.Errorf("%w: %d bytes of data, limit %d", ErrInvalidEvent, len(ev.Data), s.opts.MaxEventBytes)
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		out[i] = encodeEvent(s.opts.Classify(ev.Kind), ev)
	}
	return out, nil
}

func encodeEvent(class Class, ev Event) encoded {
	v := make([]byte, eventHeaderLen, eventHeaderLen+len(ev.Kind)+len(ev.Data))
	v[0] = eventVersion
	v[1] = byte(class)
	binary.BigEndian.PutUint64(v[2:], uint64(ev.Time.UnixNano())) //nolint:gosec // two's complement round trip
	v[10] = byte(len(ev.Kind))                                    //nolint:gosec // kinds are at most maxKindLen bytes
	v = append(v, ev.Kind...)
	v = append(v, ev.Data...)
	return encoded{class: class, val: v, store: true}
}

var errBadEvent = errors.New("malformed event record")

// decodeEvent copies a stored value out of the memory map.
func decodeEvent(v []byte) (Class, Event, error) {
	if len(v) < eventHeaderLen || v[0] != eventVersion {
		return 0, Event{}, errBadEvent
	}
	class := Class(v[1])
	t := time.Unix(0, int64(binary.BigEndian.Uint64(v[2:]))).UTC() //nolint:gosec // two's complement round trip
	n := int(v[10])
	rest := v[eventHeaderLen:]
	if n > len(rest) {
		return 0, Event{}, errBadEvent
	}
	kind := string(rest[:n])
	data := slices.Clone(rest[n:])
	return class, Event{Kind: kind, Time: t, Data: data}, nil
}

// eventClass reads only the class of a stored value.
func eventClass(v []byte) Class {
	if len(v) < 2 {
		return ClassKeep
	}
	return Class(v[1])
}

// Append durably stores one event of a running job and returns its seq.
func (s *Spool) Append(jobID string, ev Event) (uint64, error) {
	return s.AppendBatch(jobID, []Event{ev})
}

// AppendBatch durably stores events of a running job in one commit and
// returns the seq of the first; event i gets seq first+i. The batch is all or
// nothing. An empty batch stores nothing and returns 0.
//
// Within a batch, only the last progress event is stored (the others still
// consume their seqs), and it replaces the job's previous unacknowledged
// progress event.
func (s *Spool) AppendBatch(jobID string, events []Event) (uint64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	enc, err := s.encode(events)
	if err != nil {
		return 0, err
	}
	var first uint64
	err = s.do(func(w *wtx) error {
		rec, err := w.job(jobID)
		if err != nil {
			return err
		}
		if rec.Status != JobRunning {
			return ErrJobFinished
		}
		first, err = w.appendEvents(rec, enc, false)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("append to job %s: %w", jobID, err)
	}
	return first, nil
}

// appendEvents stores enc after the job's last seq, making room under the cap
// first, and returns the first seq. With overCap, the events are stored even
// when not enough room can be made.
func (w *wtx) appendEvents(rec *jobRecord, enc []encoded, overCap bool) (uint64, error) {
	lastProg := -1
	for i := range enc {
		if enc[i].class == ClassProgress {
			lastProg = i
		}
	}
	var add int64
	for i := range enc {
		enc[i].store = enc[i].class != ClassProgress || i == lastProg
		if enc[i].store {
			add += enc[i].size()
		}
	}
	if lastProg >= 0 {
		if err := w.dropProgress(rec); err != nil {
			return 0, err
		}
	}
	if w.total()+add > w.s.opts.MaxBytes {
		var err error
		if add, err = w.makeRoom(rec, enc, lastProg, add, overCap); err != nil {
			return 0, err
		}
	}

	b, err := w.eventBucket(rec.ID, true)
	if err != nil {
		return 0, err
	}
	first := rec.LastSeq + 1
	var count int64
	for i := range enc {
		if !enc[i].store {
			continue
		}
		if err := b.Put(seqKey(first+uint64(i)), enc[i].val); err != nil {
			return 0, w.fail(err)
		}
		count++
	}
	rec.LastSeq = first + uint64(len(enc)) - 1
	if lastProg >= 0 && enc[lastProg].store {
		rec.ProgressSeq = first + uint64(lastProg)
	}
	w.account(rec, count, add)
	w.appended = true
	return first, nil
}

// account adds count events of bytes size to the job's and the spool's
// pending totals (negative to remove).
func (w *wtx) account(rec *jobRecord, count, bytes int64) {
	rec.PendingCount += count
	rec.PendingBytes += bytes
	w.dEvents += count
	w.dBytes += bytes
	w.put(rec)
}

// total is the pending byte count as this transaction stands.
func (w *wtx) total() int64 { return w.s.pendingBytes.Load() + w.dBytes }

// dropProgress deletes the job's stored, unacknowledged progress event.
func (w *wtx) dropProgress(rec *jobRecord) error {
	if rec.ProgressSeq == 0 || rec.ProgressSeq <= rec.AckedSeq {
		rec.ProgressSeq = 0
		return nil
	}
	b, err := w.eventBucket(rec.ID, false)
	if err != nil {
		return err
	}
	key := seqKey(rec.ProgressSeq)
	rec.ProgressSeq = 0
	w.put(rec)
	if b == nil {
		return nil
	}
	v := b.Get(key)
	if v == nil {
		return nil
	}
	size := int64(len(key) + len(v))
	if err := b.Delete(key); err != nil {
		return w.fail(err)
	}
	w.account(rec, -1, -size)
	return nil
}

// Ack records that the server has stored the job's events up to and
// including upTo and deletes them. Acks are cumulative and idempotent: an
// upTo at or below an earlier one does nothing. An upTo beyond the job's last
// seq is ErrAckBeyondLast.
func (s *Spool) Ack(jobID string, upTo uint64) error {
	err := s.do(func(w *wtx) error {
		rec, err := w.job(jobID)
		if err != nil {
			return err
		}
		if upTo > rec.LastSeq {
			return fmt.Errorf("%w: ack %d, last seq %d", ErrAckBeyondLast, upTo, rec.LastSeq)
		}
		if upTo <= rec.AckedSeq {
			return nil
		}
		return w.ack(rec, upTo)
	})
	if err != nil {
		return fmt.Errorf("ack job %s: %w", jobID, err)
	}
	return nil
}

func (w *wtx) ack(rec *jobRecord, upTo uint64) error {
	b, err := w.eventBucket(rec.ID, false)
	if err != nil {
		return err
	}
	var count, size int64
	if b != nil {
		// Collect first: deleting under a moving cursor skips keys.
		var keys [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil && decodeUint(k) <= upTo; k, v = c.Next() {
			keys = append(keys, slices.Clone(k))
			size += int64(len(k) + len(v))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return w.fail(err)
			}
		}
		count = int64(len(keys))
	}
	rec.AckedSeq = upTo
	if rec.ProgressSeq <= upTo {
		rec.ProgressSeq = 0
	}
	w.account(rec, -count, -size)
	if rec.Status == JobFinished && rec.AckedSeq == rec.LastSeq {
		return w.dropEventBucket(rec.ID)
	}
	return nil
}

// Pending returns up to limit (all if limit <= 0) unacknowledged events of
// the job with seq > afterSeq, in seq order. A connection resends
// Pending(job, 0, n) after a reconnect and pages on with the last seq it sent.
func (s *Spool) Pending(jobID string, afterSeq uint64, limit int) ([]Entry, error) {
	var out []Entry
	if afterSeq == math.MaxUint64 {
		return nil, nil
	}
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(jobID))
		if v == nil {
			return ErrJobUnknown
		}
		b := tx.Bucket(bucketEvents).Bucket([]byte(jobID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(afterSeq + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			class, ev, err := decodeEvent(v)
			if err != nil {
				return fmt.Errorf("%w: seq %d: %w", ErrCorrupt, decodeUint(k), err)
			}
			out = append(out, Entry{JobID: jobID, Seq: decodeUint(k), Class: class, Event: ev})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending events of job %s: %w", jobID, err)
	}
	return out, nil
}

// PendingJobs lists the jobs that have unacknowledged events, oldest job
// first: what a connection must resend after a reconnect.
func (s *Spool) PendingJobs() ([]string, error) {
	recs, err := s.jobRecords(func(r *jobRecord) bool { return r.PendingCount > 0 })
	if err != nil {
		return nil, fmt.Errorf("pending jobs: %w", err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids, nil
}
