package spool

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentRunnersAndConnection has job runners append while a
// connection goroutine sends and acknowledges, as in the agent, and checks
// that the "server" received every event that must survive, in order, once.
func TestConcurrentRunnersAndConnection(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	const runners, batches, perBatch = 6, 40, 20

	type sent struct {
		mu   sync.Mutex
		must map[string][]uint64 // non-progress seqs each runner got back
	}
	appended := sent{must: map[string][]uint64{}}
	var running atomic.Int32
	running.Store(runners)

	var wg sync.WaitGroup
	errs := make(chan error, runners+2)
	for r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer running.Add(-1)
			id := fmt.Sprintf("job-%d", r)
			if err := s.BeginJob(id, JobMeta{Kind: "backup"}); err != nil {
				errs <- err
				return
			}
			var must []uint64
			for b := range batches {
				batch := make([]Event, perBatch)
				for i := range batch {
					if i%5 == 4 {
						batch[i] = progress(b*perBatch + i)
					} else {
						batch[i] = logLine(b*perBatch + i)
					}
				}
				first, err := s.AppendBatch(id, batch)
				if err != nil {
					errs <- err
					return
				}
				for i := range batch {
					if batch[i].Kind != KindProgress {
						must = append(must, first+uint64(i))
					}
				}
			}
			last, err := s.FinishJob(id, Event{Kind: "finished"})
			if err != nil {
				errs <- err
				return
			}
			must = append(must, last)
			appended.mu.Lock()
			appended.must[id] = must
			appended.mu.Unlock()
		}()
	}

	// Bystanders: stats, job lookups and state writes.
	stop := make(chan struct{})
	var bystanders sync.WaitGroup
	bystanders.Add(1)
	go func() {
		defer bystanders.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Stats()
			if _, err := s.ActiveJobs(); err != nil {
				errs <- err
				return
			}
			if err := s.PutState(fmt.Sprintf("schedule/%d", i%4), []byte("t")); err != nil {
				errs <- err
				return
			}
		}
	}()

	// The connection: send what is pending in seq order, store each
	// (job, seq) once, acknowledge cumulatively.
	received := map[string][]uint64{}
	lastSent := map[string]uint64{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		done := running.Load() == 0
		jobs, err := s.PendingJobs()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range jobs {
			entries, err := s.Pending(id, lastSent[id], 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if r := received[id]; len(r) > 0 && e.Seq <= r[len(r)-1] {
					t.Fatalf("%s: seq %d received after %d", id, e.Seq, r[len(r)-1])
				}
				received[id] = append(received[id], e.Seq)
				lastSent[id] = e.Seq
			}
			if len(entries) > 0 {
				if err := s.Ack(id, lastSent[id]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if done && len(jobs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection did not drain the spool")
		}
		select {
		case <-s.Notify():
		case <-time.After(5 * time.Millisecond):
		}
	}
	wg.Wait()
	close(stop)
	bystanders.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for id, must := range appended.must {
		got := map[uint64]bool{}
		for _, seq := range received[id] {
			got[seq] = true
		}
		for _, seq := range must {
			if !got[seq] {
				t.Errorf("%s: seq %d never reached the server", id, seq)
			}
		}
	}
	if len(appended.must) != runners {
		t.Fatalf("%d runners finished, want %d", len(appended.must), runners)
	}
	if st := s.Stats(); st.PendingEvents != 0 || st.PendingBytes != 0 {
		t.Fatalf("stats after draining = %+v", st)
	}
	checkConsistent(t, s)
}

// TestCloseWhileBusy closes the spool under appending goroutines: each call
// either succeeds or reports ErrClosed, and nothing panics or hangs.
func TestCloseWhileBusy(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	var wg sync.WaitGroup
	var ok, closed atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := s.Append("j", logLine(1))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrClosed):
					closed.Add(1)
					return
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok.Load() == 0 || closed.Load() != 4 {
		t.Fatalf("%d appends succeeded, %d saw ErrClosed", ok.Load(), closed.Load())
	}
}
