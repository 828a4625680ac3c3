package spool

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAppendAssignsSeqsPerJob(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "a")
	mustBegin(t, s, "b")
	for i := 1; i <= 3; i++ {
		if seq := mustAppend(t, s, "a", logLine(i)); seq != uint64(i) {
			t.Fatalf("a: seq %d, want %d", seq, i)
		}
	}
	if seq := mustAppend(t, s, "b", logLine(1)); seq != 1 {
		t.Fatalf("b: first seq %d, want 1", seq)
	}
	first, err := s.AppendBatch("a", []Event{logLine(4), logLine(5), logLine(6)})
	if err != nil {
		t.Fatal(err)
	}
	if first != 4 {
		t.Fatalf("batch first seq %d, want 4", first)
	}
	if first, err := s.AppendBatch("a", nil); err != nil || first != 0 {
		t.Fatalf("empty batch = %d, %v", first, err)
	}
	if got := seqs(mustPending(t, s, "a")); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("pending a = %v", got)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	when := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	in := []Event{
		{Kind: KindLog, Time: when, Data: []byte("hello \x00 world")},
		{Kind: "summary", Time: when, Data: []byte(`{"snapshot_id":"abc"}`)},
		{Kind: "error", Time: when},
	}
	if _, err := s.AppendBatch("j", in); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	mustAppend(t, s, "j", Event{Kind: "untimed"})
	got := mustPending(t, s, "j")
	if len(got) != 4 {
		t.Fatalf("got %d entries", len(got))
	}
	for i, want := range in {
		e := got[i]
		if e.JobID != "j" || e.Seq != uint64(i+1) || e.Kind != want.Kind || !e.Time.Equal(want.Time) || !bytes.Equal(e.Data, want.Data) {
			t.Errorf("entry %d = %+v, want %+v", i, e, want)
		}
	}
	if got[0].Class != ClassLog || got[1].Class != ClassKeep {
		t.Errorf("classes = %v, %v", got[0].Class, got[1].Class)
	}
	if got[3].Time.Before(before.Add(-time.Second)) {
		t.Errorf("zero time not filled in: %v", got[3].Time)
	}
}

func TestAppendRejects(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{MaxEventBytes: 100})
	mustBegin(t, s, "j")
	tests := map[string]struct {
		job  string
		ev   Event
		want error
	}{
		"unknown job":   {"nope", logLine(1), ErrJobUnknown},
		"no kind":       {"j", Event{Data: []byte("x")}, ErrInvalidEvent},
		"long kind":     {"j", Event{Kind: strings.Repeat("k", maxKindLen+1)}, ErrInvalidEvent},
		"too much data": {"j", Event{Kind: KindLog, Data: make([]byte, 101)}, ErrInvalidEvent},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Append(tc.job, tc.ev); !errors.Is(err, tc.want) {
				t.Fatalf("append: %v, want %v", err, tc.want)
			}
		})
	}
	// A rejected event in a batch rejects the batch and consumes no seq.
	if _, err := s.AppendBatch("j", []Event{logLine(1), {}}); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("bad batch: %v", err)
	}
	if seq := mustAppend(t, s, "j", logLine(1)); seq != 1 {
		t.Fatalf("seq after rejected appends = %d, want 1", seq)
	}
}

func TestAckIsCumulativeAndIdempotent(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, "j", logLine(i))
	}
	steps := []struct {
		upTo    uint64
		wantErr error
		pending []uint64
	}{
		{0, nil, []uint64{1, 2, 3, 4, 5}},
		{3, nil, []uint64{4, 5}},
		{3, nil, []uint64{4, 5}},
		{2, nil, []uint64{4, 5}},
		{6, ErrAckBeyondLast, []uint64{4, 5}},
		{5, nil, nil},
		{5, nil, nil},
	}
	for _, st := range steps {
		err := s.Ack("j", st.upTo)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("ack %d: %v, want %v", st.upTo, err, st.wantErr)
		}
		if got := seqs(mustPending(t, s, "j")); !slices.Equal(got, st.pending) {
			t.Fatalf("after ack %d pending = %v, want %v", st.upTo, got, st.pending)
		}
	}
	if job := mustJob(t, s, "j"); job.AckedSeq != 5 || job.PendingEvents != 0 || job.PendingBytes != 0 {
		t.Fatalf("job after acks = %+v", job)
	}
	if err := s.Ack("nope", 1); !errors.Is(err, ErrJobUnknown) {
		t.Fatalf("ack unknown job: %v", err)
	}
	if seq := mustAppend(t, s, "j", logLine(6)); seq != 6 {
		t.Fatalf("append after full ack: seq %d, want 6", seq)
	}
	checkConsistent(t, s)
}

