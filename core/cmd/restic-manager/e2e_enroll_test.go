package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/config"
)

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

// agentBinary builds the real agent, without cgo as it ships.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp(buildRoot, "rm-e2e-agent")
		if err != nil {
			agentErr = err
			return
		}
		agentPath = filepath.Join(dir, "restic-manager-agent")
		cmd := exec.Command("go", "build", "-o", agentPath, "github.com/restic-manager/restic-manager/agent/cmd/restic-manager-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("go build agent: %w\n%s", err, out)
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentPath
}

// execBin runs bin with args and extra environment.
func execBin(t *testing.T, env []string, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func mustExecBin(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	r := execBin(t, env, bin, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// bootstrapForEnroll creates the first admin through the CLI and returns its API token.
func bootstrapForEnroll(t *testing.T, dataDir string, env []string) string {
	t.Helper()
	setup, err := os.ReadFile(filepath.Join(dataDir, "setup-token"))
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a long admin password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustExecBin(t, env, binary(t), "bootstrap", "--setup-token", strings.TrimSpace(string(setup)), "--username", "admin", "--password-file", pw, "--json")
	var boot struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &boot); err != nil {
		t.Fatal(err)
	}
	return boot.Token
}

type createdToken struct {
	ID             string `json:"id"`
	Token          string `json:"token"`
	Command        string `json:"command"`
	CommandWindows string `json:"command_windows"`
}

func TestEndToEndEnrollAndRemoveHost(t *testing.T) {
	t.Parallel()
	p := startServer(t)
	base := "http://" + p.addr
	env := []string{"RM_ADDR=" + base}
	admin := bootstrapForEnroll(t, p.dataDir, env)
	env = append(env, "RM_TOKEN="+admin)
	rm, agent := binary(t), agentBinary(t)

	var tok createdToken
	if err := json.Unmarshal([]byte(mustExecBin(t, env, rm, "enroll-token", "create", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	if want := "restic-manager-agent enroll --server " + base + " --token " + tok.Token; tok.Command != want {
		t.Fatalf("command %q\nwant    %q", tok.Command, want)
	}
	if !strings.Contains(tok.CommandWindows, `restic-manager-agent.exe" enroll --server `+base+" --token "+tok.Token) {
		t.Fatalf("command_windows %q", tok.CommandWindows)
	}

	// The agent runs the command it was given, with a config path.
	cfgPath := filepath.Join(t.TempDir(), "etc", "agent.hcl")
	args := slices.Concat(strings.Fields(tok.Command)[1:], []string{"--config", cfgPath})
	out := mustExecBin(t, nil, agent, args...)
	if !strings.Contains(out, "Enrolled this host") {
		t.Fatalf("agent enroll printed %q", out)
	}
	st, err := os.Stat(cfgPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("agent config: %v, %v", st, err)
	}
	cfg, _, diags := config.Load(cfgPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.ServerURL != base || !strings.HasPrefix(string(cfg.Credential), "rma_") || cfg.ServerFingerprint != "" {
		t.Fatalf("agent config %#v", cfg)
	}

	var hosts []map[string]any
	if err := json.Unmarshal([]byte(mustExecBin(t, env, rm, "host", "list", "--json")), &hosts); err != nil {
		t.Fatal(err)
	}
	hostname, _ := os.Hostname()
	if len(hosts) != 1 || hosts[0]["id"] != cfg.HostID || hosts[0]["name"] != hostname || hosts[0]["status"] != "offline" {
		t.Fatalf("host list --json = %v", hosts)
	}

	// An enrolled host is not enrolled again by accident, and a used token stays used.
	r := execBin(t, nil, agent, slices.Concat(args, []string{"--name", "again"})...)
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second enroll without --force: exit %d %s", r.code, r.stderr)
	}
	r = execBin(t, nil, agent, slices.Concat(args, []string{"--force"})...)
	if r.code != 1 || !strings.Contains(r.stderr, "already been used") {
		t.Fatalf("second enroll with the used token: exit %d %s", r.code, r.stderr)
	}

	r = execBin(t, env, rm, "host", "remove", cfg.HostID)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "credential is revoked") {
		t.Fatalf("host remove: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(mustExecBin(t, env, rm, "host", "show", cfg.HostID, "--json")), &hosts[0]); err != nil {
		t.Fatal(err)
	}
	if hosts[0]["status"] != "revoked" {
		t.Fatalf("removed host: %v", hosts[0])
	}

	// Enrolling the machine again makes a new host.
	var tok2 createdToken
	if err := json.Unmarshal([]byte(mustExecBin(t, env, rm, "enroll-token", "create", "--json")), &tok2); err != nil {
		t.Fatal(err)
	}
	mustExecBin(t, nil, agent, "enroll", "--server", base, "--token", tok2.Token, "--config", cfgPath, "--force")
	again, _, _ := config.Load(cfgPath)
	if again == nil || again.HostID == cfg.HostID || again.Credential == cfg.Credential {
		t.Fatalf("re-enrolled config %#v", again)
	}

	var audit []map[string]any
	if err := json.Unmarshal([]byte(mustExecBin(t, env, rm, "audit", "list", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range audit {
		actions[fmt.Sprint(e["action"], "/", e["outcome"])]++
	}
	if actions["agent.enroll/success"] != 2 || actions["agent.enroll/denied"] != 1 || actions["host.remove/success"] != 1 ||
		actions["enrollment_token.create/success"] != 2 {
		t.Fatalf("audit: %v", actions)
	}
	for _, secret := range []string{string(cfg.Credential), string(again.Credential), tok.Token, tok2.Token} {
		if strings.Contains(p.log.String(), secret) {
			t.Fatal("the server log holds a token or credential")
		}
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "restic-manager e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestEndToEndEnrollOverTLSPinsTheServer(t *testing.T) {
	t.Parallel()
	certFile, keyFile := selfSigned(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "config.hcl")
	cfg := fmt.Sprintf("server {\n  listen = %q\n  data_dir = %q\n  tls {\n    cert_file = %q\n    key_file = %q\n  }\n}\n",
		addr, filepath.Join(dir, "data"), certFile, keyFile)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	srv := exec.Command(binary(t), "server", "--config", cfgPath)
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})

	pemBytes, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}

	// The CLI trusts the test certificate through SSL_CERT_FILE; the agent through --ca-file.
	env := []string{"RM_ADDR=" + base, "SSL_CERT_FILE=" + certFile}
	admin := bootstrapForEnroll(t, filepath.Join(dir, "data"), env)
	env = append(env, "RM_TOKEN="+admin)
	var tok createdToken
	if err := json.Unmarshal([]byte(mustExecBin(t, env, binary(t), "enroll-token", "create", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	agentCfg := filepath.Join(t.TempDir(), "agent.hcl")
	noCA := execBin(t, []string{"SSL_CERT_FILE=/nonexistent"}, agentBinary(t), "enroll", "--server", base, "--token", tok.Token, "--config", agentCfg)
	if noCA.code == 0 {
		t.Fatal("the agent trusted an unknown certificate")
	}
	out := mustExecBin(t, nil, agentBinary(t), "enroll", "--server", base, "--token", tok.Token, "--config", agentCfg, "--ca-file", certFile)
	block, _ := pem.Decode(pemBytes)
	sum := sha256.Sum256(block.Bytes)
	want := hex.EncodeToString(sum[:])
	got, _, diags := config.Load(agentCfg)
	if diags.HasErrors() || got.ServerFingerprint != want || !strings.Contains(out, want) {
		t.Fatalf("pinned %q, want %q (%v)\n%s", got.ServerFingerprint, want, diags, out)
	}
}
