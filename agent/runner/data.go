package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// errDataNoConnection fails a dump whose output has nowhere to go: job_data
// is live only, never spooled, so a download needs the connection it
// started on.
var errDataNoConnection = errors.New("the connection to the server dropped during the download; download again")

// dataStream sends a job's raw output (Data events of a dump) as job_data
// on the connection that was current when the first piece came, holding
// the backend back while wire.JobDataWindow messages wait for the
// server's job_data_ack. The zero value is ready to use.
type dataStream struct {
	mu    sync.Mutex
	conn  *wire.Conn
	seq   uint64
	acked uint64
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

// endData sends the job's last job_data (eof): everything arrived.
func (j *job) endData() error { return j.sendDataMsg(nil, true) }

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
				return nil
			case j.ctx.Err() != nil:
				return fmt.Errorf("send job output: %w", context.Cause(j.ctx))
			default:
				return fmt.Errorf("%w (%w)", errDataNoConnection, err)
			}
		}
		select {
		case <-wake:
		case <-j.ctx.Done():
			return fmt.Errorf("send job output: %w", context.Cause(j.ctx))
		case <-c.Context().Done():
			return errDataNoConnection
		}
	}
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
