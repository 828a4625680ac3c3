package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/config"
)

// RotateResult says what a key rotation did.
type RotateResult struct {
	OldKeys  []string `json:"old_keys"`
	NewKey   string   `json:"new_key"`
	Resealed int      `json:"resealed"`
}

// RotateSecrets seals every stored secret under a new key. It runs with the
// server stopped (it takes the data directory lock) and in three steps, each
// leaving every row readable with the key file on disk: write the key file
// with the new key added; re-seal all rows in one transaction; drop the old
// keys from the file.
func RotateSecrets(ctx context.Context, cfg *config.Config, logger hclog.Logger) (RotateResult, error) {
	unlock, err := lockDataDir(cfg.Server.DataDir)
	if err != nil {
		return RotateResult{}, fmt.Errorf("%w; stop the server first", err)
	}
	defer unlock()
	dbPath := filepath.Join(cfg.Server.DataDir, DatabaseFile)
	if _, err := os.Stat(dbPath); err != nil {
		return RotateResult{}, fmt.Errorf("no database at %s: %w", dbPath, err)
	}
	db, kr, err := openState(ctx, cfg, logger)
	if err != nil {
		return RotateResult{}, err
	}
	defer db.Close()
	res := RotateResult{OldKeys: kr.IDs()}

	next, err := kr.WithNewKey()
	if err != nil {
		return res, err
	}
	path := cfg.Server.SecretKeyFile
	if err := next.WriteKeyFile(path); err != nil {
		return res, fmt.Errorf("write key file with the new key: %w", err)
	}
	res.NewKey = next.ActiveID()
	res.Resealed, err = db.ResealAll(ctx, func(sealed, aad []byte) ([]byte, string, error) {
		out, err := next.Reseal(sealed, aad)
		return out, next.ActiveID(), err
	}, time.Now())
	if err != nil {
		return res, fmt.Errorf("re-seal (no row changed; the key file holds old and new keys, so all stays readable): %w", err)
	}
	only, err := next.WithOnly(next.ActiveID())
	if err != nil {
		return res, err
	}
	if err := only.WriteKeyFile(path); err != nil {
		return res, fmt.Errorf("drop old keys from the key file (every row is sealed with the new key already): %w", err)
	}
	logger.Info("rotated the secret key", "new_key", res.NewKey, "resealed", res.Resealed)
	return res, nil
}
