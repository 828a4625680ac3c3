package spool

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesPrivateFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s := openDir(t, dir, Options{})
	if got, want := s.Path(), filepath.Join(dir, FileName); got != want {
		t.Fatalf("path = %s, want %s", got, want)
	}
	if runtime.GOOS == "windows" {
		t.Skip("file modes are ACLs on Windows")
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("spool file mode = %v, want 0600", perm)
	}
}

func TestOpenTightensLooseMode(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("file modes are ACLs on Windows")
	}
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir, Options{})
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("spool file mode after reopen = %v, want 0600", perm)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openDir(t, dir, Options{})
	start := time.Now()
	s, err := Open(dir, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		t.Fatal("second open of the same state dir succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("second open waited %v", waited)
	}
}

func TestOpenCorruptFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("opened a junk file")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open junk: %v, want ErrCorrupt", err)
	}
}

func TestOpenNewerFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, encodeUint(formatVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir, Options{}); !errors.Is(err, ErrIncompatible) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("open newer format: %v, want ErrIncompatible", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openDir(t, dir, Options{})
	mustBegin(t, s, "job-1")
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, "job-1", logLine(i))
	}
	if err := s.Ack("job-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState("schedule/a", []byte("next=1")); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	s = openDir(t, dir, Options{})
	if got := seqs(mustPending(t, s, "job-1")); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("pending after reopen = %v, want [3 4 5]", got)
	}
	if seq := mustAppend(t, s, "job-1", logLine(6)); seq != 6 {
		t.Fatalf("append after reopen got seq %d, want 6", seq)
	}
	if err := s.BeginJob("job-1", JobMeta{}); !errors.Is(err, ErrJobKnown) {
		t.Fatalf("begin known job after reopen: %v, want ErrJobKnown", err)
	}
	v, err := s.GetState("schedule/a")
	if err != nil || string(v) != "next=1" {
		t.Fatalf("state after reopen = %q, %v", v, err)
	}
	after := s.Stats()
	if after.PendingEvents != before.PendingEvents+1 {
		t.Fatalf("pending events after reopen = %d, want %d", after.PendingEvents, before.PendingEvents+1)
	}
	checkConsistent(t, s)
}

func TestClosedSpool(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "j")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"append":  func() error { _, err := s.Append("j", logLine(1)); return err }(),
		"begin":   s.BeginJob("k", JobMeta{}),
		"ack":     s.Ack("j", 0),
		"pending": func() error { _, err := s.Pending("j", 0, 0); return err }(),
		"state":   s.PutState("a", nil),
		"compact": s.Compact(),
	}
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

func TestCompactShrinksAndKeepsData(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	mustBegin(t, s, "big")
	mustBegin(t, s, "kept")
	batch := make([]Event, 500)
	for i := range batch {
		batch[i] = Event{Kind: KindLog, Data: make([]byte, 1000)}
	}
	for range 20 {
		if _, err := s.AppendBatch("big", batch); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, s, "kept", logLine(1))
	if err := s.Ack("big", 10_000); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	grown := s.Stats().FileBytes

	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().FileBytes; got*4 > grown {
		t.Fatalf("file after compaction = %d bytes, before %d", got, grown)
	}
	if got := seqs(mustPending(t, s, "kept")); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("pending after compaction = %v", got)
	}
	if seq := mustAppend(t, s, "big", logLine(2)); seq != 10_001 {
		t.Fatalf("append after compaction got seq %d, want 10001", seq)
	}
	if v, err := s.GetState("k"); err != nil || string(v) != "v" {
		t.Fatalf("state after compaction = %q, %v", v, err)
	}
	if _, err := os.Stat(s.Path() + compactSuffix); !os.IsNotExist(err) {
		t.Fatalf("compaction left its copy behind: %v", err)
	}
	checkConsistent(t, s)
}
