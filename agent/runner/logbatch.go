package runner

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// logBatch coalesces a job's log lines into log events of several lines:
// the server's cost is per event, and restic can print tens of thousands of
// lines a second (ls, find, a verbose backup). A line waits at most linger
// for the next ones; the batch goes out earlier when it is full (maxLines,
// maxBytes of text), when a line of the other stream comes, and before any
// other event of the job, so the job's events keep their order. The event
// takes the time of its first line and, like every event, one seq from the
// spool, so exactly-once delivery per (job_id, seq) is unchanged.
//
// Every method is called with mu held, the job's emitMu; the linger timer
// takes it too.
type logBatch struct {
	mu       *sync.Mutex
	write    func(spool.Event) error
	linger   time.Duration
	maxLines int
	maxBytes int

	stream string
	lines  []string
	bytes  int
	first  time.Time
	timer  *time.Timer
	gen    uint64 // counts batches, so that a late timer leaves a newer one alone
	err    error  // a write error of the timer's flush, for the next call
}

func newLogBatch(mu *sync.Mutex, write func(spool.Event) error, linger time.Duration, maxLines, maxBytes int) *logBatch {
	return &logBatch{mu: mu, write: write, linger: linger, maxLines: maxLines, maxBytes: maxBytes}
}

// add queues one line, flushing first what cannot share its event.
func (b *logBatch) add(stream, text string, at time.Time) error {
	if b.err != nil {
		return b.err
	}
	if len(b.lines) > 0 && (stream != b.stream || b.bytes+len(text) > b.maxBytes) {
		if err := b.flush(); err != nil {
			return err
		}
	}
	if at.IsZero() {
		at = time.Now()
	}
	if len(b.lines) == 0 {
		b.stream, b.first = stream, at
	}
	b.lines = append(b.lines, text)
	b.bytes += len(text)
	if len(b.lines) >= b.maxLines || b.bytes >= b.maxBytes {
		return b.flush()
	}
	if len(b.lines) == 1 {
		gen := b.gen
		b.timer = time.AfterFunc(b.linger, func() { b.expire(gen) })
	}
	return nil
}

// expire flushes the batch the timer was set for, if it is still waiting.
func (b *logBatch) expire(gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen || len(b.lines) == 0 {
		return
	}
	if err := b.flush(); err != nil && b.err == nil {
		b.err = err
	}
}

// flush writes the waiting lines as one log event.
func (b *logBatch) flush() error {
	if len(b.lines) == 0 {
		return b.err
	}
	b.gen++
	if b.timer != nil {
		b.timer.Stop()
	}
	data, err := json.Marshal(wire.LogData{Stream: b.stream, Lines: b.lines})
	ev := spool.Event{Kind: string(wire.EventLog), Time: b.first, Data: data}
	b.lines, b.bytes = b.lines[:0], 0
	if err != nil {
		return fmt.Errorf("encode log event: %w", err)
	}
	return b.write(ev)
}

// close flushes and stops the timer; the job's backend run has returned,
// so no line comes after.
func (b *logBatch) close() error {
	err := b.flush()
	if b.timer != nil {
		b.timer.Stop()
	}
	if err == nil {
		err = b.err
	}
	return err
}
