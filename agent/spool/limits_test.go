package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func evSize(ev Event) int64 {
	e := encodeEvent(DefaultClassify(ev.Kind), ev)
	return e.size()
}

func sizedLog(n, size int) Event {
	ev := logLine(n)
	ev.Data = append(ev.Data, make([]byte, size-len(ev.Data))...)
	return ev
}

func markers(t *testing.T, entries []Entry) []DroppedLogs {
	t.Helper()
	var out []DroppedLogs
	for _, e := range entries {
		if e.Kind != KindLogsDropped {
			continue
		}
		var d DroppedLogs
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("marker %d: %v", e.Seq, err)
		}
		if d.Message != fmt.Sprintf("%d log lines dropped: spool full", d.Count) {
			t.Fatalf("marker message = %q", d.Message)
		}
		out = append(out, d)
	}
	return out
}

func TestFullSpoolDropsProgressFirst(t *testing.T) {
	t.Parallel()
	const maxBytes = 20_000
	s := openTest(t, Options{MaxBytes: maxBytes})
	for _, id := range []string{"a", "b", "c"} {
		mustBegin(t, s, id)
	}
	bigProgress := Event{Kind: KindProgress, Data: make([]byte, 300)}
	mustAppend(t, s, "a", bigProgress)
	mustAppend(t, s, "b", bigProgress)
	line := sizedLog(0, 200)
	for s.Stats().PendingBytes+evSize(line) <= maxBytes {
		mustAppend(t, s, "c", line)
	}
	lastC := mustAppend(t, s, "c", line) // over the cap by less than one progress event

	if got := mustPending(t, s, "a"); len(got) != 0 {
		t.Fatalf("oldest job's progress survived: %v", seqs(got))
	}
	if got := mustPending(t, s, "b"); len(got) != 1 {
		t.Fatalf("second job's progress dropped too early: %v", seqs(got))
	}
	if got := mustPending(t, s, "c"); uint64(len(got)) != lastC || len(markers(t, got)) != 0 {
		t.Fatalf("log lines dropped while progress was left: %d of %d", len(got), lastC)
	}
	st := s.Stats()
	if st.DroppedProgress != 1 || st.DroppedLogLines != 0 || st.PendingBytes > maxBytes {
		t.Fatalf("stats = %+v", st)
	}
	if j := mustJob(t, s, "a"); j.DroppedProgress != 1 {
		t.Fatalf("job a = %+v", j)
	}
	checkConsistent(t, s)
}

func TestFullSpoolDropsOldestLogLines(t *testing.T) {
	t.Parallel()
	const maxBytes = 64 << 10
	s := openTest(t, Options{MaxBytes: maxBytes})
	mustBegin(t, s, "old")
	mustBegin(t, s, "new")
	mustAppend(t, s, "old", Event{Kind: "start"})
	for i := range 150 {
		mustAppend(t, s, "old", sizedLog(i, 200))
	}
	mustAppend(t, s, "old", Event{Kind: "summary", Data: []byte(`{"ok":true}`)})
	oldLast := mustJob(t, s, "old").LastSeq

	var newSeqs []uint64
	for i := 0; s.Stats().DroppedLogLines == 0; i++ {
		newSeqs = append(newSeqs, mustAppend(t, s, "new", sizedLog(i, 200)))
		if st := s.Stats(); st.PendingBytes > maxBytes {
			t.Fatalf("pending %d bytes over the cap %d", st.PendingBytes, maxBytes)
		}
	}

	old := mustPending(t, s, "old")
	ms := markers(t, old)
	if len(ms) != 1 {
		t.Fatalf("old job has %d markers, want 1", len(ms))
	}
	m := ms[0]
	if m.FirstSeq != 2 || m.LastSeq != m.FirstSeq+m.Count-1 {
		t.Fatalf("marker = %+v, want the oldest lines from seq 2", m)
	}
	if old[0].Kind != "start" || old[len(old)-2].Kind != "summary" || old[len(old)-1].Seq != oldLast+1 {
		t.Fatalf("old job's kept events or marker position wrong: first %s, last seqs %v", old[0].Kind, seqs(old[len(old)-2:]))
	}
	if lines := len(old) - 3; uint64(lines)+m.Count != 150 {
		t.Fatalf("%d lines left + %d dropped != 150", lines, m.Count)
	}
	if got := seqs(mustPending(t, s, "new")); !slices.Equal(got, newSeqs) {
		t.Fatalf("the newer job lost lines while the older had some")
	}
	if st := s.Stats(); st.DroppedLogLines != m.Count || st.PendingBytes > maxBytes {
		t.Fatalf("stats = %+v", st)
	}
	checkConsistent(t, s)
}

