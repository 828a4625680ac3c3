package spool

import (
	"fmt"
	"slices"
	"sync"
)

// DefaultWriterBuffer is how many events a JobWriter holds before Write waits
// for the disk.
const DefaultWriterBuffer = 10_000

// JobWriter appends one job's events in the background. A runner reading
// restic's output line by line calls Write, which only buffers; a goroutine
// appends whatever has accumulated with one AppendBatch, so while one commit
// waits for fsync the next batch grows, and the batch size follows the rate
// of output instead of being tuned. Events still buffered when the agent
// dies are lost, like the output restic had not yet printed; the job is then
// failed as ReasonAgentRestarted anyway. Call Flush when the events written so
// far must be on disk (before FinishJob, say).
//
// A JobWriter is safe for concurrent use (stdout and stderr readers).
type JobWriter struct {
	s     *Spool
	jobID string
	limit int

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []Event
	written uint64 // events handed to Write
	durable uint64 // events appended (or failed)
	busy    bool   // the flusher goroutine is running
	err     error  // first append error; sticky
	closed  bool
}

// NewJobWriter returns a writer for a job begun with BeginJob. buffer bounds
// the events held in memory (0 means DefaultWriterBuffer).
func (s *Spool) NewJobWriter(jobID string, buffer int) *JobWriter {
	if buffer <= 0 {
		buffer = DefaultWriterBuffer
	}
	w := &JobWriter{s: s, jobID: jobID, limit: buffer}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Write buffers ev (copying its Data) for the next append. It blocks only
// while the buffer is full, and returns the first append error there was.
func (w *JobWriter) Write(ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = w.s.now()
	}
	ev.Data = slices.Clone(ev.Data)
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.buf) >= w.limit && w.err == nil && !w.closed {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("write to job %s: %w", w.jobID, ErrClosed)
	}
	w.buf = append(w.buf, ev)
	w.written++
	if !w.busy {
		w.busy = true
		go w.flushLoop()
	}
	return nil
}

// flushLoop appends buffered events until the buffer is empty.
func (w *JobWriter) flushLoop() {
	w.mu.Lock()
	for len(w.buf) > 0 {
		batch := w.buf
		w.buf = nil
		w.cond.Broadcast() // room in the buffer
		w.mu.Unlock()
		_, err := w.s.AppendBatch(w.jobID, batch)
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
			w.s.logger.Error("appending job events failed", "job_id", w.jobID, "error", err)
		}
		w.durable += uint64(len(batch))
		w.cond.Broadcast()
	}
	w.busy = false
	w.mu.Unlock()
}

// Flush waits until every event written before it is on disk, and returns
// the first append error there was.
func (w *JobWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.written
	for w.durable < target {
		w.cond.Wait()
	}
	return w.err
}

// Close flushes and refuses further writes.
func (w *JobWriter) Close() error {
	err := w.Flush()
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	return err
}
