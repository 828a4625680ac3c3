package spool

import (
	"errors"
	"sync"
	"testing"
)

func TestJobWriter(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	w := s.NewJobWriter("j", 64)
	const writers, lines = 2, 2000
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := []byte("reused buffer")
			for i := range lines {
				if err := w.Write(Event{Kind: KindLog, Data: buf}); err != nil {
					t.Error(err)
					return
				}
				buf[0] = byte(i) // the writer must have copied Data
				buf[0] = 'r'
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	entries := mustPending(t, s, "j")
	if len(entries) != writers*lines {
		t.Fatalf("%d events stored, want %d", len(entries), writers*lines)
	}
	for i, e := range entries {
		if e.Seq != uint64(i+1) || string(e.Data) != "reused buffer" {
			t.Fatalf("entry %d = seq %d %q", i, e.Seq, e.Data)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(logLine(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
	if _, err := s.FinishJob("j"); err != nil {
		t.Fatal(err)
	}
}

func TestJobWriterReportsAppendErrors(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	w := s.NewJobWriter("never-begun", 0)
	if err := w.Write(logLine(1)); err != nil {
		t.Fatalf("first write buffers without error: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, ErrJobUnknown) {
		t.Fatalf("flush: %v, want ErrJobUnknown", err)
	}
	if err := w.Write(logLine(2)); !errors.Is(err, ErrJobUnknown) {
		t.Fatalf("write after a failed append: %v, want the sticky error", err)
	}
}
