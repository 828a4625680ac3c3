package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	want := &Config{
		Server: Server{
			Listen:        "127.0.0.1:8080",
			DataDir:       "./data",
			SecretKeyFile: filepath.Join("./data", "secret.key"),
		},
		Log: Log{Level: "info", Format: "text"},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	// Callers may change what they get without changing the next caller's.
	Default().Server.Listen = "changed"
	if got := Default().Server.Listen; got != "127.0.0.1:8080" {
		t.Errorf("Default() shares state: listen = %q", got)
	}
}

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	cfg := Default()
	if diags := cfg.validate(node{}); diags.HasErrors() {
		t.Fatalf("Default() does not validate: %s", diags.Error())
	}
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		want *Config
	}{
		"empty.hcl": {want: Default()},
		"minimal.hcl": {want: &Config{
			Server: Server{
				Listen:        "127.0.0.1:8080",
				DataDir:       "/srv/rm",
				SecretKeyFile: filepath.Join("/srv/rm", "secret.key"),
			},
			Log: Log{Level: "info", Format: "text"},
		}},
		"full.hcl": {want: &Config{
			Server: Server{
				Listen:        "0.0.0.0:8443",
				PublicURL:     "https://backup.example.com",
				DataDir:       "/var/lib/restic-manager",
				SecretKeyFile: "/etc/restic-manager/secret.key",
				TLS: &TLS{
					CertFile: "/etc/restic-manager/tls/cert.pem",
					KeyFile:  "/etc/restic-manager/tls/key.pem",
				},
			},
			Log: Log{Level: "debug", Format: "json"},
		}},
		"functions.hcl": {want: &Config{
			Server: Server{
				Listen:        "127.0.0.1:9090",
				PublicURL:     "https://rm.example.org",
				DataDir:       "./data",
				SecretKeyFile: filepath.Join("./data", "secret.key"),
			},
			Log: Log{Level: "info", Format: "text"},
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireUnset(t, "RM_CONFIG_TEST_NEVER_SET")
			cfg, files, diags := Load(filepath.Join("testdata", name))
			if len(diags) > 0 {
				t.Fatalf("Load: unexpected diagnostics:\n%s", diagText(t, files, diags))
			}
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Errorf("Load = %+v\nwant %+v", cfg, tt.want)
			}
		})
	}
}

func TestSecretKeyFileDefault(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src  string
		want string
	}{
		"follows data_dir": {
			src:  `server { data_dir = "/var/lib/rm" }`,
			want: filepath.Join("/var/lib/rm", "secret.key"),
		},
		"follows relative data_dir": {
			src:  `server { data_dir = "state" }`,
			want: filepath.Join("state", "secret.key"),
		},
		"empty means default": {
			src:  `server { secret_key_file = "" }`,
			want: filepath.Join("./data", "secret.key"),
		},
		"explicit wins": {
			src:  `server { secret_key_file = "/etc/rm/key" }`,
			want: "/etc/rm/key",
		},
		"no server block": {
			src:  ``,
			want: filepath.Join("./data", "secret.key"),
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, files, diags := LoadBytes([]byte(tt.src), "test.hcl")
			if len(diags) > 0 {
				t.Fatalf("LoadBytes: unexpected diagnostics:\n%s", diagText(t, files, diags))
			}
			if cfg.Server.SecretKeyFile != tt.want {
				t.Errorf("secret_key_file = %q, want %q", cfg.Server.SecretKeyFile, tt.want)
			}
		})
	}
}

func TestExampleLoads(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "config.hcl.example")
	cfg, files, diags := Load(path)
	if len(diags) > 0 {
		t.Fatalf("%s: unexpected diagnostics:\n%s", path, diagText(t, files, diags))
	}
	if cfg == nil {
		t.Fatalf("%s: nil config without diagnostics", path)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.hcl")
	cfg, files, diags := Load(path)
	if cfg != nil || !diags.HasErrors() {
		t.Fatalf("Load(%q) = %v, %v; want nil config and an error", path, cfg, diags)
	}
	if files == nil {
		t.Fatal("Load returned nil *Files")
	}
	if out := diagText(t, files, diags); !containsAll(out, "Cannot read configuration file", path) {
		t.Errorf("diagnostics do not name the problem and the path:\n%s", out)
	}
}

func TestLoadFromDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(path, []byte("server {\n  listen = \":9000\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, files, diags := Load(path)
	if len(diags) > 0 {
		t.Fatalf("Load: unexpected diagnostics:\n%s", diagText(t, files, diags))
	}
	if cfg.Server.Listen != ":9000" {
		t.Errorf("listen = %q, want %q", cfg.Server.Listen, ":9000")
	}
	if files.Map()[path] == nil {
		t.Errorf("Files has no source for %q", path)
	}
}

func TestListenForms(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		listen string
		ok     bool
	}{
		"ipv4":          {listen: "127.0.0.1:8080", ok: true},
		"every iface":   {listen: ":8080", ok: true},
		"ipv6":          {listen: "[::1]:8080", ok: true},
		"name":          {listen: "localhost:1", ok: true},
		"highest port":  {listen: "0.0.0.0:65535", ok: true},
		"port zero":     {listen: "127.0.0.1:0"},
		"port too high": {listen: "127.0.0.1:65536"},
		"negative port": {listen: "127.0.0.1:-1"},
		"no port":       {listen: "127.0.0.1"},
		"bare ipv6":     {listen: "::1:8080"},
		"empty":         {listen: ""},
		"named port":    {listen: "127.0.0.1:https"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := "server {\n  listen = " + quoteHCL(tt.listen) + "\n}\n"
			_, files, diags := LoadBytes([]byte(src), "listen.hcl")
			if tt.ok && len(diags) > 0 {
				t.Errorf("listen %q rejected:\n%s", tt.listen, diagText(t, files, diags))
			}
			if !tt.ok && !containsAll(diagText(t, files, diags), "listen.hcl:2:12: Invalid listen address") {
				t.Errorf("listen %q: want an invalid listen address error at 2:12, got:\n%s", tt.listen, diagText(t, files, diags))
			}
		})
	}
}

func TestPublicURLForms(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url string
		ok  bool
	}{
		"https":          {url: "https://backup.example.com", ok: true},
		"http with port": {url: "http://10.0.0.5:8080", ok: true},
		"with path":      {url: "https://example.com/backup/", ok: true},
		"no scheme":      {url: "backup.example.com"},
		"path only":      {url: "/backup"},
		"ftp":            {url: "ftp://backup.example.com"},
		"no host":        {url: "https://"},
		"port only":      {url: "https://:8443"},
		"bad escape":     {url: "https://example.com/%zz"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := "server {\n  public_url = " + quoteHCL(tt.url) + "\n}\n"
			_, files, diags := LoadBytes([]byte(src), "url.hcl")
			if tt.ok && len(diags) > 0 {
				t.Errorf("public_url %q rejected:\n%s", tt.url, diagText(t, files, diags))
			}
			if !tt.ok && !containsAll(diagText(t, files, diags), "url.hcl:2:16: Invalid public URL") {
				t.Errorf("public_url %q: want an invalid public URL error at 2:16, got:\n%s", tt.url, diagText(t, files, diags))
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	cfg, files, diags := LoadBytes([]byte("server {\n  trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"]\n}\n"), "proxies.hcl")
	if len(diags) > 0 {
		t.Fatalf("rejected:\n%s", diagText(t, files, diags))
	}
	if got := strings.Join(cfg.Server.TrustedProxies, " "); got != "127.0.0.1 10.0.0.0/8 fd00::/8" {
		t.Fatalf("trusted_proxies = %q", got)
	}
	_, files, diags = LoadBytes([]byte("server {\n  trusted_proxies = [\"10.0.0.0/8\", \"proxy.lan\"]\n}\n"), "proxies.hcl")
	if got := diagText(t, files, diags); !containsAll(got, "proxies.hcl:2:21: Invalid trusted proxy", `"proxy.lan"`) {
		t.Fatalf("want an invalid trusted proxy error at 2:21, got:\n%s", got)
	}
}
