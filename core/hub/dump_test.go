package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// dataAgent is a connected agent that records job_data_ack.
type dataAgent struct {
	*testAgent
	mu     sync.Mutex
	dacked uint64
}

func (s *testServer) dataAgent(t *testing.T, name string) (*dataAgent, string) {
	t.Helper()
	hostID, cred := s.enroll(t, name)
	d := &dataAgent{}
	a := &testAgent{t: t, acks: map[string]uint64{}, dispatches: make(chan received[wire.JobDispatch], 10), cancels: make(chan wire.JobCancel, 10)}
	a.cond = sync.NewCond(&a.mu)
	url, _ := wire.ConnectURL(s.srv.URL)
	c, err := wire.Dial(context.Background(), url, cred, wire.DialOptions{Config: wire.Config{Handlers: map[wire.Type]wire.HandlerFunc{
		wire.TypeJobDispatch: a.handleDispatch,
		wire.TypeJobCancel:   a.handleCancel,
		wire.TypeJobDataAck: func(_ context.Context, _ *wire.Conn, env wire.Envelope) error {
			var m wire.JobDataAck
			if err := env.DecodePayload(&m); err != nil {
				return err
			}
			d.mu.Lock()
			d.dacked = max(d.dacked, m.UpToSeq)
			d.mu.Unlock()
			return nil
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	a.c = c
	t.Cleanup(func() { _ = c.Close("test over") })
	a.hello()
	d.testAgent = a
	jobID, now := auth.NewID(), time.Now()
	if err := s.db.CreateJob(t.Context(), store.Job{ID: jobID, HostID: hostID, Kind: "dump", Status: store.JobRunning, CreatedAt: now, StartedAt: &now}); err != nil {
		t.Fatal(err)
	}
	return d, jobID
}

func (d *dataAgent) acked() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dacked
}

// barrier returns once the server has handled everything sent before:
// its handlers run one at a time, in order.
func (d *dataAgent) barrier() {
	d.t.Helper()
	if _, err := d.c.Request(context.Background(), wire.TypeHeartbeat, wire.Heartbeat{}); err != nil {
		d.t.Fatal(err)
	}
}

func (d *dataAgent) data(jobID string, seq uint64, eof bool) {
	d.t.Helper()
	var b []byte
	if !eof {
		b = fmt.Appendf(nil, "piece %03d;", seq)
	}
	d.send(wire.TypeJobData, wire.JobData{JobID: jobID, Seq: seq, Data: b, EOF: eof})
}

func TestDataStreamBackPressure(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	a, jobID := s.dataAgent(t, "dump-host")
	stream, err := s.hub.OpenData(a.hostID, jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := s.hub.OpenData(a.hostID, jobID); !errors.Is(err, hub.ErrDataBusy) {
		t.Errorf("a second download of the job: %v, want ErrDataBusy", err)
	}

	// A full window while nobody reads: held, not acknowledged.
	for seq := uint64(1); seq <= wire.JobDataWindow; seq++ {
		a.data(jobID, seq, false)
	}
	a.barrier()
	time.Sleep(100 * time.Millisecond)
	if got := a.acked(); got != 0 {
		t.Fatalf("the server acknowledged %d pieces nobody has read", got)
	}
	// The reader takes them, in order, and acknowledges as it goes.
	ctx := t.Context()
	var got bytes.Buffer
	for range wire.JobDataWindow {
		b, err := stream.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(b)
	}
	var want bytes.Buffer
	for seq := 1; seq <= wire.JobDataWindow; seq++ {
		fmt.Fprintf(&want, "piece %03d;", seq)
	}
	if got.String() != want.String() {
		t.Fatalf("pieces out of order: %q", got.String())
	}
	eventually(t, "acknowledgements while reading", func() bool { return a.acked() >= wire.JobDataWindow-4 })
	if a.acked() >= wire.JobDataWindow {
		t.Errorf("acknowledged up to %d while the reader still held the last piece", a.acked())
	}
	done := make(chan error, 1)
	go func() {
		_, err := stream.Next(ctx)
		done <- err
	}()
	eventually(t, "the acknowledgement of everything read", func() bool { return a.acked() == wire.JobDataWindow })
	a.data(jobID, wire.JobDataWindow+1, true)
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("after eof: %v", err)
	}
}

func TestDataStreamFailures(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	for name, tc := range map[string]struct {
		act  func(a *dataAgent, other *dataAgent, jobID string)
		want func(error) bool
	}{
		"overrun": {func(a, _ *dataAgent, jobID string) {
			for seq := uint64(1); seq <= wire.JobDataWindow+1; seq++ {
				a.data(jobID, seq, false)
			}
			a.barrier()
		}, func(err error) bool { return errors.Is(err, hub.ErrDataOverrun) }},
		"gap": {func(a, _ *dataAgent, jobID string) {
			a.data(jobID, 2, false)
		}, func(err error) bool { return errors.Is(err, hub.ErrDataOverrun) }},
		"connection dropped": {func(a, _ *dataAgent, _ string) {
			_ = a.c.Close("gone")
		}, func(err error) bool { return errors.Is(err, hub.ErrDataLost) }},
		"job ended without eof": {func(a, _ *dataAgent, jobID string) {
			a.data(jobID, 1, false)
			a.finish(jobID, 1, wire.StatusFailed, 1, nil)
		}, func(err error) bool {
			var e *hub.JobEndedError
			return errors.As(err, &e) && e.Status == store.JobFailed
		}},
		"another host's data": {func(_, other *dataAgent, jobID string) {
			other.data(jobID, 1, false)
		}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	} {
		t.Run(name, func(t *testing.T) {
			a, jobID := s.dataAgent(t, "host-"+auth.NewID()[:8])
			other, _ := s.dataAgent(t, "other-"+auth.NewID()[:8])
			stream, err := s.hub.OpenData(a.hostID, jobID)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			tc.act(a, other, jobID)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			for {
				_, err = stream.Next(ctx)
				if err != nil {
					break
				}
			}
			if !tc.want(err) {
				t.Fatalf("Next ended with %v", err)
			}
			if other.acked() != 0 {
				t.Errorf("another host's data was acknowledged")
			}
		})
	}
}

func TestOpenDataNeedsTheAgent(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, _ := s.enroll(t, "never-connected")
	if _, err := s.hub.OpenData(hostID, auth.NewID()); !errors.Is(err, hub.ErrDataOffline) {
		t.Fatalf("OpenData of an offline host: %v", err)
	}
}

func TestOrphanDataCancelsOwnJobOnly(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	a, jobID := s.dataAgent(t, "orphan-host")
	other, otherJob := s.dataAgent(t, "orphan-other")
	// Output of another host's job: dropped, and that job is left alone.
	a.data(otherJob, 1, false)
	a.barrier()
	// Output of its own job that nobody downloads: the job is cancelled.
	a.data(jobID, 1, false)
	select {
	case c := <-a.cancels:
		if c.JobID != jobID {
			t.Fatalf("cancelled %s, want %s", c.JobID, jobID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job whose output nobody downloads was not cancelled")
	}
	select {
	case c := <-other.cancels:
		t.Fatalf("another host's job %s was cancelled", c.JobID)
	case <-time.After(200 * time.Millisecond):
	}
	if a.acked() != 0 {
		t.Errorf("orphan output was acknowledged")
	}
}
