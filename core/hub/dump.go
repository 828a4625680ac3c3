package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// Errors of a download's data stream.
var (
	// ErrDataOffline means the host's agent is not connected, so a
	// download cannot start.
	ErrDataOffline = errors.New("the host's agent is not connected")
	// ErrDataBusy means a download of the job is already open.
	ErrDataBusy = errors.New("the job's output is already being downloaded")
	// ErrDataLost means the agent connection the download came through
	// dropped; job_data is never resent, so the download is lost.
	ErrDataLost = errors.New("the connection to the host's agent dropped during the download")
	// ErrDataOverrun means the agent broke the protocol's flow control or
	// numbering; the download cannot be trusted.
	ErrDataOverrun = errors.New("the agent sent the job's output out of order or beyond its window")
)

// ackEvery is how many pieces a download acknowledges at once while more
// are waiting; with nothing waiting it acknowledges at once.
const ackEvery = wire.JobDataWindow / 4

// DataStream is one download: it takes the job_data of one job from its
// host's connection and hands the pieces to one reader, in order. The hub
// holds at most wire.JobDataWindow pieces for it; the agent sends more only
// as the reader acknowledges them (Next does), so a slow reader holds
// restic back rather than filling the server's memory. Nothing of it is
// stored.
type DataStream struct {
	h      *Hub
	hostID string
	jobID  string
	ac     *agentConn
	ch     chan wire.JobData

	// Guarded by mu: the handler's side.
	mu      sync.Mutex
	recvSeq uint64
	failed  error
	failSig chan struct{}

	// The reader's side.
	delivered uint64
	acked     uint64
	eof       bool
	sub       <-chan store.JobLog
	unsub     func()
	ended     bool
}

// OpenData starts receiving jobID's output for a download. Call it before
// the job is dispatched, so that no piece arrives unclaimed, and Close the
// stream when done. The job's host must be connected (ErrDataOffline);
// its data must arrive on that connection.
func (h *Hub) OpenData(hostID, jobID string) (*DataStream, error) {
	ac := h.conn(hostID)
	if ac == nil || !ac.helloDone.Load() {
		return nil, ErrDataOffline
	}
	s := &DataStream{
		h: h, hostID: hostID, jobID: jobID, ac: ac,
		ch:      make(chan wire.JobData, wire.JobDataWindow),
		failSig: make(chan struct{}),
	}
	h.dataMu.Lock()
	defer h.dataMu.Unlock()
	if h.data == nil {
		h.data = map[string]*DataStream{}
	}
	if h.data[jobID] != nil {
		return nil, ErrDataBusy
	}
	h.data[jobID] = s
	s.sub, s.unsub = h.Subscribe(jobID)
	return s, nil
}

// Close stops the download's routing; pieces still coming are dropped
// unacknowledged (cancel the job to stop them).
func (s *DataStream) Close() {
	s.h.dataMu.Lock()
	if s.h.data[s.jobID] == s {
		delete(s.h.data, s.jobID)
	}
	s.h.dataMu.Unlock()
	if s.unsub != nil {
		s.unsub()
	}
}

// JobEndedError is what Next returns when the job ended before its output
// was complete (restic failed, the job was cancelled).
type JobEndedError struct {
	Status string
	Reason string
}

func (e *JobEndedError) Error() string {
	if e.Reason == "" {
		return "the job ended " + e.Status + " before its output was complete"
	}
	return fmt.Sprintf("the job ended %s before its output was complete: %s", e.Status, e.Reason)
}

// Next returns the next piece of output, io.EOF once all of it came, a
// *JobEndedError when the job ended without completing, ErrDataLost or
// ErrDataOverrun, or ctx's error. Each call acknowledges what earlier
// calls returned (the caller has written it by then).
func (s *DataStream) Next(ctx context.Context) ([]byte, error) {
	if s.eof {
		return nil, io.EOF
	}
	s.ack(ctx, len(s.ch) == 0)
	for {
		// Pieces come before the job's end on the connection, so what
		// is waiting is taken before an end is believed.
		select {
		case d := <-s.ch:
			return s.take(d)
		default:
		}
		if s.ended {
			return nil, s.endError(ctx)
		}
		select {
		case d := <-s.ch:
			return s.take(d)
		case <-s.failSig:
			s.mu.Lock()
			err := s.failed
			s.mu.Unlock()
			return nil, err
		case <-s.ac.c.Context().Done():
			return nil, ErrDataLost
		case <-ctx.Done():
			return nil, ctx.Err()
		case _, ok := <-s.sub:
			if ok {
				continue // an event of the job (its progress): not ours
			}
			s.resubscribe(ctx)
		}
	}
}