func TestFullSpoolNeverDropsKeptEvents(t *testing.T) {
	t.Parallel()
	const maxBytes = 8 << 10
	s := openTest(t, Options{MaxBytes: maxBytes})
	mustBegin(t, s, "j")
	summary := Event{Kind: "summary", Data: make([]byte, 1000)}
	var stored []uint64
	var err error
	for range 20 {
		var seq uint64
		if seq, err = s.Append("j", summary); err != nil {
			break
		}
		stored = append(stored, seq)
	}
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("appending past the cap: %v, want ErrSpoolFull", err)
	}
	if got := seqs(mustPending(t, s, "j")); !slices.Equal(got, stored) {
		t.Fatalf("kept events = %v, want %v", got, stored)
	}
	// Progress is dropped silently; log lines have nothing to make room from.
	if _, err := s.Append("j", progress(1)); err != nil {
		t.Fatalf("progress on a full spool: %v", err)
	}
	if _, err := s.Append("j", sizedLog(1, 2000)); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("log line on a spool full of kept events: %v", err)
	}
	// The job can still finish: final events go over the cap.
	last, err := s.FinishJob("j", Event{Kind: "finished", Data: []byte(`{"status":"failed"}`)})
	if err != nil {
		t.Fatalf("finish on a full spool: %v", err)
	}
	if got := mustPending(t, s, "j"); got[len(got)-1].Seq != last || got[len(got)-1].Kind != "finished" {
		t.Fatalf("final event missing: %v", seqs(got))
	}
	// Acks make room again.
	if err := s.Ack("j", last); err != nil {
		t.Fatal(err)
	}
	mustBegin(t, s, "k")
	mustAppend(t, s, "k", summary)
	checkConsistent(t, s)
}

// TestFullSpoolRandom runs random appends and acks of several jobs against a
// small cap and checks, after each step, what a user would notice: nothing
// kept is lost, every missing log line is covered by a marker, seqs keep
// growing, and the cap holds.
func TestFullSpoolRandom(t *testing.T) {
	t.Parallel()
	const maxBytes = 32 << 10
	s := openTest(t, Options{MaxBytes: maxBytes})
	rng := rand.New(rand.NewPCG(1, 2))
	type model struct {
		class map[uint64]Class // every seq Append returned, by class
		acked uint64
		last  uint64
	}
	jobs := map[string]*model{}
	ids := []string{"j0", "j1", "j2", "j3"}
	for _, id := range ids {
		mustBegin(t, s, id)
		jobs[id] = &model{class: map[uint64]Class{}}
	}
	for step := range 600 {
		id := ids[rng.IntN(len(ids))]
		m := jobs[id]
		switch r := rng.IntN(10); {
		case r < 7:
			batch := make([]Event, 1+rng.IntN(20))
			for i := range batch {
				switch k := rng.IntN(20); {
				case k == 0:
					batch[i] = Event{Kind: "error", Data: make([]byte, rng.IntN(100))}
				case k < 4:
					batch[i] = progress(step)
				default:
					batch[i] = sizedLog(step, 20+rng.IntN(300))
				}
			}
			first, err := s.AppendBatch(id, batch)
			if errors.Is(err, ErrSpoolFull) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if first <= m.last {
				t.Fatalf("step %d: seq %d not after %d", step, first, m.last)
			}
			for i, ev := range batch {
				m.class[first+uint64(i)] = DefaultClassify(ev.Kind)
			}
			m.last = first + uint64(len(batch)) - 1
		default:
			job := mustJob(t, s, id)
			if job.LastSeq > m.acked {
				upTo := m.acked + 1 + uint64(rng.IntN(int(job.LastSeq-m.acked)))
				if err := s.Ack(id, upTo); err != nil {
					t.Fatal(err)
				}
				m.acked = upTo
			}
		}
		if st := s.Stats(); st.PendingBytes > maxBytes {
			t.Fatalf("step %d: %d pending bytes over cap", step, st.PendingBytes)
		}
	}
	for _, id := range ids {
		m := jobs[id]
		entries := mustPending(t, s, id)
		present := map[uint64]bool{}
		for _, e := range entries {
			present[e.Seq] = true
		}
		covered := func(seq uint64) bool {
			for _, d := range markers(t, entries) {
				if seq >= d.FirstSeq && seq <= d.LastSeq {
					return true
				}
			}
			return false
		}
		var lastProgress uint64
		for seq, c := range m.class {
			if c == ClassProgress && seq > lastProgress {
				lastProgress = seq
			}
		}
		for seq, c := range m.class {
			if seq <= m.acked || present[seq] {
				continue
			}
			switch c {
			case ClassKeep:
				t.Errorf("%s: kept event %d lost", id, seq)
			case ClassLog:
				if !covered(seq) {
					t.Errorf("%s: log line %d missing without a marker", id, seq)
				}
			}
		}
		for _, e := range entries {
			if _, ok := m.class[e.Seq]; !ok && e.Kind != KindLogsDropped {
				t.Errorf("%s: seq %d present but never returned", id, e.Seq)
			}
			if e.Class == ClassProgress && e.Seq != lastProgress {
				t.Errorf("%s: superseded progress %d present (latest %d)", id, e.Seq, lastProgress)
			}
		}
	}
	if s.Stats().DroppedLogLines == 0 {
		t.Fatal("the test never filled the spool")
	}
	checkConsistent(t, s)
}