func TestPendingPages(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	batch := make([]Event, 25)
	for i := range batch {
		batch[i] = logLine(i + 1)
	}
	if _, err := s.AppendBatch("j", batch); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	after := uint64(0)
	for {
		page, err := s.Pending("j", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d > limit", len(page))
		}
		got = append(got, seqs(page)...)
		after = page[len(page)-1].Seq
	}
	want := make([]uint64, 25)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged seqs = %v", got)
	}
	if _, err := s.Pending("nope", 0, 0); !errors.Is(err, ErrJobUnknown) {
		t.Fatalf("pending unknown: %v", err)
	}
}

func TestPendingJobsOldestFirst(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	for _, id := range []string{"z-first", "a-second", "m-third", "idle"} {
		mustBegin(t, s, id)
	}
	mustAppend(t, s, "m-third", logLine(1))
	mustAppend(t, s, "a-second", logLine(1))
	mustAppend(t, s, "z-first", logLine(1))
	got, err := s.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"z-first", "a-second", "m-third"}) {
		t.Fatalf("pending jobs = %v", got)
	}
	if err := s.Ack("a-second", 1); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.PendingJobs(); !slices.Equal(got, []string{"z-first", "m-third"}) {
		t.Fatalf("pending jobs after ack = %v", got)
	}
}

func TestProgressOnlyLatestSurvives(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	mustAppend(t, s, "j", logLine(1))   // 1
	mustAppend(t, s, "j", progress(10)) // 2, replaced by 3
	mustAppend(t, s, "j", progress(20)) // 3, replaced by 7
	if _, err := s.AppendBatch("j", []Event{
		logLine(2),   // 4
		progress(30), // 5, superseded within the batch
		logLine(3),   // 6
		progress(40), // 7
	}); err != nil {
		t.Fatal(err)
	}
	got := mustPending(t, s, "j")
	if !slices.Equal(seqs(got), []uint64{1, 4, 6, 7}) {
		t.Fatalf("pending seqs = %v, want [1 4 6 7]", seqs(got))
	}
	if string(got[3].Data) != `{"percent_done":40}` {
		t.Fatalf("latest progress = %s", got[3].Data)
	}
	// Acking past the progress event and appending a new one leaves one.
	if err := s.Ack("j", 7); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "j", progress(50))
	mustAppend(t, s, "j", progress(60))
	if got := mustPending(t, s, "j"); len(got) != 1 || got[0].Seq != 9 {
		t.Fatalf("pending after more progress = %+v", got)
	}
	if job := mustJob(t, s, "j"); job.DroppedProgress != 0 {
		t.Fatalf("superseded progress counted as dropped: %+v", job)
	}
	checkConsistent(t, s)
}

func TestCustomClassify(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{Classify: func(kind string) Class {
		if kind == "status" {
			return ClassProgress
		}
		return ClassKeep
	}})
	mustBegin(t, s, "j")
	mustAppend(t, s, "j", Event{Kind: "status"})
	mustAppend(t, s, "j", Event{Kind: "status"})
	mustAppend(t, s, "j", Event{Kind: KindProgress})
	mustAppend(t, s, "j", Event{Kind: KindProgress})
	if got := seqs(mustPending(t, s, "j")); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Fatalf("pending = %v, want [2 3 4]", got)
	}
}

func TestStatsAndNotify(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	select {
	case <-s.Notify():
		t.Fatal("notified before any event")
	default:
	}
	for i := 1; i <= 4; i++ {
		mustAppend(t, s, "j", logLine(i))
	}
	select {
	case <-s.Notify():
	default:
		t.Fatal("no notification after append")
	}
	st := s.Stats()
	want := int64(0)
	for _, e := range mustPending(t, s, "j") {
		enc := encodeEvent(e.Class, e.Event)
		want += enc.size()
	}
	if st.PendingEvents != 4 || st.PendingBytes != want || st.MaxBytes != DefaultMaxBytes || st.FileBytes == 0 {
		t.Fatalf("stats = %+v, want 4 events, %d bytes", st, want)
	}
	if err := s.Ack("j", 4); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PendingEvents != 0 || st.PendingBytes != 0 {
		t.Fatalf("stats after ack = %+v", st)
	}
}

func TestManyJobsManyEvents(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	const jobs, events = 5, 300
	for j := range jobs {
		id := fmt.Sprintf("job-%d", j)
		mustBegin(t, s, id)
		batch := make([]Event, events)
		for i := range batch {
			batch[i] = logLine(i)
		}
		if _, err := s.AppendBatch(id, batch); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(id, uint64(events/2)); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.PendingEvents != jobs*events/2 {
		t.Fatalf("pending events = %d", st.PendingEvents)
	}
	checkConsistent(t, s)
}
