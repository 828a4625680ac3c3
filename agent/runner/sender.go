package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// sendBatch is how many spooled events the sender reads at a time.
const sendBatch = 256

// sender delivers the spool to one connection: every unacknowledged event,
// job by job (oldest job first) and in seq order, job_finished last. It
// starts from what the server acknowledged, so after a reconnect everything
// not yet acknowledged is sent again; the server stores each (job_id, seq)
// once. Then it follows the spool as jobs append to it.
type sender struct {
	a   *Agent
	c   *wire.Conn
	log hclog.Logger

	// sent is the highest seq sent per job on this connection; only run
	// touches it.
	sent map[string]uint64

	mu      sync.Mutex
	resends map[string]struct{}
	wake    chan struct{}
}

func newSender(a *Agent, c *wire.Conn) *sender {
	return &sender{
		a:       a,
		c:       c,
		log:     a.log.Named("sender"),
		sent:    map[string]uint64{},
		resends: map[string]struct{}{},
		wake:    make(chan struct{}, 1),
	}
}

// resend makes the sender send the job's unacknowledged events again, from
// the server's last acknowledgement: the server dispatched a job it already
// gave us, so it may have lost what we sent.
func (s *sender) resend(jobID string) {
	s.mu.Lock()
	s.resends[jobID] = struct{}{}
	s.mu.Unlock()
	s.poke()
}

func (s *sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run sends until ctx (the connection's) ends.
func (s *sender) run(ctx context.Context) {
	for {
		if err := s.pass(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, wire.ErrClosed) {
				return
			}
			s.log.Error("sending spooled events failed", "error", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.a.spool.Notify():
		case <-s.wake:
		}
	}
}

// pass sends everything pending that this connection has not sent yet.
func (s *sender) pass(ctx context.Context) error {
	s.mu.Lock()
	for id := range s.resends {
		delete(s.sent, id)
	}
	clear(s.resends)
	s.mu.Unlock()

	ids, err := s.a.spool.PendingJobs()
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
		if err := s.sendJob(ctx, id); err != nil && !errors.Is(err, spool.ErrJobUnknown) {
			return err
		}
	}
	for id := range s.sent {
		if !live[id] {
			delete(s.sent, id)
		}
	}
	return nil
}

// sendJob sends the job's pending events after the last one sent (or
// acknowledged).
func (s *sender) sendJob(ctx context.Context, id string) error {
	job, err := s.a.spool.Job(id)
	if err != nil {
		return err
	}
	from := max(s.sent[id], job.AckedSeq)
	for {
		entries, err := s.a.spool.Pending(id, from, sendBatch)
		if err != nil || len(entries) == 0 {
			return err
		}
		for _, e := range entries {
			if e.Seq <= from {
				continue
			}
			// Seqs the spool dropped when it was full: stand-ins keep the
			// server's sequence unbroken.
			for seq := from + 1; seq < e.Seq; seq++ {
				if err := s.c.Send(ctx, wire.TypeJobEvent, gapEvent(id, seq, from+1, e.Seq-1)); err != nil {
					return err
				}
			}
			msg, err := wireMessage(e)
			if err != nil {
				s.log.Error("unreadable spooled event; sending a failure in its place", "job_id", id, "seq", e.Seq, "error", err)
				msg = message{wire.TypeJobFinished, wire.JobFinished{
					JobID: id, Seq: e.Seq, Status: wire.StatusFailed, ExitCode: -1,
					Error: "the agent could not read the job's recorded result", FinishedAt: e.Time,
				}}
			}
			if err := s.c.Send(ctx, msg.typ, msg.payload); err != nil {
				return err
			}
			from = e.Seq
			s.sent[id] = from
		}
	}
}
