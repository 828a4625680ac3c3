package config

import (
	"path/filepath"
	"testing"
)

func TestDownloadLimit(t *testing.T) {
	t.Parallel()
	if got := Default().Server.DownloadLimit(); got != 4<<30 {
		t.Errorf("default download limit = %d bytes, want 4 GiB", got)
	}
	cfg, files, diags := Load(filepath.Join("testdata", "download_limit.hcl"))
	if len(diags) > 0 {
		t.Fatalf("Load: unexpected diagnostics:\n%s", diagText(t, files, diags))
	}
	if got := cfg.Server.DownloadLimit(); got != 64<<20 {
		t.Errorf("download_limit_mib = 64 gives %d bytes, want %d", got, 64<<20)
	}
}
