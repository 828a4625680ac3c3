package secrets_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/secrets"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	tests := map[string]struct {
		plaintext []byte
		aad       []byte
	}{
		"empty":         {plaintext: []byte{}, aad: []byte("credentials/value/1")},
		"password":      {plaintext: []byte("correct horse battery staple"), aad: []byte("credentials/value/2")},
		"binary":        {plaintext: []byte{0, 1, 2, 0xff, 0, '\n'}, aad: []byte("backends/key/7")},
		"no aad":        {plaintext: []byte("hook text")},
		"one mebibyte":  {plaintext: bytes.Repeat([]byte("x"), 1<<20), aad: []byte("hooks/script/3")},
		"binary aad":    {plaintext: []byte("p"), aad: []byte{0, 0xff, '/'}},
		"long aad only": {plaintext: nil, aad: bytes.Repeat([]byte("a"), 4096)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sealed, err := kr.Seal(tc.plaintext, tc.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tc.plaintext) >= 8 && bytes.Contains(sealed, tc.plaintext) {
				t.Fatal("sealed value contains the plaintext")
			}
			got, err := kr.Open(sealed, tc.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open = %q, want %q", got, tc.plaintext)
			}
			id, err := secrets.KeyID(sealed)
			if err != nil || id != kr.ActiveID() {
				t.Fatalf("KeyID = %q, %v; want %q", id, err, kr.ActiveID())
			}
		})
	}
}

func TestSealUsesRandomNonce(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	a := seal(t, kr, "same password", "credentials/value/1")
	b := seal(t, kr, "same password", "credentials/value/1")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	open(t, kr, a, "credentials/value/1", "same password")
	open(t, kr, b, "credentials/value/1", "same password")
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	other, _ := newKeyring(t)
	id := kr.ActiveID()
	sameIDWrongKey := loadKeyFile(t, writeKeyFile(t, 0o600, id+" "+randomKey(t)))
	sealed := seal(t, kr, "hunter2", "credentials/value/1")
	header := 2 + len(id)

	withVersion := func(v byte) []byte {
		b := bytes.Clone(sealed)
		b[0] = v
		return b
	}
	tests := map[string]struct {
		opener *secrets.Keyring
		sealed []byte
		aad    string
		want   error
	}{
		"aad of another row":  {opener: kr, sealed: sealed, aad: "credentials/value/2", want: secrets.ErrTampered},
		"aad missing":         {opener: kr, sealed: sealed, aad: "", want: secrets.ErrTampered},
		"aad extended":        {opener: kr, sealed: sealed, aad: "credentials/value/10", want: secrets.ErrTampered},
		"wrong key same id":   {opener: sameIDWrongKey, sealed: sealed, aad: "credentials/value/1", want: secrets.ErrTampered},
		"unknown key id":      {opener: other, sealed: sealed, aad: "credentials/value/1", want: secrets.ErrUnknownKey},
		"nil":                 {opener: kr, sealed: nil, want: secrets.ErrMalformed},
		"version only":        {opener: kr, sealed: sealed[:1], want: secrets.ErrMalformed},
		"header only":         {opener: kr, sealed: sealed[:header], want: secrets.ErrMalformed},
		"no tag":              {opener: kr, sealed: sealed[:header+24], want: secrets.ErrMalformed},
		"short tag":           {opener: kr, sealed: sealed[:header+24+15], want: secrets.ErrMalformed},
		"version 0":           {opener: kr, sealed: withVersion(0), want: secrets.ErrMalformed},
		"version 2":           {opener: kr, sealed: withVersion(2), want: secrets.ErrMalformed},
		"plaintext not value": {opener: kr, sealed: []byte("hunter2"), want: secrets.ErrMalformed},
		"zero id length":      {opener: kr, sealed: append([]byte{1, 0}, make([]byte, 64)...), want: secrets.ErrMalformed},
		"id not printable":    {opener: kr, sealed: append([]byte{1, 2, 0, '\n'}, make([]byte, 64)...), want: secrets.ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.opener.Open(tc.sealed, []byte(tc.aad))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open error = %v, want %v", err, tc.want)
			}
			if got != nil {
				t.Fatalf("Open returned %q with an error", got)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q contains the plaintext", err)
			}
		})
	}
}

