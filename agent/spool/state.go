package spool

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The state area is a small durable key/value map for what the agent must
// remember across restarts besides jobs: its schedules' last and next fire
// times, and the credentials its schedules need while the server is away.
//
// Credentials must be sealed by the caller before PutState. The file is
// readable by the agent's user only, but bbolt reuses freed pages rather than
// wiping them, so a deleted or overwritten value can linger in the file until
// its page is reused; Compact rewrites the file without them.

const (
	maxStateKeyLen   = 1024
	maxStateValueLen = 4 << 20
)

// PutState durably stores value under key, replacing any earlier value.
func (s *Spool) PutState(key string, value []byte) error {
	if key == "" || len(key) > maxStateKeyLen {
		return fmt.Errorf("%w: key of %d bytes", ErrInvalidState, len(key))
	}
	if len(value) > maxStateValueLen {
		return fmt.Errorf("%w: value of %d bytes, limit %d", ErrInvalidState, len(value), maxStateValueLen)
	}
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	err := s.do(func(w *wtx) error {
		if err := w.tx.Bucket(bucketState).Put([]byte(key), v); err != nil {
			return w.fail(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put state %q: %w", key, err)
	}
	return nil
}

// GetState returns the value stored under key, or ErrNotFound.
func (s *Spool) GetState(key string) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketState).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get state %q: %w", key, err)
	}
	return out, nil
}

// DeleteState removes key; removing a missing key is not an error.
func (s *Spool) DeleteState(key string) error {
	if key == "" || len(key) > maxStateKeyLen {
		return fmt.Errorf("%w: key of %d bytes", ErrInvalidState, len(key))
	}
	err := s.do(func(w *wtx) error {
		if err := w.tx.Bucket(bucketState).Delete([]byte(key)); err != nil {
			return w.fail(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete state %q: %w", key, err)
	}
	return nil
}

// StateKeys lists the keys that start with prefix, in byte order.
func (s *Spool) StateKeys(prefix string) ([]string, error) {
	var keys []string
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketState).Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list state keys: %w", err)
	}
	return keys, nil
}
