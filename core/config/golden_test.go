package config

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*_error.golden from the current output")

// locationLine is how every printed diagnostic starts, so users and scripts
// can grep for file:line:col.
var locationLine = regexp.MustCompile(`^Error: testdata/[a-z_]+_error\.hcl:\d+:\d+: \S`)

// TestLoadErrors loads every testdata/*_error.hcl and compares what
// WriteDiagnostics prints with testdata/*_error.golden.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	requireUnset(t, "RM_CONFIG_TEST_NEVER_SET")
	paths, err := filepath.Glob(filepath.Join("testdata", "*_error.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no testdata/*_error.hcl")
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A slash path keeps the golden files the same on every OS.
			cfg, files, diags := Load(filepath.ToSlash(path))
			if cfg != nil {
				t.Errorf("Load returned a config despite errors")
			}
			if !diags.HasErrors() {
				t.Fatalf("Load reported no error")
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic %q has no source range", d.Summary)
				}
			}
			got := diagText(t, files, diags)
			for _, line := range strings.Split(got, "\n") {
				if strings.HasPrefix(line, "Error:") && !locationLine.MatchString(line) {
					t.Errorf("diagnostic line without file:line:col: %q", line)
				}
			}

			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./core/config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s (run go test ./core/config -update to accept)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