func TestOpenRejectsEveryFlippedBit(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	sealed := seal(t, kr, "s3cret", "credentials/value/1")
	idEnd := 2 + len(kr.ActiveID())
	for i := range sealed {
		for bit := range 8 {
			b := bytes.Clone(sealed)
			b[i] ^= 1 << bit
			_, err := kr.Open(b, []byte("credentials/value/1"))
			switch {
			case err == nil:
				t.Fatalf("byte %d bit %d flipped: Open succeeded", i, bit)
			case errors.Is(err, secrets.ErrTampered), errors.Is(err, secrets.ErrMalformed):
			case i >= 1 && i < idEnd && errors.Is(err, secrets.ErrUnknownKey):
				// A flipped id length or key id names another key.
			default:
				t.Fatalf("byte %d bit %d flipped: unexpected error %v", i, bit, err)
			}
		}
	}
}

func TestOpenRejectsEveryTruncation(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	sealed := seal(t, kr, "s3cret", "credentials/value/1")
	minLen := 2 + len(kr.ActiveID()) + 24 + 16
	for n := range len(sealed) {
		_, err := kr.Open(sealed[:n], []byte("credentials/value/1"))
		want := secrets.ErrTampered
		if n < minLen {
			want = secrets.ErrMalformed
		}
		if !errors.Is(err, want) {
			t.Fatalf("truncated to %d bytes: error %v, want %v", n, err, want)
		}
	}
}

func TestKeyIDMalformed(t *testing.T) {
	t.Parallel()
	for name, in := range map[string][]byte{
		"nil":       nil,
		"garbage":   []byte("not sealed at all, just text"),
		"truncated": {1, 10, 'k', '-'},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if id, err := secrets.KeyID(in); !errors.Is(err, secrets.ErrMalformed) {
				t.Fatalf("KeyID = %q, %v; want ErrMalformed", id, err)
			}
		})
	}
}

func TestReseal(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	old := seal(t, kr, "pw", "credentials/value/1")
	kr2, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	resealed, err := kr2.Reseal(old, []byte("credentials/value/1"))
	if err != nil {
		t.Fatalf("Reseal: %v", err)
	}
	if id, _ := secrets.KeyID(resealed); id != kr2.ActiveID() {
		t.Fatalf("resealed with %q, want active %q", id, kr2.ActiveID())
	}
	open(t, kr2, resealed, "credentials/value/1", "pw")
	if _, err := kr2.Reseal(old, []byte("credentials/value/2")); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("Reseal with wrong aad: %v, want ErrTampered", err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	other, _ := newKeyring(t)
	good := []secrets.SealedValue{
		{Value: seal(t, kr, "a", "credentials/value/1"), AAD: []byte("credentials/value/1")},
		{Value: seal(t, kr, "b", "credentials/value/2"), AAD: []byte("credentials/value/2")},
	}
	many := make([]secrets.SealedValue, 50)
	for i := range many {
		many[i] = secrets.SealedValue{Value: seal(t, other, "pw", "x"), AAD: []byte("x")}
	}
	tests := map[string]struct {
		values []secrets.SealedValue
		want   []error
		text   []string
	}{
		"none":     {},
		"all open": {values: good},
		"moved row": {
			values: append(good[:1:1], secrets.SealedValue{Value: good[1].Value, AAD: []byte("credentials/value/9")}),
			want:   []error{secrets.ErrTampered},
			text:   []string{"1 of 2", "credentials/value/9"},
		},
		"mixed failures": {
			values: append(good[:1:1],
				secrets.SealedValue{Value: seal(t, other, "c", "hooks/1"), AAD: []byte("hooks/1")},
				secrets.SealedValue{Value: []byte("junk"), AAD: []byte("hooks/2")}),
			want: []error{secrets.ErrUnknownKey, secrets.ErrMalformed},
			text: []string{"2 of 3", "hooks/1", "hooks/2"},
		},
		"wrong key file": {
			values: many,
			want:   []error{secrets.ErrUnknownKey},
			text:   []string{"50 of 50"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := kr.Verify(tc.values...)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify succeeded, want an error")
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("Verify error %q does not wrap %v", err, want)
				}
			}
			for _, s := range tc.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Verify error %q does not mention %q", err, s)
				}
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines > 6 {
				t.Errorf("Verify error has %d lines, want at most 6", lines)
			}
		})
	}
}
