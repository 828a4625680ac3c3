// Package server assembles the restic-manager server: configuration, data
// directory, secret keys, store, API and HTTP listener, and shuts it down
// gracefully.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/core/ui"
	"github.com/restic-manager/restic-manager/internal/version"
)

// File names inside data_dir.
const (
	DatabaseFile   = "restic-manager.db"
	SetupTokenFile = "setup-token"
	lockFile       = "server.lock"
)

// shutdownGrace is how long in-flight requests get to finish on SIGTERM.
const shutdownGrace = 30 * time.Second

// NewLogger builds the process logger from the log block.
func NewLogger(c config.Log, out io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "restic-manager",
		Level:      hclog.LevelFromString(c.Level),
		JSONFormat: c.Format == "json",
		Output:     out,
	})
}

// Run serves until ctx is cancelled, then finishes in-flight requests and
// returns. Errors before serving (a wrong key file, a newer database, a
// port in use) are returned at once.
func Run(ctx context.Context, cfg *config.Config, logger hclog.Logger, opts ...Option) error {
	logger.Info("starting", "version", version.String(), "data_dir", cfg.Server.DataDir)
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.Server.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	var ro runOptions
	for _, o := range opts {
		o(&ro)
	}
	plugins, err := startPlugins(ctx, cfg, ro.builtins, logger)
	if err != nil {
		return err
	}
	defer plugins.Close()

	db, kr, err := openState(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := plugins.loadStoredChannels(ctx, db, kr, logger); err != nil {
		return err
	}

	setupHash, removeSetup, err := prepareSetup(ctx, cfg, db, logger)
	if err != nil {
		return err
	}
	fingerprint, err := tlsFingerprint(cfg.Server.TLS)
	if err != nil {
		return err
	}
	alerts, err := startAlerts(ctx, cfg, db, plugins, logger)
	if err != nil {
		return err
	}
	defer alerts.Close() // after the hub has stopped reporting job ends
	agents := newHub(ctx, db, kr, logger, alerts)
	defer agents.Close()
	browser, err := newBrowser(ctx, db, agents, cfg.Server.BrowseCacheSnapshots, logger)
	if err != nil {
		return err
	}
	defer browser.Wait()
	secureCookies := cfg.Server.TLS != nil || strings.HasPrefix(cfg.Server.PublicURL, "https://")
	a := api.New(api.Options{
		Agents:            agents,
		OnHostRevoked:     agents.Revoke,
		Store:             db,
		Logger:            logger,
		SetupTokenHash:    setupHash,
		OnBootstrap:       removeSetup,
		SecureCookies:     secureCookies,
		PublicURL:         cfg.Server.PublicURL,
		ServerFingerprint: fingerprint,
		Sealer:            kr,
		Plugins:           plugins,
		Browse:            browser,
		DownloadLimit:     cfg.Server.DownloadLimit(),
	})
	// The UI serves the pages and hands /api/v1, /healthz and /readyz to a.
	web, err := ui.New(ui.Options{API: a, Logger: logger, SecureCookies: secureCookies})
	if err != nil {
		return err
	}

	proxies, err := auth.ParseTrustedProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return fmt.Errorf("trusted_proxies: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	srv := &http.Server{
		Handler:           auth.FromTrustedProxies(proxies, web),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          logger.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	if cfg.Server.TLS != nil {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	go cleanSessions(ctx, db, logger)

	errc := make(chan error, 1)
	scheme := "http"
	if cfg.Server.TLS != nil {
		scheme = "https"
	}
	logger.Info("listening", "address", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String())
	go func() {
		if cfg.Server.TLS != nil {
			errc <- srv.ServeTLS(ln, cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down; finishing in-flight requests", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// openState opens the keyring and the store and checks that the one opens
// every sealed value of the other. A key file is generated only for a new
// installation: with an existing database a missing key file is an error,
// since its sealed secrets would be lost.
func openState(ctx context.Context, cfg *config.Config, logger hclog.Logger) (*store.DB, *secrets.Keyring, error) {
	dbPath := filepath.Join(cfg.Server.DataDir, DatabaseFile)
	keyPath := cfg.Server.SecretKeyFile
	_, statErr := os.Stat(dbPath)
	newInstall := errors.Is(statErr, os.ErrNotExist)

	kr, err := secrets.LoadKeyFile(keyPath)
	switch {
	case errors.Is(err, secrets.ErrNoKeyFile) && newInstall:
		if kr, err = secrets.CreateKeyFile(keyPath); err != nil {
			return nil, nil, fmt.Errorf("create secret key file: %w", err)
		}
		logger.Warn("generated a new secret key file; back it up apart from the database: without it the sealed secrets cannot be read", "path", keyPath)
	case errors.Is(err, secrets.ErrNoKeyFile):
		return nil, nil, fmt.Errorf("secret key file %s is missing, but the database %s exists: restore the key file from your backup (starting with a new key would make every stored secret unreadable)", keyPath, dbPath)
	case err != nil:
		return nil, nil, fmt.Errorf("secret key file: %w", err)
	}

	db, err := store.Open(ctx, dbPath, store.Options{Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	err = db.VerifySealed(ctx, func(sealed, aad []byte) error {
		_, err := kr.Open(sealed, aad)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("secret key file %s does not open the secrets in %s (%w): is it the right key file?", keyPath, dbPath, err)
	}
	if n, err := repos.New(db, kr, time.Now).SealStoredURLs(ctx); err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("sealing the passwords of repository URLs: %w", err)
	} else if n > 0 {
		logger.Info("sealed the passwords of repository URLs stored in the clear", "repositories", n)
	}
	return db, kr, nil
}

// prepareSetup makes a one-time setup token while no user exists: it is
// logged and written to <data_dir>/setup-token (0600); the returned func
// removes the file once the first admin exists.
func prepareSetup(ctx context.Context, cfg *config.Config, db *store.DB, logger hclog.Logger) (string, func(), error) {
	path := filepath.Join(cfg.Server.DataDir, SetupTokenFile)
	has, err := db.HasUsers(ctx)
	if err != nil {
		return "", nil, err
	}
	remove := func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			logger.Warn("removing the used setup token file failed", "path", path, "error", err)
		}
	}
	if has {
		remove()
		return "", remove, nil
	}
	token, err := auth.NewToken(auth.KindSetup)
	if err != nil {
		return "", nil, err
	}
	if err := writePrivate(path, []byte(token+"\n")); err != nil {
		return "", nil, fmt.Errorf("write setup token: %w", err)
	}
	logger.Info("setup pending: create the first admin with this one-time token",
		"setup_token", token, "token_file", path,
		"command", "restic-manager bootstrap --setup-token "+token+" --username admin --password-file FILE")
	return auth.HashToken(token), remove, nil
}

func writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func cleanSessions(ctx context.Context, db *store.DB, logger hclog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// Idle limit as in api.Options' default.
			if n, err := db.DeleteStaleSessions(ctx, now, now.Add(-12*time.Hour)); err != nil {
				logger.Warn("cleaning up sessions failed", "error", err)
			} else if n > 0 {
				logger.Debug("removed stale sessions", "count", n)
			}
		}
	}
}
