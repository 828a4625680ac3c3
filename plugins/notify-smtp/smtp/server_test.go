package smtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// mailServer is a real SMTP server, emersion/go-smtp, in the test process
// on a TCP listener on 127.0.0.1. It records every message it accepts.
type mailServer struct {
	host string
	port int

	opts mailServerOptions

	mu    sync.Mutex
	mails []receivedMail
}

// mailServerOptions shape a mailServer.
type mailServerOptions struct {
	// cert, if set, enables TLS: STARTTLS, or implicit TLS with implicit.
	cert     *tls.Certificate
	implicit bool
	// user and pass, if set, are required (AUTH before MAIL). AUTH is
	// offered over an unencrypted connection only with insecureAuth.
	user, pass   string
	insecureAuth bool
	// mechs are the SASL mechanisms offered; PLAIN by default.
	mechs []string
}

// receivedMail is one accepted message.
type receivedMail struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the session was encrypted
	User string // who authenticated, if anyone
}

// newMailServer starts a mailServer, stopped when t ends.
func newMailServer(t testing.TB, opts mailServerOptions) *mailServer {
	t.Helper()
	if opts.mechs == nil {
		opts.mechs = []string{sasl.Plain}
	}
	ms := &mailServer{opts: opts}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(ms.newSession))
	srv.Domain = "mail.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = opts.insecureAuth
	srv.ErrorLog = log.New(io.Discard, "", 0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.cert != nil {
		cfg := &tls.Config{Certificates: []tls.Certificate{*opts.cert}, MinVersion: tls.VersionTLS12}
		if opts.implicit {
			ln = tls.NewListener(ln, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	}
	addr := ln.Addr().(*net.TCPAddr)
	ms.host, ms.port = addr.IP.String(), addr.Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
			t.Errorf("SMTP server: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ms
}

// config returns the channel config for this server, with extra merged
// in.
func (ms *mailServer) config(extra map[string]any) map[string]any {
	cfg := map[string]any{
		"host": ms.host,
		"port": ms.port,
		"tls":  "none",
		"from": "restic-manager@example.com",
		"to":   []string{"ops@example.com"},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// received returns the messages accepted so far.
func (ms *mailServer) received() []receivedMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return slices.Clone(ms.mails)
}

// last returns the last message accepted.
func (ms *mailServer) last(t testing.TB) receivedMail {
	t.Helper()
	mails := ms.received()
	if len(mails) == 0 {
		t.Fatal("the SMTP server accepted no message")
	}
	return mails[len(mails)-1]
}

func (ms *mailServer) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &mailSession{server: ms, tls: isTLS}, nil
}

// mailSession is one SMTP session of a mailServer.
type mailSession struct {
	server *mailServer
	tls    bool
	user   string
	from   string
	to     []string
}

var _ gosmtp.AuthSession = (*mailSession)(nil)

func (s *mailSession) AuthMechanisms() []string { return s.server.opts.mechs }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if username != s.server.opts.user || password != s.server.opts.pass {
			return gosmtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	switch {
	case !slices.Contains(s.server.opts.mechs, mech):
	case mech == sasl.Plain:
		return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
	case mech == sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *mailSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.server.opts.user != "" && s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.server.mu.Lock()
	s.server.mails = append(s.server.mails, receivedMail{From: s.from, To: s.to, Data: data, TLS: s.tls, User: s.user})
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset() { s.from, s.to = "", nil }

func (s *mailSession) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// does not have.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

// selfSignedCert makes a certificate for 127.0.0.1 and localhost that is
// its own CA, and writes it as a PEM file, which it returns the path of.
func selfSignedCert(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mail.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}
