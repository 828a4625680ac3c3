package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/restic-manager/restic-manager/core/config"
)

// tlsFingerprint returns the hex SHA-256 of the DER of the leaf (first)
// certificate in the tls block's cert_file: what enrolling agents pin. It
// is "" when the server runs plain HTTP.
func tlsFingerprint(t *config.TLS) (string, error) {
	if t == nil {
		return "", nil
	}
	data, err := os.ReadFile(t.CertFile)
	if err != nil {
		return "", fmt.Errorf("read tls cert_file: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return "", fmt.Errorf("tls cert_file %s holds no PEM CERTIFICATE block", t.CertFile)
		}
		if block.Type == "CERTIFICATE" {
			sum := sha256.Sum256(block.Bytes)
			return hex.EncodeToString(sum[:]), nil
		}
	}
}
