package spool

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestState(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	if _, err := s.GetState("schedule/a/next"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	puts := map[string]string{
		"schedule/a/next": "2025-01-01T00:00:00Z",
		"schedule/a/last": "2024-12-31T00:00:00Z",
		"schedule/b/next": "x",
		"cred/repo-1":     "sealed-bytes",
	}
	for k, v := range puts {
		if err := s.PutState(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutState("schedule/b/next", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetState("schedule/b/next"); err != nil || string(v) != "y" {
		t.Fatalf("overwritten value = %q, %v", v, err)
	}
	keys, err := s.StateKeys("schedule/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"schedule/a/last", "schedule/a/next", "schedule/b/next"}; !slices.Equal(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	if err := s.DeleteState("cred/repo-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState("cred/repo-1"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if _, err := s.GetState("cred/repo-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.PutState("empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetState("empty"); err != nil || len(v) != 0 {
		t.Fatalf("empty value = %q, %v", v, err)
	}

	invalid := map[string]struct {
		key   string
		value []byte
	}{
		"empty key":   {"", nil},
		"long key":    {strings.Repeat("k", maxStateKeyLen+1), nil},
		"large value": {"k", make([]byte, maxStateValueLen+1)},
	}
	for name, tc := range invalid {
		t.Run(name, func(t *testing.T) {
			if err := s.PutState(tc.key, tc.value); !errors.Is(err, ErrInvalidState) {
				t.Fatalf("put: %v, want ErrInvalidState", err)
			}
		})
	}
}