// checkDrops checks a job's pending entries against class, the class of
// every seq Append returned for it (none acknowledged): no kept event is
// missing, every missing log line is covered by exactly one marker, each
// marker's count and seq range match the lines it replaced and it comes after
// them, and no line it claims is still there. It returns the lines the
// markers report.
func checkDrops(t *testing.T, entries []Entry, class map[uint64]Class) uint64 {
	t.Helper()
	present := map[uint64]bool{}
	for _, e := range entries {
		present[e.Seq] = true
		if _, ok := class[e.Seq]; !ok && e.Kind != KindLogsDropped {
			t.Fatalf("seq %d present but never returned", e.Seq)
		}
	}
	coveredBy := map[uint64]int{}
	var reported uint64
	for _, e := range entries {
		if e.Kind != KindLogsDropped {
			continue
		}
		d := markers(t, []Entry{e})[0]
		if d.Count == 0 || d.FirstSeq == 0 || d.FirstSeq > d.LastSeq || d.LastSeq >= e.Seq {
			t.Fatalf("marker %d = %+v: empty, or not after the lines it replaced", e.Seq, d)
		}
		var lines uint64
		for seq := d.FirstSeq; seq <= d.LastSeq; seq++ {
			if class[seq] != ClassLog {
				continue
			}
			if present[seq] {
				t.Fatalf("marker %d = %+v claims line %d, which is still there", e.Seq, d, seq)
			}
			coveredBy[seq]++
			lines++
		}
		if class[d.FirstSeq] != ClassLog || class[d.LastSeq] != ClassLog || lines != d.Count {
			t.Fatalf("marker %d = %+v, but its range holds %d dropped lines", e.Seq, d, lines)
		}
		reported += d.Count
	}
	for seq, c := range class {
		switch {
		case present[seq]:
		case c == ClassKeep:
			t.Fatalf("kept event %d lost", seq)
		case c == ClassLog && coveredBy[seq] != 1:
			t.Fatalf("log line %d missing, covered by %d markers", seq, coveredBy[seq])
		}
	}
	return reported
}

// logBatch returns n log lines of size bytes each, numbered from *next on.
func logBatch(next *int, n, size int) []Event {
	batch := make([]Event, n)
	for i := range batch {
		batch[i] = sizedLog(*next, size)
		*next++
	}
	return batch
}

// recordSeqs notes the class of each event of a batch appended at first.
func recordSeqs(class map[uint64]Class, first uint64, batch []Event) {
	for i, ev := range batch {
		class[first+uint64(i)] = DefaultClassify(ev.Kind)
	}
}

