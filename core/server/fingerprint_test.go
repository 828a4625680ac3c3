package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/config"
)

func TestTLSFingerprint(t *testing.T) {
	t.Parallel()
	if fp, err := tlsFingerprint(nil); fp != "" || err != nil {
		t.Fatalf("plain HTTP: %q, %v", fp, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A chain file may start with something else; the first certificate is the leaf.
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42}}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("intermediate")})...)
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	fp, err := tlsFingerprint(&config.TLS{CertFile: certFile})
	if err != nil || fp != hex.EncodeToString(sum[:]) {
		t.Fatalf("fingerprint %q, %v; want %x", fp, err, sum)
	}

	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsFingerprint(&config.TLS{CertFile: empty}); err == nil {
		t.Fatal("a file without a certificate gave a fingerprint")
	}
	if _, err := tlsFingerprint(&config.TLS{CertFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Fatal("a missing file gave a fingerprint")
	}
}
