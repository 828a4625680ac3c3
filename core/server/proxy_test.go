package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/store"
)

// With trusted_proxies, the audit log records the client a trusted proxy
// forwarded, not the proxy.
func TestTrustedProxiesNameTheClientInTheAuditLog(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Server.TrustedProxies = []string{"127.0.0.1"}
	stop := start(t, cfg)
	token, err := os.ReadFile(filepath.Join(cfg.Server.DataDir, SetupTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"setup_token":"` + strings.TrimSpace(string(token)) + `","username":"root","password":"a long enough password"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+cfg.Server.Listen+"/api/v1/bootstrap", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "192.0.2.1, 198.51.100.23")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("bootstrap = %d", res.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	db, err := store.Open(context.Background(), filepath.Join(cfg.Server.DataDir, DatabaseFile), store.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := db.ListAudit(context.Background(), store.AuditFilter{Limit: 10})
	if err != nil || len(entries) == 0 {
		t.Fatalf("audit: %v %v", entries, err)
	}
	for _, e := range entries {
		if e.Action == "bootstrap" {
			if e.SourceAddr != "198.51.100.23" {
				t.Fatalf("bootstrap audited from %q, want the forwarded client 198.51.100.23", e.SourceAddr)
			}
			return
		}
	}
	t.Fatalf("no bootstrap entry in %+v", entries)
}
