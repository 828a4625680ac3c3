package restic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestMissingBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]string{
		"absent path":  filepath.Join(dir, "no-restic-here"),
		"a directory":  dir,
		"unknown name": "restic-that-does-not-exist-anywhere",
	}
	for name, bin := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Binary: bin})
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("New(%q) = %v, want ErrNotFound", bin, err)
			}
			for _, hint := range []string{"apt-get install restic", "go install github.com/restic/restic/cmd/restic@v0.18.1"} {
				if !strings.Contains(err.Error(), hint) {
					t.Errorf("error %q lacks the install hint %q", err, hint)
				}
			}
		})
	}
}

// TestBinaryRemoved covers a restic that vanished after New found it.
func TestBinaryRemoved(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("needs an executable without .exe")
	}
	bin := filepath.Join(t.TempDir(), "restic")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Version(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Version = %v, want ErrNotFound", err)
	}
}

func TestRealVersion(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	v, err := r.Version(context.Background())
	if err != nil || !v.AtLeast(MinVersion) || v.OS == "" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
}
