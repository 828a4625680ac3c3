package spool

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// mountTinyTmpfs mounts a 1 MiB tmpfs for the test, or skips it when the
// test cannot mount (not root, no CAP_SYS_ADMIN, a restricted container).
func mountTinyTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a 1 MiB tmpfs to fill (needs root/CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFullDiskIsAnError fills a tiny file system: Append must fail with an
// error (no panic), everything stored before stays readable, and once space
// is freed the spool works again.
func TestFullDiskIsAnError(t *testing.T) {
	dir := mountTinyTmpfs(t)
	s := openDir(t, dir, Options{})
	mustBegin(t, s, "j")
	line := sizedLog(0, 4000)
	var stored []uint64
	var err error
	for range 1000 {
		var seq uint64
		if seq, err = s.Append("j", line); err != nil {
			break
		}
		stored = append(stored, seq)
	}
	if err == nil {
		t.Fatal("appended 4 MB to a 1 MiB file system without an error")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Logf("full disk error is not ENOSPC: %v", err)
	}
	t.Logf("disk full after %d events: %v", len(stored), err)
	if len(stored) == 0 {
		t.Fatal("nothing could be stored at all")
	}
	if got := mustPending(t, s, "j"); len(got) != len(stored) {
		t.Fatalf("after the failed append %d events pending, want %d", len(got), len(stored))
	}
	checkConsistent(t, s)

	// Make room on the file system, then the spool carries on at the next seq.
	if err := s.Ack("j", stored[len(stored)-1]); err != nil {
		t.Logf("ack on a full disk: %v", err)
	}
	if err := os.WriteFile(dir+"/filler-check", nil, 0o600); err != nil {
		t.Logf("file system still full: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir, Options{})
	checkConsistent(t, s)
	job := mustJob(t, s, "j")
	if job.LastSeq != stored[len(stored)-1] {
		t.Fatalf("last seq after reopen = %d, want %d", job.LastSeq, stored[len(stored)-1])
	}
	if job.AckedSeq < job.LastSeq {
		if err := s.Ack("j", job.LastSeq); err != nil {
			t.Fatalf("ack after reopen: %v", err)
		}
	}
	if seq, err := s.Append("j", logLine(1)); err != nil || seq != job.LastSeq+1 {
		t.Fatalf("append after freeing space = %d, %v; want %d", seq, err, job.LastSeq+1)
	}
}
