package secrets_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/core/secrets"
)

func TestKeyringPrintsNoKeyMaterial(t *testing.T) {
	t.Parallel()
	kr, path := newKeyring(t)
	kr, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.WriteKeyFile(path); err != nil {
		t.Fatal(err)
	}
	encoded, raw := keyMaterial(t, path)

	type holder struct {
		kr  *secrets.Keyring
		val secrets.Keyring
	}
	outputs := map[string]string{
		"pointer":      fmt.Sprintf("%v %+v %#v", kr, kr, kr),
		"value":        fmt.Sprintf("%v %+v %#v", *kr, *kr, *kr),
		"other verbs":  fmt.Sprintf("%s %q %x %X %d", kr, kr, kr, kr, kr),
		"struct field": fmt.Sprintf("%v %+v %#v", holder{kr, *kr}, holder{kr, *kr}, &holder{kr, *kr}),
		"String":       kr.String(),
		"GoString":     kr.GoString(),
		"slice":        fmt.Sprintf("%v %#v", []*secrets.Keyring{kr}, []secrets.Keyring{*kr}),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for i := range raw {
				for _, leak := range []string{encoded[i], string(raw[i]), hex.EncodeToString(raw[i]), fmt.Sprint(raw[i])} { //nolint:staticcheck // QF1010: the byte-slice rendering is the leak being looked for
					if strings.Contains(out, leak) {
						t.Fatalf("output %q contains key %d", out, i)
					}
				}
			}
		})
	}
	if s := kr.String(); !strings.Contains(s, kr.IDs()[0]) || !strings.Contains(s, kr.IDs()[1]) {
		t.Errorf("String() = %q, want it to name the key ids", s)
	}
}

func TestWithNewKey(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	old := seal(t, kr, "pw", "credentials/value/1")
	kr2, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	if kr2.ActiveID() == kr.ActiveID() {
		t.Fatal("WithNewKey kept the active key")
	}
	if want := []string{kr2.ActiveID(), kr.ActiveID()}; !slices.Equal(kr2.IDs(), want) {
		t.Fatalf("IDs = %v, want %v", kr2.IDs(), want)
	}
	if got := kr.IDs(); len(got) != 1 {
		t.Fatalf("WithNewKey changed the original keyring: %v", got)
	}
	open(t, kr2, old, "credentials/value/1", "pw")
	fresh := seal(t, kr2, "pw2", "credentials/value/2")
	if id, _ := secrets.KeyID(fresh); id != kr2.ActiveID() {
		t.Fatalf("sealed with %q, want %q", id, kr2.ActiveID())
	}
	if _, err := kr.Open(fresh, []byte("credentials/value/2")); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("old keyring opened a value sealed with the new key: %v", err)
	}
}

func TestWithOnly(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	kr, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err = kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	ids := kr.IDs() // newest first
	tests := map[string]struct {
		keep    []string
		want    []string
		wantErr error
	}{
		"active only":     {keep: []string{ids[0]}, want: []string{ids[0]}},
		"old only":        {keep: []string{ids[2]}, want: []string{ids[2]}},
		"order preserved": {keep: []string{ids[2], ids[0]}, want: []string{ids[0], ids[2]}},
		"duplicates":      {keep: []string{ids[1], ids[1]}, want: []string{ids[1]}},
		"all":             {keep: ids, want: ids},
		"unknown id":      {keep: []string{ids[0], "k-00000000"}, wantErr: secrets.ErrUnknownKey},
		"none":            {keep: nil, wantErr: errors.New("any")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := kr.WithOnly(tc.keep...)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("WithOnly(%v) succeeded with %v", tc.keep, got.IDs())
				}
				if errors.Is(tc.wantErr, secrets.ErrUnknownKey) && !errors.Is(err, secrets.ErrUnknownKey) {
					t.Fatalf("WithOnly error %v, want ErrUnknownKey", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("WithOnly: %v", err)
			}
			if !slices.Equal(got.IDs(), tc.want) {
				t.Fatalf("IDs = %v, want %v", got.IDs(), tc.want)
			}
			if got.ActiveID() != tc.want[0] {
				t.Fatalf("ActiveID = %q, want %q", got.ActiveID(), tc.want[0])
			}
			if len(kr.IDs()) != 3 {
				t.Fatal("WithOnly changed the original keyring")
			}
		})
	}
}

// TestRotation walks the documented procedure and checks that the key file on
// disk opens every row after each step, as it would after a crash there.
func TestRotation(t *testing.T) {
	t.Parallel()
	kr, path := newKeyring(t)
	rows := map[string]string{"credentials/value/1": "pw-one", "credentials/value/2": "pw-two", "hooks/script/3": "echo hi"}
	db := map[string][]byte{}
	for aad, pw := range rows {
		db[aad] = seal(t, kr, pw, aad)
	}
	openAll := func(t *testing.T, db map[string][]byte) {
		t.Helper()
		onDisk := loadKeyFile(t, path)
		for aad, want := range rows {
			open(t, onDisk, db[aad], aad, want)
		}
	}

	// Step 1: a new active key, old keys kept.
	kr2, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := kr2.WriteKeyFile(path); err != nil {
		t.Fatal(err)
	}
	openAll(t, db) // crash after step 1: old rows open

	// Step 2: re-seal every row in one transaction (simulated on a copy).
	resealed := map[string][]byte{}
	for aad, v := range db {
		if resealed[aad], err = kr2.Reseal(v, []byte(aad)); err != nil {
			t.Fatal(err)
		}
	}
	openAll(t, resealed) // crash after the commit: new rows open too

	// Step 3: drop the old keys.
	if err := must(kr2.WithOnly(kr2.ActiveID())).WriteKeyFile(path); err != nil {
		t.Fatal(err)
	}
	openAll(t, resealed)
	onDisk := loadKeyFile(t, path)
	if !slices.Equal(onDisk.IDs(), []string{kr2.ActiveID()}) {
		t.Fatalf("key file holds %v, want only %s", onDisk.IDs(), kr2.ActiveID())
	}
	for aad, v := range db {
		if _, err := onDisk.Open(v, []byte(aad)); !errors.Is(err, secrets.ErrUnknownKey) {
			t.Fatalf("row %s sealed before rotation: %v, want ErrUnknownKey", aad, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestKeyringConcurrentUse(t *testing.T) {
	t.Parallel()
	kr, _ := newKeyring(t)
	kr, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	shared := seal(t, kr, "shared", "row/0")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			aad := []byte(fmt.Sprintf("row/%d", i+1))
			for range 100 {
				s, err := kr.Seal([]byte("pw"), aad)
				if err == nil {
					_, err = kr.Open(s, aad)
				}
				if err == nil {
					_, err = kr.Open(shared, []byte("row/0"))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEmptyKeyring(t *testing.T) {
	t.Parallel()
	var kr *secrets.Keyring
	if _, err := kr.Seal([]byte("x"), nil); err == nil {
		t.Error("Seal on a nil keyring succeeded")
	}
	if _, err := kr.Open([]byte{1}, nil); !errors.Is(err, secrets.ErrMalformed) {
		t.Errorf("Open on a nil keyring: %v", err)
	}
	if err := kr.WriteKeyFile(t.TempDir() + "/k"); err == nil {
		t.Error("WriteKeyFile of a nil keyring succeeded")
	}
	if s := fmt.Sprintf("%v", kr); s != "<nil>" {
		t.Errorf("nil keyring prints %q", s)
	}
}
