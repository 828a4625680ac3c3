package secrets_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/secrets"
)

// newKeyring creates a key file in a temp dir and returns its keyring and path.
func newKeyring(t *testing.T) (*secrets.Keyring, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret.key")
	kr, err := secrets.CreateKeyFile(path)
	if err != nil {
		t.Fatalf("CreateKeyFile: %v", err)
	}
	return kr, path
}

// randomKey returns 32 random bytes in standard base64, as a key file holds them.
func randomKey(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// writeKeyFile writes a key file with the given lines and mode into a temp dir.
func writeKeyFile(t *testing.T, mode os.FileMode, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
	return path
}

// loadKeyFile loads path and fails the test on error.
func loadKeyFile(t *testing.T, path string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile: %v", err)
	}
	return kr
}

// keyMaterial returns every key of the key file at path, in base64 and raw.
func keyMaterial(t *testing.T, path string) (encoded []string, raw [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, fields[1])
		raw = append(raw, b)
	}
	if len(raw) == 0 {
		t.Fatalf("no keys in %s", path)
	}
	return encoded, raw
}

// seal seals plaintext and fails the test on error.
func seal(t *testing.T, kr *secrets.Keyring, plaintext, aad string) []byte {
	t.Helper()
	sealed, err := kr.Seal([]byte(plaintext), []byte(aad))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

// open opens sealed and fails the test unless it yields want.
func open(t *testing.T, kr *secrets.Keyring, sealed []byte, aad, want string) {
	t.Helper()
	got, err := kr.Open(sealed, []byte(aad))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if string(got) != want {
		t.Fatalf("Open = %q, want %q", got, want)
	}
}
