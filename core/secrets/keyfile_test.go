package secrets_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/restic-manager/restic-manager/core/secrets"
)

// onlyFile fails unless dir holds exactly the named file (no temp files left).
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{name}) {
		t.Fatalf("directory holds %v, want only %s", names, name)
	}
}

// wantMode fails unless path has the given permission bits (unix only).
func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %04o, want %04o", path, got, want)
	}
}

func TestCreateKeyFile(t *testing.T) {
	t.Parallel()
	kr, path := newKeyring(t)
	wantMode(t, path, 0o600)
	onlyFile(t, filepath.Dir(path), "secret.key")
	if !regexp.MustCompile(`^k-[0-9a-f]{8}$`).MatchString(kr.ActiveID()) {
		t.Fatalf("ActiveID = %q, want k- and 8 hex digits", kr.ActiveID())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "# restic-manager secret keys.") || !strings.Contains(string(data), "backed up separately") {
		t.Fatalf("key file lacks the header comment:\n%s", data)
	}
	loaded := loadKeyFile(t, path)
	if !slices.Equal(loaded.IDs(), kr.IDs()) {
		t.Fatalf("loaded IDs %v, want %v", loaded.IDs(), kr.IDs())
	}
	open(t, loaded, seal(t, kr, "pw", "a"), "a", "pw")
}

func TestCreateKeyFileRefusesOverwrite(t *testing.T) {
	t.Parallel()
	kr, path := newKeyring(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateKeyFile over an existing file: %v, want fs.ErrExist", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Fatal("CreateKeyFile changed an existing key file")
	}
	onlyFile(t, filepath.Dir(path), "secret.key")
	if got := loadKeyFile(t, path).ActiveID(); got != kr.ActiveID() {
		t.Fatalf("active key %q, want %q", got, kr.ActiveID())
	}
}

func TestLoadKeyFileMissing(t *testing.T) {
	t.Parallel()
	_, err := secrets.LoadKeyFile(filepath.Join(t.TempDir(), "secret.key"))
	if !errors.Is(err, secrets.ErrNoKeyFile) {
		t.Fatalf("LoadKeyFile: %v, want ErrNoKeyFile", err)
	}
}

func TestLoadKeyFileNotRegular(t *testing.T) {
	t.Parallel()
	_, err := secrets.LoadKeyFile(t.TempDir())
	if !errors.Is(err, secrets.ErrInvalidKeyFile) {
		t.Fatalf("LoadKeyFile of a directory: %v, want ErrInvalidKeyFile", err)
	}
}

func TestLoadKeyFilePermissions(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no unix permissions on windows")
	}
	line := "k-0123abcd " + randomKey(t)
	tests := map[string]struct {
		mode fs.FileMode
		ok   bool
	}{
		"0600": {mode: 0o600, ok: true},
		"0400": {mode: 0o400, ok: true},
		"0644": {mode: 0o644},
		"0640": {mode: 0o640},
		"0604": {mode: 0o604},
		"0660": {mode: 0o660},
		"0602": {mode: 0o602},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeKeyFile(t, tc.mode, line)
			_, err := secrets.LoadKeyFile(path)
			if tc.ok {
				if err != nil {
					t.Fatalf("LoadKeyFile: %v", err)
				}
				return
			}
			if !errors.Is(err, secrets.ErrInsecureKeyFile) {
				t.Fatalf("LoadKeyFile: %v, want ErrInsecureKeyFile", err)
			}
			if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q should tell the user to chmod 600 the file", err)
			}
		})
	}
}

