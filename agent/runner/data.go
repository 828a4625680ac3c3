package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// errDataNoConnection fails a dump whose output has nowhere to go: job_data
// is live only, never spooled, so a download needs the connection it
// started on.
var errDataNoConnection = errors.New("the connection to the server dropped during the download; download again")

// DefaultDataStallTimeout is Config.DataStallTimeout's default: how long a
// download waits, its window full, for the server to take more of it.
const DefaultDataStallTimeout = 2 * time.Minute

// stalledReason is the cancel reason of a download the server stopped
// acknowledging: restic is stopped rather than held open (with its
// repository lock) until the job's deadline.
func stalledReason(d time.Duration) string {
	return fmt.Sprintf("the server acknowledged none of the download's output for %s (its flow-control window stayed full); restic was stopped", d)
}

// dataStream sends a job's raw output (Data events of a dump) as job_data
// on the connection that was current when the first piece came, holding
// the backend back while wire.JobDataWindow messages wait for the
// server's job_data_ack. The zero value is ready to use.
type dataStream struct {
	mu    sync.Mutex
	conn  *wire.Conn
	seq   uint64
	acked uint64
	sent  uint64 // bytes sent in job_data
	wake  chan struct{}
}

// signal returns the channel an acknowledgement pokes; mu is held.
func (d *dataStream) signal() chan struct{} {
	if d.wake == nil {
		d.wake = make(chan struct{}, 1)
	}
	return d.wake
}

// sendData passes b on as job_data, in pieces of at most
// wire.MaxJobDataBytes. It blocks while the window is full and fails when
// the job ends or the connection drops.
func (j *job) sendData(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), wire.MaxJobDataBytes)
		if err := j.sendDataMsg(b[:n], false); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// endData sends the job's last job_data (eof): everything arrived. The
// job's summary then records the bytes sent, {"message_type":"summary",
// "bytes_sent":N}, so that its record shows the download's size.
func (j *job) endData() error {
	if err := j.sendDataMsg(nil, true); err != nil {
		return err
	}
	j.data.mu.Lock()
	sent := j.data.sent
	j.data.mu.Unlock()
	doc, err := json.Marshal(struct {
		MessageType string `json:"message_type"`
		BytesSent   uint64 `json:"bytes_sent"`
	}{"summary", sent})
	if err != nil {
		return err
	}
	j.emitMu.Lock()
	j.lastSummary = doc
	j.emitMu.Unlock()
	return nil
}

func (j *job) sendDataMsg(b []byte, eof bool) error {
	d := &j.data
	d.mu.Lock()
	if d.conn == nil {
		if s := j.a.currentSender(); s != nil {
			d.conn = s.c
		}
	}
	c := d.conn
	wake := d.signal()
	d.mu.Unlock()
	if c == nil {
		return errDataNoConnection
	}
	for {
		d.mu.Lock()
		room := d.seq-d.acked < wire.JobDataWindow
		if room {
			d.seq++
		}
		seq := d.seq
		d.mu.Unlock()
		if room {
			err := c.Send(j.ctx, wire.TypeJobData, wire.JobData{JobID: j.id, Seq: seq, Data: b, EOF: eof})
			switch {
			case err == nil:
				d.mu.Lock()
				d.sent += uint64(len(b))
				d.mu.Unlock()
				return nil
			case j.ctx.Err() != nil:
				return fmt.Errorf("send job output: %w", context.Cause(j.ctx))
			default:
				return fmt.Errorf("%w (%w)", errDataNoConnection, err)
			}
		}
		if err := j.waitDataRoom(c, wake); err != nil {
			return err
		}
	}
}

// waitDataRoom waits, the window full, for an acknowledgement. When none
// comes within Config.DataStallTimeout the job is cancelled: the server (or
// the client behind it) stopped reading, and restic must not stay open.
func (j *job) waitDataRoom(c *wire.Conn, wake <-chan struct{}) error {
	stall := j.a.cfg.DataStallTimeout
	timer := time.NewTimer(stall)
	defer timer.Stop()
	select {
	case <-wake:
		return nil
	case <-j.ctx.Done():
		return fmt.Errorf("send job output: %w", context.Cause(j.ctx))
	case <-c.Context().Done():
		return errDataNoConnection
	case <-timer.C:
	}
	d := &j.data
	d.mu.Lock()
	full := d.seq-d.acked >= wire.JobDataWindow
	d.mu.Unlock()
	if !full {
		return nil
	}
	reason := stalledReason(stall)
	j.log.Warn("cancelling a download the server stopped acknowledging", "waited", stall)
	j.cancel(&cancelled{reason: reason})
	return fmt.Errorf("send job output: %w", context.Cause(j.ctx))
}

// handleDataAck opens the window of a job's job_data.
func (a *Agent) handleDataAck(_ context.Context, _ *wire.Conn, env wire.Envelope) error {
	var m wire.JobDataAck
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	a.mu.Lock()
	j := a.jobs[m.JobID]
	a.mu.Unlock()
	if j == nil {
		a.log.Named("job").Debug("job_data_ack for a job not running here", "job_id", m.JobID)
		return nil
	}
	d := &j.data
	d.mu.Lock()
	if m.UpToSeq > d.seq {
		d.mu.Unlock()
		j.log.Warn("the server acknowledged job output the agent never sent; ignored", "up_to_seq", m.UpToSeq)
		return nil
	}
	if m.UpToSeq > d.acked {
		d.acked = m.UpToSeq
	}
	wake := d.signal()
	d.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
	return nil
}
