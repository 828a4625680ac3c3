package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

const testCredential = "rma_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

func TestLoadFull(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "full.hcl")
	cfg, _, diags := Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := Config{
		ServerURL:         "https://backup.example.com/rm",
		HostID:            "3f1c2e6a-0000-4000-8000-000000000001",
		Credential:        testCredential,
		ServerFingerprint: strings.Repeat("abcdef0123456789", 4),
		StateDir:          filepath.Join("testdata", "state"),
		ResticBinary:      "/usr/local/bin/restic",
		Log:               Log{Level: "debug", Format: "json"},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("loaded %#v\nwant   %#v", *cfg, want)
	}
	if cred, err := cfg.ReadCredential(); err != nil || cred != testCredential {
		t.Fatalf("ReadCredential = %q, %v", cred, err)
	}
}

func TestLoadMinimalTakesDefaults(t *testing.T) {
	t.Parallel()
	cfg, _, diags := Load(filepath.Join("testdata", "minimal.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.StateDir != DefaultStateDir() || cfg.Log != (Log{Level: "info", Format: "text"}) || cfg.ServerFingerprint != "" {
		t.Fatalf("defaults: %#v", cfg)
	}
}

func TestSecretsStayOutOfPrintedConfig(t *testing.T) {
	t.Parallel()
	cfg := &Config{ServerURL: "https://x", HostID: "h", Credential: testCredential}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, testCredential) {
			t.Errorf("%s prints the credential: %s", verb, out)
		}
	}
}

// TestDiagnostics checks every *_error.hcl file against its .golden
// output (regenerate with RM_UPDATE_GOLDEN=1).
func TestDiagnostics(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join("testdata", "*_error.hcl"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no error cases: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			t.Parallel()
			cfg, files, diags := Load(in)
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("%s loaded without errors", in)
			}
			var buf bytes.Buffer
			if err := WriteDiagnostics(&buf, files, diags); err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".hcl") + ".golden"
			if os.Getenv("RM_UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(golden, buf.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if buf.String() != string(want) {
				t.Fatalf("diagnostics:\n%s\nwant:\n%s", buf.String(), want)
			}
		})
	}
}

func TestDiagnosticsPointAtTheAttribute(t *testing.T) {
	t.Parallel()
	_, _, diags := Load(filepath.Join("testdata", "many_error.hcl"))
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
	}
	want := []string{
		"2:24 Invalid server URL", "4:24 Invalid credential", "5:24 Invalid server fingerprint", "8:13 Invalid log level",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("diagnostics at %q\nwant          %q", got, want)
	}
}

func TestWriteRoundTripAndMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.hcl")
	want := &Config{
		ServerURL: "https://backup.example.com", HostID: "h1", Credential: testCredential,
		ServerFingerprint: strings.Repeat("0f", 32), StateDir: filepath.Join(dir, "state"),
		ResticBinary: `C:\Program Files\restic\restic.exe`, AllowInsecure: true, Log: Log{Level: "warn", Format: "json"},
	}
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, _, diags := Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !reflect.DeepEqual(*got, *want) {
		t.Fatalf("round trip %#v\nwant       %#v", *got, *want)
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, %v; want 0600", st.Mode(), err)
		}
	}
	// Overwriting replaces the file and leaves no temporary behind.
	want.HostID = "h2"
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := Load(path); got == nil || got.HostID != "h2" {
		t.Fatalf("after overwrite: %#v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only agent.hcl", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "agent.hcl"), want); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}

func TestCredentialFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cred"), []byte(testCredential+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "agent {\n  server_url = \"https://x.example\"\n  host_id = \"h\"\n  credential_file = \"cred\"\n}\n"
	cfg, _, diags := LoadBytes([]byte(src), filepath.Join(dir, "agent.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.CredentialFile != filepath.Join(dir, "cred") {
		t.Fatalf("credential_file resolved to %q", cfg.CredentialFile)
	}
	if cred, err := cfg.ReadCredential(); err != nil || cred != testCredential {
		t.Fatalf("ReadCredential = %q, %v", cred, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cred"), []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.ReadCredential(); err == nil {
		t.Fatal("a file without a credential was accepted")
	}
}

func TestDefaultPaths(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := map[string]struct {
		goos, programData, path, state string
	}{
		"linux":        {"linux", "", "/etc/restic-manager-agent/agent.hcl", "/var/lib/restic-manager-agent"},
		"darwin":       {"darwin", "", "/etc/restic-manager-agent/agent.hcl", "/var/lib/restic-manager-agent"},
		"windows":      {"windows", `D:\Data\`, `D:\Data\restic-manager-agent\agent.hcl`, `D:\Data\restic-manager-agent`},
		"windows bare": {"windows", "", `C:\ProgramData\restic-manager-agent\agent.hcl`, `C:\ProgramData\restic-manager-agent`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			getenv := env(map[string]string{"ProgramData": tc.programData})
			if got := defaultPath(tc.goos, getenv); got != tc.path {
				t.Errorf("config path %q, want %q", got, tc.path)
			}
			if got := defaultStateDir(tc.goos, getenv); got != tc.state {
				t.Errorf("state dir %q, want %q", got, tc.state)
			}
		})
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	t.Parallel()
	hexFP := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		hexFP:                            hexFP,
		strings.ToUpper(hexFP):           hexFP,
		"sha256:" + hexFP:                hexFP,
		strings.Repeat("AB:", 31) + "AB": hexFP,
		"abc":                            "",
		strings.Repeat("zz", 32):         "",
	} {
		got, err := NormalizeFingerprint(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