func TestLoadKeyFileMalformed(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	short := "c2hvcnQga2V5" // "short key"
	tests := map[string]struct {
		lines []string
		want  string
	}{
		"empty":            {lines: []string{""}, want: "holds no keys"},
		"comments only":    {lines: []string{"# nothing", "", "  # still nothing"}, want: "holds no keys"},
		"id only":          {lines: []string{"# keys", "k-00000001"}, want: "line 2"},
		"three fields":     {lines: []string{"k-00000001 " + key + " extra"}, want: "line 1"},
		"bad base64":       {lines: []string{"# keys", "", "k-00000001 " + key[:43] + "!"}, want: "line 3"},
		"short key":        {lines: []string{"k-00000001 " + key, "k-00000002 " + short}, want: "line 2"},
		"url base64":       {lines: []string{"k-00000001 " + strings.NewReplacer("+", "-", "/", "_").Replace(key) + "-_"}, want: "line 1"},
		"duplicate id":     {lines: []string{"# a", "k-00000001 " + key, "# b", "k-00000001 " + randomKey(t)}, want: "line 4"},
		"id with slash":    {lines: []string{"k/1 " + key}, want: "line 1"},
		"id too long":      {lines: []string{strings.Repeat("k", 65) + " " + key}, want: "line 1"},
		"key before id":    {lines: []string{"", key + " k-00000001"}, want: "line 2"},
		"unicode id":       {lines: []string{"k-ключ " + key}, want: "line 1"},
		"colon separated":  {lines: []string{"k-00000001:" + key}, want: "line 1"},
		"good then broken": {lines: []string{"k-00000001 " + key, "k-00000002"}, want: "line 2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeKeyFile(t, 0o600, tc.lines...)
			_, err := secrets.LoadKeyFile(path)
			if !errors.Is(err, secrets.ErrInvalidKeyFile) {
				t.Fatalf("LoadKeyFile: %v, want ErrInvalidKeyFile", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key[:20]) || strings.Contains(err.Error(), short) {
				t.Fatalf("error %q quotes key material", err)
			}
		})
	}
}

func TestLoadKeyFileLayout(t *testing.T) {
	t.Parallel()
	k1, k2 := randomKey(t), randomKey(t)
	tests := map[string]struct {
		content string
		want    []string
	}{
		"comments and blanks": {content: "# header\n\nk-00000002 " + k1 + "\n  # indented\nk-00000001 " + k2 + "\n", want: []string{"k-00000002", "k-00000001"}},
		"crlf":                {content: "# header\r\nk-0000000a " + k1 + "\r\nk-0000000b " + k2 + "\r\n", want: []string{"k-0000000a", "k-0000000b"}},
		"tabs and spaces":     {content: "\tk-0000000a\t \t" + k1 + "  \n", want: []string{"k-0000000a"}},
		"no final newline":    {content: "k-0000000a " + k1, want: []string{"k-0000000a"}},
		"byte order mark":     {content: "\ufeffk-0000000a " + k1 + "\n", want: []string{"k-0000000a"}},
		"hand named":          {content: "backup-2024.1 " + k1 + "\n", want: []string{"backup-2024.1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secret.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			kr := loadKeyFile(t, path)
			if !slices.Equal(kr.IDs(), tc.want) {
				t.Fatalf("IDs = %v, want %v", kr.IDs(), tc.want)
			}
			open(t, kr, seal(t, kr, "pw", "a"), "a", "pw")
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	first, created, err := secrets.LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKeyFile: created=%v, %v", created, err)
	}
	second, created, err := secrets.LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateKeyFile: created=%v, %v", created, err)
	}
	if second.ActiveID() != first.ActiveID() {
		t.Fatalf("second load has key %q, want %q", second.ActiveID(), first.ActiveID())
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := secrets.LoadOrCreateKeyFile(path); !errors.Is(err, secrets.ErrInsecureKeyFile) {
			t.Fatalf("LoadOrCreateKeyFile of a 0644 file: %v, want ErrInsecureKeyFile", err)
		}
	}
}

func TestWriteKeyFile(t *testing.T) {
	t.Parallel()
	kr, path := newKeyring(t)
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kr2, err := kr.WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := kr2.WriteKeyFile(path); err != nil {
		t.Fatalf("WriteKeyFile: %v", err)
	}
	wantMode(t, path, 0o600)
	onlyFile(t, filepath.Dir(path), "secret.key")
	if got := loadKeyFile(t, path).IDs(); !slices.Equal(got, kr2.IDs()) {
		t.Fatalf("written IDs %v, want %v", got, kr2.IDs())
	}

	if err := kr.WriteKeyFile(filepath.Join(t.TempDir(), "missing", "secret.key")); err == nil {
		t.Fatal("WriteKeyFile into a missing directory succeeded")
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	const n = 8
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var kr *secrets.Keyring
			kr, created[i], errs[i] = secrets.LoadOrCreateKeyFile(path)
			if errs[i] == nil {
				ids[i] = kr.ActiveID()
			}
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreateKeyFile: %v", errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("callers got different keys: %v", ids)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers created the key file, want 1", creators)
	}
	onlyFile(t, filepath.Dir(path), "secret.key")
}
