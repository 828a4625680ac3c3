// Package enroll exchanges a one-time enrollment token for this host's
// agent credential and writes the agent's configuration file.
//
// The first contact is verified like any HTTPS request (the system's roots,
// or the CA file given). The server answers with the SHA-256 fingerprint of
// its certificate, which the agent pins on every later connection; Enroll
// checks that it is the certificate this very connection presented, so a
// TLS-intercepting proxy is caught now rather than at the first connect.
// The package imports nothing of the server.
package enroll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/agent/config"
	"github.com/restic-manager/restic-manager/internal/version"
)

// Path is the server's enrollment endpoint.
const Path = "/api/v1/agents/enroll"

// tokenPrefix starts every enrollment token.
const tokenPrefix = "rme_"

// maxResponse caps what is read of the server's answer.
const maxResponse = 1 << 20

var (
	// ErrConfigExists means the configuration file is already there and
	// Options.Force was not set.
	ErrConfigExists = errors.New("agent configuration already exists")
	// ErrInsecure means the server URL is plain HTTP to a host that is not
	// loopback and Options.AllowInsecure was not set.
	ErrInsecure = errors.New("refusing to send the enrollment token unencrypted")
	// ErrFingerprintMismatch means the server reported a certificate
	// fingerprint other than that of the certificate it presented.
	ErrFingerprintMismatch = errors.New("server certificate fingerprint mismatch")
	// ErrBadToken means the token is not an enrollment token.
	ErrBadToken = errors.New("not an enrollment token")
)

// Options tune Enroll; the zero value is the command-line default.
type Options struct {
	// Force replaces an existing configuration file.
	Force bool
	// CAFile is a PEM file of the CA certificates (or the server's own
	// certificate) to verify the server with, instead of the system's roots.
	CAFile string
	// AllowInsecure permits plain HTTP to a server that is not loopback;
	// it is also written to the configuration for later connections.
	AllowInsecure bool
	// Hostname is the name to enroll under; default os.Hostname().
	Hostname string
	// AgentVersion is reported to the server; default version.Version.
	AgentVersion string
	// StateDir is written as state_dir; default config.DefaultStateDir().
	StateDir string
	// Timeout bounds the request; default 30s.
	Timeout time.Duration
}

// Result is what enrollment made.
type Result struct {
	HostID            string
	HostName          string
	ConfigPath        string
	ServerFingerprint string // "" when the connection is not pinned
	AgentConnectURL   string
}

// ServerError is the server refusing the enrollment.
type ServerError struct {
	Status  int
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("the server refused the enrollment: %s (HTTP %d)", msg, e.Status)
}

type request struct {
	Token        string `json:"token"`
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	AgentVersion string `json:"agent_version"`
}

type response struct {
	HostID            string `json:"host_id"`
	HostName          string `json:"host_name"`
	Credential        string `json:"credential"`
	ServerFingerprint string `json:"server_fingerprint"`
	AgentConnectURL   string `json:"agent_connect_url"`
}

