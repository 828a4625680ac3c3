package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.SecretKeyFile = filepath.Join(cfg.Server.DataDir, "secret.key")
	cfg.Server.Listen = freeAddr(t)
	return cfg
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the server in the background and waits for /healthz.
func start(t *testing.T, cfg *config.Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, hclog.NewNullLogger()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + cfg.Server.Listen + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("server exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("server did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() error { cancel(); return <-done }
}

func TestRunServesAndWritesSetupToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	stop := start(t, cfg)
	tokenPath := filepath.Join(cfg.Server.DataDir, SetupTokenFile)
	fi, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatalf("setup token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("setup token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(tokenPath)
	if !strings.HasPrefix(string(b), "rmsetup_") {
		t.Fatalf("setup token file holds %q", b)
	}
	key, err := os.Stat(cfg.Server.SecretKeyFile)
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v %v", err, key)
	}
	res, err := http.Get("http://" + cfg.Server.Listen + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before setup /api/v1/me = %d, want 503", res.StatusCode)
	}
	res, err = http.Get("http://" + cfg.Server.Listen + "/readyz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %v %v", res, err)
	}
	res.Body.Close()

	// A second server on the same data directory is refused.
	cfg2 := *cfg
	cfg2.Server.Listen = freeAddr(t)
	if err := Run(context.Background(), &cfg2, hclog.NewNullLogger()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second server on the same data_dir: %v, want ErrLocked", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

// sealOne stores one sealed credential the way later features will.
func sealOne(t *testing.T, cfg *config.Config, id, plaintext string) {
	t.Helper()
	ctx := context.Background()
	kr, err := secrets.LoadKeyFile(cfg.Server.SecretKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(cfg.Server.DataDir, DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sealed, err := kr.Seal([]byte(plaintext), store.CredentialAAD(id))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateCredential(ctx, store.Credential{
		ID: id, Kind: "generic", KeyID: kr.ActiveID(), Sealed: sealed,
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesMissingOrWrongKey(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	if err := start(t, cfg)(); err != nil {
		t.Fatal(err)
	}
	sealOne(t, cfg, "c1", "repository password")
	good, _ := os.ReadFile(cfg.Server.SecretKeyFile)

	if err := os.Remove(cfg.Server.SecretKeyFile); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), cfg, hclog.NewNullLogger())
	if err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("missing key file: %v", err)
	}

	if _, err := secrets.CreateKeyFile(cfg.Server.SecretKeyFile); err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), cfg, hclog.NewNullLogger())
	if err == nil || !strings.Contains(err.Error(), "right key file") {
		t.Fatalf("wrong key file: %v", err)
	}

	if err := os.WriteFile(cfg.Server.SecretKeyFile, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := start(t, cfg)(); err != nil {
		t.Fatalf("with the right key back: %v", err)
	}
}

func TestRefusesNewerDatabase(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	if err := start(t, cfg)(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(cfg.Server.DataDir, DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := db.Path()
	_ = db.Close()
	if err := setUserVersion(raw, store.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), cfg, hclog.NewNullLogger())
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("newer database: %v", err)
	}
}

func TestRotateSecrets(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	if err := start(t, cfg)(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		sealOne(t, cfg, fmt.Sprint("c", i), fmt.Sprint("secret ", i))
	}
	before, _ := secrets.LoadKeyFile(cfg.Server.SecretKeyFile)

	stop := start(t, cfg)
	if _, err := RotateSecrets(context.Background(), cfg, hclog.NewNullLogger()); !errors.Is(err, ErrLocked) {
		t.Fatalf("rotation while the server runs: %v, want ErrLocked", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	res, err := RotateSecrets(context.Background(), cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if res.Resealed != 5 || res.NewKey == before.ActiveID() {
		t.Fatalf("rotation = %+v", res)
	}
	after, err := secrets.LoadKeyFile(cfg.Server.SecretKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if ids := after.IDs(); len(ids) != 1 || ids[0] != res.NewKey {
		t.Fatalf("key file after rotation holds %v, want only %s", ids, res.NewKey)
	}
	db, err := store.Open(context.Background(), filepath.Join(cfg.Server.DataDir, DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 5 {
		c, err := db.GetCredential(context.Background(), fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := after.Open(c.Sealed, store.CredentialAAD(c.ID))
		if err != nil || string(plain) != fmt.Sprint("secret ", i) || c.KeyID != res.NewKey {
			t.Fatalf("credential %s after rotation: %q %v (key %s)", c.ID, plain, err, c.KeyID)
		}
	}
	// The server starts on the rotated key.
	if err := start(t, cfg)(); err != nil {
		t.Fatal(err)
	}
}
