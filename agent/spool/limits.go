package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// The size cap (Options.MaxBytes) bounds the bytes of unacknowledged events,
// so a server that stays away for days cannot fill the host's disk. When an
// append would cross it, the spool makes room in this order:
//
//  1. Stored progress events of any job, oldest job first. (Each job holds at
//     most one: a newer progress event always replaces the older.)
//  2. The incoming batch's own progress event: it still gets its seq, it is
//     just not stored.
//  3. Log lines (ClassLog), oldest job first and oldest line first, in
//     chunks of at least 1/64 of the cap so that this stays rare. Each chunk
//     dropped from a job is replaced by one KindLogsDropped marker at the end
//     of that job's stream, saying how many lines went and which seqs they
//     had (ClassKeep, so the server always learns about the gap). A chunk
//     is sized to make room for the batch and its own marker; chunks are
//     dropped until the batch fits or no log lines are left.
//
// Everything else (ClassKeep: summaries, errors, final events, markers) is
// never dropped. If the steps above cannot make enough room, Append fails
// with ErrSpoolFull and stores nothing; FinishJob stores its final events
// over the cap rather than leave the job unfinished.
//
// Acknowledged state is never touched: dropping removes only unacknowledged
// events, seqs are never reused (markers take new ones), and a job's
// LastSeq and AckedSeq only grow. Dropped lines may have been sent already
// without being acknowledged; the marker then over-reports, which is the
// safe side.

// DroppedLogs is the Data (JSON) of a KindLogsDropped marker.
type DroppedLogs struct {
	// Message is for humans: "N log lines dropped: spool full".
	Message string `json:"message"`
	Count   uint64 `json:"count"`
	// FirstSeq and LastSeq bound the dropped seqs; events of other classes
	// between them were kept.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// dropChunkDivisor sets the minimum chunk of log lines dropped at once:
// MaxBytes / dropChunkDivisor.
const dropChunkDivisor = 64

// makeRoom frees space for add more bytes of rec's batch enc, following the
// policy above, and returns add, which shrinks if the batch's own progress
// event is dropped.
func (w *wtx) makeRoom(rec *jobRecord, enc []encoded, lastProg int, add int64, overCap bool) (int64, error) {
	over := func() int64 { return w.total() + add - w.s.opts.MaxBytes }
	recs, err := w.pendingRecords()
	if err != nil {
		return 0, err
	}

	for _, r := range recs {
		if over() <= 0 {
			return add, nil
		}
		if r.ProgressSeq == 0 || r.ProgressSeq <= r.AckedSeq {
			continue
		}
		before := r.PendingCount
		if err := w.dropProgress(r); err != nil {
			return 0, err
		}
		if r.PendingCount < before {
			r.DroppedProgress++
			w.droppedProgress++
		}
	}

	if over() > 0 && lastProg >= 0 && enc[lastProg].store {
		enc[lastProg].store = false
		add -= enc[lastProg].size()
		rec.DroppedProgress++
		w.droppedProgress++
		w.put(rec)
	}

	// One chunk may not be enough: a batch can need more than a chunk, and
	// each chunk's marker takes back some of the room it made. Keep going,
	// oldest job first, until the batch fits or no lines are left.
	for _, r := range recs {
		for over() > 0 {
			dropped, err := w.dropLogs(r, over())
			if err != nil {
				return 0, err
			}
			if !dropped {
				break
			}
		}
	}

	if over() > 0 {
		if overCap {
			w.s.logger.Warn("spool over its cap: storing a job's final events anyway",
				"job_id", rec.ID, "pending_bytes", w.total(), "max_bytes", w.s.opts.MaxBytes)
			return add, nil
		}
		return 0, fmt.Errorf("%w: %d bytes pending, %d more needed, cap %d, nothing left to drop",
			ErrSpoolFull, w.total(), add, w.s.opts.MaxBytes)
	}
	return add, nil
}

// pendingRecords returns every job with unacknowledged events, oldest first.
func (w *wtx) pendingRecords() ([]*jobRecord, error) {
	ids := make(map[string]struct{}, len(w.jobs))
	for id := range w.jobs {
		ids[id] = struct{}{} // includes jobs begun in this transaction
	}
	if err := w.tx.Bucket(bucketJobs).ForEach(func(k, _ []byte) error {
		ids[string(k)] = struct{}{}
		return nil
	}); err != nil {
		return nil, w.fail(err)
	}
	var recs []*jobRecord
	for id := range ids {
		rec, err := w.job(id)
		if errors.Is(err, ErrJobUnknown) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.PendingCount > 0 {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Order < recs[j].Order })
	return recs, nil
}

// maxMarkerSize is the most one KindLogsDropped marker counts against the
// cap: the size of one with the widest count and seqs.
var maxMarkerSize = func() int64 {
	m, err := droppedMarker(time.Time{}, math.MaxUint64, math.MaxUint64, math.MaxUint64)
	if err != nil {
		panic(err) // cannot happen: a DroppedLogs always marshals
	}
	return m.size()
}()

// droppedMarker is the KindLogsDropped marker for n log lines with seqs
// first to last.
func droppedMarker(now time.Time, n, first, last uint64) (encoded, error) {
	data, err := json.Marshal(DroppedLogs{
		Message:  fmt.Sprintf("%d log lines dropped: spool full", n),
		Count:    n,
		FirstSeq: first,
		LastSeq:  last,
	})
	if err != nil {
		return encoded{}, err
	}
	return encodeEvent(ClassKeep, Event{Kind: KindLogsDropped, Time: now, Data: data}), nil
}

// dropLogs drops a chunk of the job's oldest log lines and appends one marker
// for them. The chunk frees need bytes net of its marker (and at least
// MaxBytes/dropChunkDivisor) if the job has that many lines; it reports
// whether it dropped anything, which it does not when the job has no lines
// left or too few to pay for their marker.
func (w *wtx) dropLogs(rec *jobRecord, need int64) (bool, error) {
	b, err := w.eventBucket(rec.ID, false)
	if err != nil || b == nil {
		return false, err
	}
	target := max(need+maxMarkerSize, w.s.opts.MaxBytes/dropChunkDivisor)
	var (
		keys            [][]byte
		freed           int64
		firstSeq, lastS uint64
	)
	c := b.Cursor()
	for k, v := c.First(); k != nil && freed < target; k, v = c.Next() {
		if eventClass(v) != ClassLog {
			continue
		}
		seq := decodeUint(k)
		if firstSeq == 0 {
			firstSeq = seq
		}
		lastS = seq
		keys = append(keys, slices.Clone(k))
		freed += int64(len(k) + len(v))
	}
	if len(keys) == 0 {
		return false, nil
	}
	count := int64(len(keys))
	n := uint64(count)
	marker, err := droppedMarker(w.s.now(), n, firstSeq, lastS)
	if err != nil {
		return false, w.fail(err)
	}
	if freed <= marker.size() {
		return false, nil // the marker would cost more than the lines it replaces
	}

	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return false, w.fail(err)
		}
	}
	w.account(rec, -count, -freed)
	seq := rec.LastSeq + 1
	if err := b.Put(seqKey(seq), marker.val); err != nil {
		return false, w.fail(err)
	}
	rec.LastSeq = seq
	rec.DroppedLogs += n
	w.droppedLogs += n
	w.account(rec, 1, marker.size())
	w.appended = true
	w.s.logger.Warn("spool full: dropped the oldest log lines of a job",
		"job_id", rec.ID, "count", n, "first_seq", firstSeq, "last_seq", lastS, "marker_seq", seq)
	return true, nil
}
