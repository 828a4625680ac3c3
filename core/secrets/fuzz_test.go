package secrets_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/restic-manager/restic-manager/core/secrets"
)

// FuzzOpen feeds arbitrary bytes to Open and KeyID. Neither may panic, and a
// failure must wrap one of the documented errors.
func FuzzOpen(f *testing.F) {
	kr, err := secrets.CreateKeyFile(filepath.Join(f.TempDir(), "secret.key"))
	if err != nil {
		f.Fatal(err)
	}
	valid, err := kr.Seal([]byte("hunter2"), []byte("credentials/value/1"))
	if err != nil {
		f.Fatal(err)
	}
	empty, err := kr.Seal(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-1] ^= 1
	seeds := [][]byte{
		valid,
		empty,
		flipped,
		valid[:len(valid)-17],
		valid[:2],
		nil,
		{0},
		{1},
		{1, 0},
		{1, 255},
		{2, 10, 'k', '-', '0', '0', '0', '0', '0', '0', '0', '0'},
		append([]byte{1, 10}, []byte("k-00000000")...),
		bytes.Repeat([]byte{0xff}, 300),
	}
	for _, s := range seeds {
		f.Add(s, []byte("credentials/value/1"))
	}
	f.Add(valid, []byte(nil))

	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		plaintext, err := kr.Open(sealed, aad)
		if err == nil {
			if again, err := kr.Seal(plaintext, aad); err != nil {
				t.Fatalf("Seal after Open: %v", err)
			} else if _, err := kr.Open(again, aad); err != nil {
				t.Fatalf("Open after Seal: %v", err)
			}
		} else if !errors.Is(err, secrets.ErrMalformed) && !errors.Is(err, secrets.ErrUnknownKey) && !errors.Is(err, secrets.ErrTampered) {
			t.Fatalf("Open error %v wraps no documented error", err)
		}
		if _, err := secrets.KeyID(sealed); err != nil && !errors.Is(err, secrets.ErrMalformed) {
			t.Fatalf("KeyID error %v does not wrap ErrMalformed", err)
		}
	})
}
