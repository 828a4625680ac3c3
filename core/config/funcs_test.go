package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvFunction sets environment variables, so it cannot run in parallel.
func TestEnvFunction(t *testing.T) {
	t.Setenv("RM_TEST_LISTEN", "0.0.0.0:9443")
	t.Setenv("RM_TEST_EMPTY", "")
	tests := map[string]struct {
		src        string
		wantListen string
		wantURL    string
	}{
		"set": {
			src:        `server { listen = env("RM_TEST_LISTEN") }`,
			wantListen: "0.0.0.0:9443",
		},
		"in a template": {
			src:        `server { public_url = "https://${env("RM_TEST_EMPTY")}backup.example.com" }`,
			wantListen: defaultListen,
			wantURL:    "https://backup.example.com",
		},
		"try falls back when unset": {
			src:        `server { listen = try(env("RM_TEST_NEVER_SET_EITHER"), ":7000") }`,
			wantListen: ":7000",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, files, diags := LoadBytes([]byte(tt.src), "env.hcl")
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diagText(t, files, diags))
			}
			if cfg.Server.Listen != tt.wantListen || cfg.Server.PublicURL != tt.wantURL {
				t.Errorf("listen, public_url = %q, %q; want %q, %q",
					cfg.Server.Listen, cfg.Server.PublicURL, tt.wantListen, tt.wantURL)
			}
		})
	}
}

func TestFileFunction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	confDir := filepath.Join(dir, "etc")
	if err := os.Mkdir(confDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(confDir, "datadir.txt"), "/srv/from-file")
	writeFile(t, filepath.Join(dir, "url.txt"), "https://rm.example.net\n")

	tests := map[string]struct {
		src         string
		wantDataDir string
		wantURL     string
	}{
		"relative to the config file": {
			src:         `server { data_dir = file("datadir.txt") }`,
			wantDataDir: "/srv/from-file",
		},
		"parent directory": {
			src:         `server { data_dir = file("../url.txt") }`,
			wantDataDir: "https://rm.example.net\n", // verbatim, newline included
		},
		"absolute": {
			src:         `server { data_dir = file(` + quoteHCL(filepath.Join(confDir, "datadir.txt")) + `) }`,
			wantDataDir: "/srv/from-file",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(confDir, strings.ReplaceAll(name, " ", "_")+".hcl")
			writeFile(t, path, tt.src)
			cfg, files, diags := Load(path)
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diagText(t, files, diags))
			}
			if cfg.Server.DataDir != tt.wantDataDir {
				t.Errorf("data_dir = %q, want %q", cfg.Server.DataDir, tt.wantDataDir)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	t.Parallel()
	requireUnset(t, "RM_CONFIG_TEST_NEVER_SET")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "latin1.txt"), "caf\xe9")
	writeFile(t, filepath.Join(dir, "big.txt"), strings.Repeat("x", maxFileFuncSize+1))

	tests := map[string]struct {
		src  string
		want []string // in the printed diagnostics
	}{
		"env unset": {
			src:  `server { data_dir = env("RM_CONFIG_TEST_NEVER_SET") }`,
			want: []string{"test.hcl:1:21:", `"RM_CONFIG_TEST_NEVER_SET" is not set`},
		},
		"env empty name": {
			src:  `server { data_dir = env("") }`,
			want: []string{"test.hcl:1:21:", "name must not be empty"},
		},
		"env without argument": {
			src:  `server { data_dir = env() }`,
			want: []string{"test.hcl:1:", "Not enough function arguments"},
		},
		"file missing": {
			src:  `server { data_dir = file("absent.txt") }`,
			want: []string{"test.hcl:1:21:", filepath.Join(dir, "absent.txt"), "no such file or directory"},
		},
		"file not UTF-8": {
			src:  `server { data_dir = file("latin1.txt") }`,
			want: []string{"test.hcl:1:21:", "latin1.txt", "not valid UTF-8"},
		},
		"file too large": {
			src:  `server { data_dir = file("big.txt") }`,
			want: []string{"test.hcl:1:21:", "big.txt", "larger than"},
		},
		"file is a directory": {
			src:  `server { data_dir = file(".") }`,
			want: []string{"test.hcl:1:21:", "cannot read file"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, files, diags := LoadBytes([]byte(tt.src), filepath.Join(dir, "test.hcl"))
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("want an error, got config %+v and diagnostics %v", cfg, diags)
			}
			out := diagText(t, files, diags)
			if !containsAll(out, tt.want...) {
				t.Errorf("diagnostics lack %q:\n%s", tt.want, out)
			}
			if n := strings.Count(out, "Error: "); n != 1 {
				t.Errorf("want one error, got %d:\n%s", n, out)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// quoteHCL quotes s as an HCL string literal (paths have no ${ or %{).
func quoteHCL(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