func (s *DataStream) take(d wire.JobData) ([]byte, error) {
	s.delivered = d.Seq
	if d.EOF {
		s.eof = true
		s.ack(context.WithoutCancel(s.h.ctx), true)
		if len(d.Data) == 0 {
			return nil, io.EOF
		}
	}
	return d.Data, nil
}

// ack acknowledges what was delivered, batching while pieces wait.
func (s *DataStream) ack(ctx context.Context, now bool) {
	if s.delivered <= s.acked || (!now && s.delivered-s.acked < ackEvery) {
		return
	}
	if err := s.ac.c.Send(ctx, wire.TypeJobDataAck, wire.JobDataAck{JobID: s.jobID, UpToSeq: s.delivered}); err != nil {
		s.ac.log.Debug("could not acknowledge job output", "job_id", s.jobID, "error", err)
		return
	}
	s.acked = s.delivered
}

// resubscribe runs when the job's subscription closed: the job ended, or
// the subscription fell behind its events and is renewed.
func (s *DataStream) resubscribe(ctx context.Context) {
	j, err := s.h.store.GetJob(ctx, s.jobID)
	if err == nil && store.Terminal(j.Status) {
		s.ended = true
		s.sub = nil
		return
	}
	s.unsub()
	s.sub, s.unsub = s.h.Subscribe(s.jobID)
}

func (s *DataStream) endError(ctx context.Context) error {
	j, err := s.h.store.GetJob(context.WithoutCancel(ctx), s.jobID)
	if err != nil {
		return &JobEndedError{Status: "unknown"}
	}
	return &JobEndedError{Status: j.Status, Reason: j.Error}
}

// fail ends the download with err; the handler's side.
func (s *DataStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		close(s.failSig)
	}
}

// onData routes a job_data to its download without ever waiting: the
// stream holds the window, and an agent that overruns it fails the
// download. Data of a job nobody downloads, or from a connection that is
// not the download's, is dropped unacknowledged.
func (ac *agentConn) onData(ctx context.Context, _ *wire.Conn, env wire.Envelope) error {
	<-ac.ready
	ac.touch(ctx)
	var d wire.JobData
	if err := env.DecodePayload(&d); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrPolicyViolation, err)
	}
	ac.h.dataMu.Lock()
	s := ac.h.data[d.JobID]
	ac.h.dataMu.Unlock()
	if s == nil || s.ac != ac {
		ac.log.Debug("job output nobody is downloading; dropped", "job_id", d.JobID, "seq", d.Seq)
		if s == nil && d.Seq == 1 {
			ac.cancelOrphanData(d.JobID)
		}
		return nil
	}
	s.mu.Lock()
	inOrder := d.Seq == s.recvSeq+1
	if inOrder {
		s.recvSeq = d.Seq
	}
	s.mu.Unlock()
	if !inOrder {
		s.fail(fmt.Errorf("%w: seq %d", ErrDataOverrun, d.Seq))
		return nil
	}
	select {
	case s.ch <- d:
	default:
		s.fail(fmt.Errorf("%w: more than %d pieces unacknowledged", ErrDataOverrun, wire.JobDataWindow))
	}
	return nil
}

// cancelOrphanData stops a job of this connection's host whose output
// nobody waits for (its download ended, or the server restarted before it
// was sent): unacknowledged, it would hold restic and its repository lock
// until its deadline. Another host's job is left alone.
func (ac *agentConn) cancelOrphanData(jobID string) {
	ac.h.spawn(func() {
		ctx, cancel := context.WithTimeout(ac.h.ctx, 10*time.Second)
		defer cancel()
		j, err := ac.h.store.GetJob(ctx, jobID)
		if err != nil || j.HostID != ac.hostID || store.Terminal(j.Status) {
			return
		}
		ac.log.Warn("cancelling a job whose output nobody is downloading", "job_id", jobID)
		if _, err := ac.h.Cancel(ctx, jobID, "nobody is downloading the job's output"); err != nil && !errors.Is(err, store.ErrJobFinished) {
			ac.log.Warn("cancelling the job failed", "job_id", jobID, "error", err)
		}
	})
}
