package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envCrashChild makes the test binary act as the crashing agent: it appends
// to the spool in the named dir until it is killed.
const envCrashChild = "SPOOL_TEST_CRASH_CHILD_DIR"

const crashJob = "crash-job"

// crashEvent is the event the child appends at seq, so that the parent knows
// what every seq must hold.
func crashEvent(seq uint64) Event {
	switch {
	case seq%7 == 0:
		return Event{Kind: KindProgress, Data: fmt.Appendf(nil, "progress %d", seq)}
	case seq%11 == 0:
		return Event{Kind: "error", Data: fmt.Appendf(nil, "error %d", seq)}
	default:
		return Event{Kind: KindLog, Data: fmt.Appendf(nil, "line %d %s", seq, strings.Repeat("x", 150))}
	}
}

// crashChild appends single events and batches of ten, printing each seq
// once Append has returned it, until the parent kills the process.
func crashChild(dir string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(2)
	}
	s, err := Open(dir, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fail("open: %v", err)
	}
	if err := s.BeginJob(crashJob, JobMeta{Kind: "backup"}); err != nil && !errors.Is(err, ErrJobKnown) {
		fail("begin: %v", err)
	}
	job, err := s.Job(crashJob)
	if err != nil {
		fail("job: %v", err)
	}
	next := job.LastSeq + 1
	for i := 0; ; i++ {
		n := uint64(1)
		if i%3 == 0 {
			n = 10
		}
		batch := make([]Event, n)
		for k := range batch {
			batch[k] = crashEvent(next + uint64(k))
		}
		first, err := s.AppendBatch(crashJob, batch)
		if err != nil {
			fail("append: %v", err)
		}
		if first != next {
			fail("append returned seq %d, want %d", first, next)
		}
		var out []byte
		for k := range n {
			out = fmt.Appendf(out, "seq %d\n", first+k)
		}
		if _, err := os.Stdout.Write(out); err != nil {
			fail("write: %v", err)
		}
		next += n
	}
}

// runCrashChild starts the child on dir, kills it (SIGKILL on Unix,
// TerminateProcess on Windows) delay after it has reported killAfter seqs, and
// returns every seq it reported.
func runCrashChild(t *testing.T, dir string, killAfter int, delay time.Duration) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidAppend$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashChild+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()

	var got []uint64
	killed := false
	kill := func() {
		if err := cmd.Process.Kill(); err != nil {
			t.Error(err)
		}
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "seq ")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(rest, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		got = append(got, seq)
		if !killed && len(got) >= killAfter {
			time.AfterFunc(delay, kill)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed (%v): %s", err, stderr.String())
	}
	return got
}

// TestCrashMidAppend kills an appending agent twice and checks, after each
// reopen, that every seq Append returned is there, that nothing is corrupt,
// that seqs are contiguous but for superseded progress, and that appending
// carries on from the right seq.
func TestCrashMidAppend(t *testing.T) {
	if dir := os.Getenv(envCrashChild); dir != "" {
		crashChild(dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	var reported []uint64
	rounds := []struct {
		killAfter int
		delay     time.Duration
	}{{200, 0}, {300, 700 * time.Microsecond}, {137, 1500 * time.Microsecond}, {400, 3 * time.Millisecond}, {50, 5 * time.Millisecond}}
	for round, r := range rounds {
		reported = append(reported, runCrashChild(t, dir, r.killAfter, r.delay)...)
		t.Logf("round %d: %d seqs reported before the kill", round, len(reported))
	}
	slices.Sort(reported)

	s := openDir(t, dir, Options{})
	checkConsistent(t, s)
	job := mustJob(t, s, crashJob)
	if !job.Orphaned {
		t.Errorf("job left running by the killed agent is not orphaned: %+v", job)
	}
	maxReported := reported[len(reported)-1]
	// A kill between a commit and its print leaves a committed seq that was
	// never reported; the next round starts after it.
	for i := 1; i < len(reported); i++ {
		if reported[i] == reported[i-1] {
			t.Fatalf("Append returned seq %d twice", reported[i])
		}
	}
	t.Logf("last seq reported %d, committed %d", maxReported, job.LastSeq)
	if job.LastSeq < maxReported {
		t.Fatalf("last seq %d < %d, which Append returned before the kill", job.LastSeq, maxReported)
	}

	entries := mustPending(t, s, crashJob)
	bySeq := make(map[uint64]Entry, len(entries))
	for i, e := range entries {
		if i > 0 && e.Seq <= entries[i-1].Seq {
			t.Fatalf("seqs out of order: %d after %d", e.Seq, entries[i-1].Seq)
		}
		bySeq[e.Seq] = e
	}
	latestProgress := uint64(0)
	for seq := uint64(1); seq <= job.LastSeq; seq++ {
		if crashEvent(seq).Kind == KindProgress {
			latestProgress = seq
		}
	}
	for seq := uint64(1); seq <= job.LastSeq; seq++ {
		want := crashEvent(seq)
		e, ok := bySeq[seq]
		if want.Kind == KindProgress && seq != latestProgress {
			if ok {
				t.Errorf("superseded progress %d survived", seq)
			}
			continue
		}
		if !ok {
			t.Errorf("seq %d missing after the crash", seq)
			continue
		}
		if e.Kind != want.Kind || !bytes.Equal(e.Data, want.Data) {
			t.Errorf("seq %d = %s %q, want %s %q", seq, e.Kind, e.Data, want.Kind, want.Data)
		}
	}
	if len(bySeq) != len(entries) || uint64(len(entries)) > job.LastSeq {
		t.Errorf("%d entries for %d seqs", len(entries), job.LastSeq)
	}

	seq, err := s.Append(crashJob, crashEvent(job.LastSeq+1))
	if err != nil {
		t.Fatal(err)
	}
	if seq != job.LastSeq+1 {
		t.Fatalf("append after the crash got seq %d, want %d", seq, job.LastSeq+1)
	}
}