// A batch that needs more room than one chunk (MaxBytes/64) gets it: the
// spool keeps dropping the oldest lines, one marker per chunk, until the
// batch and the markers fit. It used to free only what the batch needed,
// forget the marker it added, and fail with ErrSpoolFull although lines
// were left to drop.
func TestFullSpoolMakesRoomForBatchesLargerThanAChunk(t *testing.T) {
	t.Parallel()
	const (
		maxBytes  = 64 << 10
		batchSize = 50
	)
	s := openTest(t, Options{MaxBytes: maxBytes})
	mustBegin(t, s, "j")
	class := map[uint64]Class{}
	start := Event{Kind: "start"}
	recordSeqs(class, mustAppend(t, s, "j", start), []Event{start})

	var next int
	for b := range 30 {
		batch := logBatch(&next, batchSize, 200)
		if b%5 == 4 { // kept events and progress ride along
			batch[0] = progress(b)
			batch[batchSize-1] = Event{Kind: "warning", Data: make([]byte, 150)}
		}
		var need int64
		for _, ev := range batch {
			need += evSize(ev)
		}
		if need <= maxBytes/dropChunkDivisor {
			t.Fatalf("batch of %d bytes fits in one chunk; the test needs more", need)
		}
		first, err := s.AppendBatch("j", batch)
		if err != nil {
			st := s.Stats()
			t.Fatalf("batch %d of %d bytes, %d pending, %d lines dropped so far: %v",
				b, need, st.PendingBytes, st.DroppedLogLines, err)
		}
		recordSeqs(class, first, batch)
		if st := s.Stats(); st.PendingBytes > maxBytes {
			t.Fatalf("batch %d: %d pending bytes over the cap %d", b, st.PendingBytes, maxBytes)
		}
	}
	final := Event{Kind: "finished", Data: []byte(`{"status":"succeeded"}`)}
	last, err := s.FinishJob("j", final)
	if err != nil {
		t.Fatal(err)
	}
	recordSeqs(class, last, []Event{final})

	entries := mustPending(t, s, "j")
	reported := checkDrops(t, entries, class)
	if entries[0].Kind != "start" || entries[len(entries)-1].Kind != "finished" {
		t.Fatalf("first/last events = %s/%s", entries[0].Kind, entries[len(entries)-1].Kind)
	}
	st := s.Stats()
	if reported == 0 || st.DroppedLogLines != reported || mustJob(t, s, "j").DroppedLogLines != reported {
		t.Fatalf("markers report %d lines, stats %+v", reported, st)
	}
	if st.PendingBytes > maxBytes {
		t.Fatalf("%d pending bytes over the cap %d", st.PendingBytes, maxBytes)
	}
	checkConsistent(t, s)
}

// Large batches take their room from the oldest job first, as many of its
// lines as they need, before they touch a newer job's lines.
func TestFullSpoolTakesLargeBatchesFromTheOldestJob(t *testing.T) {
	t.Parallel()
	const maxBytes = 64 << 10
	s := openTest(t, Options{MaxBytes: maxBytes})
	mustBegin(t, s, "old")
	mustBegin(t, s, "new")
	oldClass, newClass := map[uint64]Class{}, map[uint64]Class{}
	var next int
	for range 4 { // about 40 KiB of the old job's lines
		batch := logBatch(&next, 50, 200)
		recordSeqs(oldClass, mustAppendBatch(t, s, "old", batch), batch)
	}
	summary := Event{Kind: "summary", Data: []byte(`{"ok":true}`)}
	recordSeqs(oldClass, mustAppend(t, s, "old", summary), []Event{summary})

	// Each batch needs about ten times the minimum chunk (MaxBytes/64); the
	// old job's lines cover the first few batches on their own.
	for b := 0; mustJob(t, s, "old").DroppedLogLines < 150; b++ {
		batch := logBatch(&next, 50, 200)
		first, err := s.AppendBatch("new", batch)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		recordSeqs(newClass, first, batch)
		if got := mustJob(t, s, "new").DroppedLogLines; got != 0 {
			t.Fatalf("batch %d: the new job lost %d lines while the old one had some", b, got)
		}
		if st := s.Stats(); st.PendingBytes > maxBytes {
			t.Fatalf("batch %d: %d pending bytes over the cap %d", b, st.PendingBytes, maxBytes)
		}
	}
	old := mustPending(t, s, "old")
	if n := len(markers(t, old)); n < 2 {
		t.Fatalf("old job has %d markers, want one per batch that took its lines", n)
	}
	if reported := checkDrops(t, old, oldClass); reported != mustJob(t, s, "old").DroppedLogLines {
		t.Fatalf("old job's markers report %d lines, its record %d", reported, mustJob(t, s, "old").DroppedLogLines)
	}
	checkDrops(t, mustPending(t, s, "new"), newClass)
	checkConsistent(t, s)
}

func mustAppendBatch(t testing.TB, s *Spool, id string, batch []Event) uint64 {
	t.Helper()
	first, err := s.AppendBatch(id, batch)
	if err != nil {
		t.Fatalf("append batch to %s: %v", id, err)
	}
	return first
}
