package enroll_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/restic-manager/restic-manager/agent/config"
	"github.com/restic-manager/restic-manager/agent/enroll"
	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// server is the real API on a real store.
type server struct {
	srv   *httptest.Server
	db    *store.DB
	admin string
}

// newServer starts the real API; tlsFingerprint decides what the API
// reports as its fingerprint under TLS, given the real one.
func newServer(t *testing.T, useTLS bool, tlsFingerprint func(actual string) string) *server {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	opts := api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams}
	s := &server{db: db}
	var handler atomic.Pointer[api.API]
	// The API is built after the listener exists, so it can know the
	// certificate the listener serves.
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.Load().ServeHTTP(w, r) }))
	if useTLS {
		s.srv.StartTLS()
		sum := sha256.Sum256(s.srv.Certificate().Raw)
		opts.ServerFingerprint = tlsFingerprint(hex.EncodeToString(sum[:]))
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	handler.Store(api.New(opts))

	var boot struct {
		Token string `json:"token"`
	}
	s.post(t, "/api/v1/bootstrap", "", map[string]string{"setup_token": setup, "username": "root", "password": "correct horse battery"}, &boot)
	s.admin = boot.Token
	return s
}

func (s *server) post(t *testing.T, path, token string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// token makes an enrollment token good for uses hosts.
func (s *server) token(t *testing.T, uses int) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	s.post(t, "/api/v1/enrollment-tokens", s.admin, map[string]any{"uses": uses}, &out)
	return out.Token
}

// caFile writes the TLS server's certificate as a PEM file.
func (s *server) caFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func opts(t *testing.T) enroll.Options {
	t.Helper()
	return enroll.Options{Hostname: "web1", StateDir: filepath.Join(t.TempDir(), "state")}
}

func TestEnrollWritesTheConfig(t *testing.T) {
	t.Parallel()
	s := newServer(t, false, nil)
	path := filepath.Join(t.TempDir(), "etc", "agent.hcl")
	o := opts(t)
	res, err := enroll.Enroll(context.Background(), s.srv.URL+"/", s.token(t, 1), path, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.HostName != "web1" || res.ServerFingerprint != "" || !strings.HasSuffix(res.AgentConnectURL, "/api/v1/agent/connect") {
		t.Fatalf("result %+v", res)
	}
	cfg, _, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.ServerURL != s.srv.URL || cfg.HostID != res.HostID || cfg.StateDir != o.StateDir || cfg.ServerFingerprint != "" {
		t.Fatalf("config %#v", cfg)
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("config mode %v, %v", st.Mode(), err)
		}
	}
	// The written credential is the one the server knows for this host.
	cred, err := cfg.ReadCredential()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.db.AuthenticateAgent(context.Background(), auth.HashToken(cred))
	if err != nil || h.ID != res.HostID || h.Name != "web1" || h.OS != runtime.GOOS || h.Arch != runtime.GOARCH {
		t.Fatalf("the credential authenticates as %+v (%v)", h, err)
	}
}

func TestEnrollRefusesToReplaceAConfigWithoutSpendingTheToken(t *testing.T) {
	t.Parallel()
	s := newServer(t, false, nil)
	path := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(path, []byte("# an earlier enrollment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	token := s.token(t, 1)
	_, err := enroll.Enroll(context.Background(), s.srv.URL, token, path, opts(t))
	if !errors.Is(err, enroll.ErrConfigExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want ErrConfigExists mentioning --force", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "# an earlier enrollment\n" {
		t.Fatalf("the existing config changed: %q", b)
	}
	o := opts(t)
	o.Force = true
	if _, err := enroll.Enroll(context.Background(), s.srv.URL, token, path, o); err != nil {
		t.Fatalf("with --force (the token must be unspent): %v", err)
	}
	// A used token is refused by the server and the config stays as it is.
	before, _ := os.ReadFile(path)
	_, err = enroll.Enroll(context.Background(), s.srv.URL, token, path, o)
	var se *enroll.ServerError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || se.Code != "enrollment_token_used" {
		t.Fatalf("second use of the token: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused enrollment changed the config")
	}
}

func TestEnrollChecksInputFirst(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agent.hcl")
	ctx := context.Background()
	tests := map[string]struct {
		server, token string
		want          error
	}{
		"api token":        {"http://127.0.0.1:1", "rmt_abc", enroll.ErrBadToken},
		"plain http":       {"http://192.0.2.1:8080", "rme_abc", enroll.ErrInsecure},
		"bad scheme":       {"ftp://127.0.0.1", "rme_abc", nil},
		"no host":          {"https://", "rme_abc", nil},
		"query in address": {"https://x.example/?a=b", "rme_abc", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := enroll.Enroll(ctx, tc.server, tc.token, path, opts(t))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a refused enrollment wrote a config")
	}
}

func TestEnrollOverTLSPinsTheCertificate(t *testing.T) {
	t.Parallel()
	s := newServer(t, true, strings.ToUpper)
	path := filepath.Join(t.TempDir(), "agent.hcl")
	o := opts(t)

	// Without the CA the self-signed test certificate is not trusted and
	// the token is never sent.
	token := s.token(t, 1)
	if _, err := enroll.Enroll(context.Background(), s.srv.URL, token, path, o); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	o.CAFile = s.caFile(t)
	res, err := enroll.Enroll(context.Background(), s.srv.URL, token, path, o)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(s.srv.Certificate().Raw)
	want := hex.EncodeToString(sum[:])
	cfg, _, diags := config.Load(path)
	if diags.HasErrors() || res.ServerFingerprint != want || cfg.ServerFingerprint != want {
		t.Fatalf("fingerprint %q / %q, want %q (%v)", res.ServerFingerprint, cfg.ServerFingerprint, want, diags)
	}
	if !strings.HasPrefix(res.AgentConnectURL, "wss://") {
		t.Fatalf("connect URL %q", res.AgentConnectURL)
	}
}

func TestEnrollRefusesALyingServer(t *testing.T) {
	t.Parallel()
	s := newServer(t, true, func(string) string { return strings.Repeat("0", 64) })
	path := filepath.Join(t.TempDir(), "agent.hcl")
	o := opts(t)
	o.CAFile = s.caFile(t)
	_, err := enroll.Enroll(context.Background(), s.srv.URL, s.token(t, 1), path, o)
	if !errors.Is(err, enroll.ErrFingerprintMismatch) || !strings.Contains(err.Error(), "host remove") {
		t.Fatalf("err = %v, want ErrFingerprintMismatch saying how to clean up", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a config was written for a lying server")
	}
}

func TestEnrollBehindATLSProxyDoesNotPin(t *testing.T) {
	t.Parallel()
	// The server itself runs plain HTTP behind TLS it does not see, so it
	// reports no fingerprint: the agent keeps normal verification.
	s := newServer(t, true, func(string) string { return "" })
	path := filepath.Join(t.TempDir(), "agent.hcl")
	o := opts(t)
	o.CAFile = s.caFile(t)
	res, err := enroll.Enroll(context.Background(), s.srv.URL, s.token(t, 1), path, o)
	if err != nil || res.ServerFingerprint != "" {
		t.Fatalf("result %+v, %v", res, err)
	}
}

func TestEnrollDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, err := enroll.Enroll(context.Background(), srv.URL, "rme_abc", filepath.Join(t.TempDir(), "agent.hcl"), opts(t))
	if err == nil || !strings.Contains(err.Error(), "redirects to http://127.0.0.1:1/elsewhere") {
		t.Fatalf("err = %v", err)
	}
}
