package spool

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// benchLine is a realistic restic output line of 200 bytes.
var benchLine = func() []byte {
	head := []byte(`{"message_type":"verbose_status","action":"new","item":"/srv/data/projects/`)
	tail := []byte(`","duration":0.01}`)
	line := append(head, bytes.Repeat([]byte("x"), 200-len(head)-len(tail))...)
	return append(line, tail...)
}()

func benchEvents(n int) []Event {
	evs := make([]Event, n)
	now := time.Now()
	for i := range evs {
		evs[i] = Event{Kind: KindLog, Time: now, Data: benchLine}
	}
	return evs
}

var syncModes = []struct {
	name   string
	noSync bool
}{{"fsync", false}, {"nosync", true}}

// BenchmarkAppendBatch measures 200-byte log lines appended in batches of 100
// (and of 1,000, to show how a commit's cost amortises) by one runner, with
// the connection acknowledging every 10 batches as it would in steady state.
func BenchmarkAppendBatch(b *testing.B) {
	for _, mode := range syncModes {
		for _, size := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode.name, size), func(b *testing.B) {
				s := openTest(b, Options{NoSync: mode.noSync})
				mustBegin(b, s, "bench")
				batch := benchEvents(size)
				b.SetBytes(int64(len(batch) * len(benchLine)))
				n := 0
				for b.Loop() {
					first, err := s.AppendBatch("bench", batch)
					if err != nil {
						b.Fatal(err)
					}
					if n++; n%10 == 0 {
						if err := s.Ack("bench", first+uint64(len(batch))-1); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(n*len(batch))/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkAppendSingle measures one Append, so one commit, per 200-byte line.
func BenchmarkAppendSingle(b *testing.B) {
	for _, mode := range syncModes {
		b.Run(mode.name, func(b *testing.B) {
			s := openTest(b, Options{NoSync: mode.noSync})
			mustBegin(b, s, "bench")
			ev := benchEvents(1)[0]
			b.SetBytes(int64(len(benchLine)))
			n := 0
			for b.Loop() {
				seq, err := s.Append("bench", ev)
				if err != nil {
					b.Fatal(err)
				}
				if n++; n%1000 == 0 {
					if err := s.Ack("bench", seq); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendBatchConcurrent has four job runners append batches of 100
// at once, so that group commit merges their commits, each acknowledging
// every 10 batches.
func BenchmarkAppendBatchConcurrent(b *testing.B) {
	const runners = 4
	s := openTest(b, Options{})
	for r := range runners {
		mustBegin(b, s, fmt.Sprintf("runner-%d", r))
	}
	batch := benchEvents(100)
	b.SetBytes(int64(len(batch) * len(benchLine)))
	work := make(chan struct{})
	var wg sync.WaitGroup
	for r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("runner-%d", r)
			n := 0
			for range work {
				first, err := s.AppendBatch(id, batch)
				if err != nil {
					b.Error(err)
					return
				}
				if n++; n%10 == 0 {
					if err := s.Ack(id, first+uint64(len(batch))-1); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	b.ResetTimer()
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkJobWriter measures one runner writing 200-byte lines one by one
// through a JobWriter, which batches whatever accumulates during each commit,
// with fsync on; the connection acknowledges from another goroutine.
func BenchmarkJobWriter(b *testing.B) {
	s := openTest(b, Options{})
	mustBegin(b, s, "bench")
	w := s.NewJobWriter("bench", 0)
	ev := benchEvents(1)[0]
	b.SetBytes(int64(len(benchLine)))
	stop := make(chan struct{})
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for {
			select {
			case <-stop:
				return
			case <-s.Notify():
			}
			job, err := s.Job("bench")
			if err == nil && job.LastSeq > job.AckedSeq {
				_ = s.Ack("bench", job.LastSeq)
			}
		}
	}()
	for b.Loop() {
		if err := w.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	close(stop)
	<-acked
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