// Enroll redeems token at the server at serverURL and writes the agent
// configuration to configPath (mode 0600, its directory made if needed).
// It refuses to replace an existing file unless opts.Force is set, and it
// checks everything it can before the token is spent.
func Enroll(ctx context.Context, serverURL, token, configPath string, opts Options) (Result, error) {
	serverURL = strings.TrimRight(strings.TrimSpace(serverURL), "/")
	if err := config.CheckServerURL(serverURL); err != nil {
		return Result{}, fmt.Errorf("--server: %w", err)
	}
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, tokenPrefix) {
		return Result{}, fmt.Errorf("%w: enrollment tokens start with %q; create one with \"restic-manager enroll-token create\"", ErrBadToken, tokenPrefix)
	}
	u, _ := url.Parse(serverURL) // checked above
	if u.Scheme == "http" && !isLoopback(u.Hostname()) && !opts.AllowInsecure {
		return Result{}, fmt.Errorf("%w: %s is plain HTTP to another machine; use https, or pass --allow-insecure on a network you trust", ErrInsecure, serverURL)
	}
	if err := prepare(configPath, opts.Force); err != nil {
		return Result{}, err
	}
	client, err := newClient(opts)
	if err != nil {
		return Result{}, err
	}
	req := request{
		Token: token, Hostname: opts.Hostname, OS: runtime.GOOS, Arch: runtime.GOARCH, AgentVersion: opts.AgentVersion,
	}
	if req.Hostname == "" {
		if req.Hostname, err = os.Hostname(); err != nil {
			return Result{}, fmt.Errorf("find this host's name: %w", err)
		}
	}
	if req.AgentVersion == "" {
		req.AgentVersion = version.Version
	}
	got, presented, err := post(ctx, client, serverURL+Path, req)
	if err != nil {
		return Result{}, err
	}

	fingerprint := ""
	if presented != "" && got.ServerFingerprint != "" {
		reported, err := config.NormalizeFingerprint(got.ServerFingerprint)
		if err != nil || reported != presented {
			return Result{}, fmt.Errorf("%w: the server says its certificate is %q but this connection presented %s; "+
				"something between this host and the server (a TLS-intercepting proxy?) holds its own certificate. "+
				"The token was used: remove host %s on the server (\"restic-manager host remove %s\")",
				ErrFingerprintMismatch, got.ServerFingerprint, presented, got.HostID, got.HostID)
		}
		fingerprint = reported
	}

	stateDir := opts.StateDir
	if stateDir == "" {
		stateDir = config.DefaultStateDir()
	}
	cfg := &config.Config{
		ServerURL: serverURL, HostID: got.HostID, Credential: config.Secret(got.Credential),
		ServerFingerprint: fingerprint, StateDir: stateDir, AllowInsecure: opts.AllowInsecure,
		Log: config.Log{Level: config.DefaultLogLevel, Format: config.DefaultLogFormat},
	}
	if err := config.Write(configPath, cfg); err != nil {
		return Result{}, fmt.Errorf("enrolled as host %s, but %w; remove that host on the server and enroll again", got.HostID, err)
	}
	return Result{
		HostID: got.HostID, HostName: got.HostName, ConfigPath: configPath,
		ServerFingerprint: fingerprint, AgentConnectURL: got.AgentConnectURL,
	}, nil
}

// prepare refuses an existing configuration (without force) and makes sure
// the file can be written, so no token is spent on a host that could not
// keep its credential.
func prepare(path string, force bool) error {
	if _, err := os.Lstat(path); err == nil && !force {
		return fmt.Errorf("%w at %s: this host may be enrolled already; pass --force to enroll it again as a new host", ErrConfigExists, path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("check %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the configuration directory: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".enroll-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write the configuration into %s: %w", dir, err)
	}
	_ = probe.Close()
	return os.Remove(probe.Name())
}

func newClient(opts Options) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", opts.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// A redirect would resend the token somewhere else; say so instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// post sends the request and returns the answer and the SHA-256 of the
// certificate the server presented ("" over plain HTTP).
func post(ctx context.Context, client *http.Client, endpoint string, body request) (response, string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return response{}, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return response{}, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "restic-manager-agent/"+version.Version)
	res, err := client.Do(req)
	if err != nil {
		return response{}, "", fmt.Errorf("reach the server: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return response{}, "", fmt.Errorf("read the server's answer: %w", err)
	}
	if res.StatusCode != http.StatusCreated {
		e := &ServerError{Status: res.StatusCode}
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &body) == nil {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		}
		if loc := res.Header.Get("Location"); loc != "" && res.StatusCode/100 == 3 {
			e.Message = "the server redirects to " + loc + "; pass that address as --server"
		}
		return response{}, "", e
	}
	var got response
	if err := json.Unmarshal(data, &got); err != nil {
		return response{}, "", fmt.Errorf("the server's answer is not an enrollment: %w", err)
	}
	if got.HostID == "" || !strings.HasPrefix(got.Credential, config.CredentialPrefix) {
		return response{}, "", errors.New("the server's answer has no host id or agent credential; is --server a restic-manager server?")
	}
	presented := ""
	if res.TLS != nil && len(res.TLS.PeerCertificates) > 0 {
		sum := sha256.Sum256(res.TLS.PeerCertificates[0].Raw)
		presented = hex.EncodeToString(sum[:])
	}
	return got, presented, nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
