package wire

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gorilla/websocket"
)

// ConnectPath is where the server accepts agent connections.
const ConnectPath = "/api/v1/agent/connect"

// DefaultHandshakeTimeout bounds TCP connect, TLS and the WebSocket upgrade.
const DefaultHandshakeTimeout = 30 * time.Second

// writeBufferPool shares write buffers between connections, so an idle
// connection holds none (a fleet of agents on one server adds up).
var writeBufferPool = &sync.Pool{}

// DialOptions tunes Dial.
type DialOptions struct {
	// PinSHA256 is the SHA-256 fingerprint (hex; colons and a "sha256:"
	// prefix are allowed) of the server's leaf certificate, as handed out at
	// enrollment. When set, the connection is trusted if and only if the
	// server presents exactly that certificate: CA chain and host name are
	// not consulted, so a self-signed server certificate works, and a
	// certificate swapped by anyone (or rotated by the operator) is refused
	// with ErrPinMismatch until the agent is re-enrolled.
	PinSHA256 string
	// RootCAs verifies the server when PinSHA256 is empty (nil: the
	// system's roots).
	RootCAs *x509.CertPool
	// AllowInsecure permits ws:// (clear text) to a host that is not
	// loopback. Without it Dial refuses to send a credential unencrypted
	// over a network.
	AllowInsecure bool
	// HandshakeTimeout bounds connect, TLS and upgrade
	// (DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// UserAgent, if set, is sent as the User-Agent header.
	UserAgent string
	// Config tunes the connection; its Role is set to RoleAgent.
	Config Config
}

// HandshakeError is a refused WebSocket upgrade. It wraps ErrHandshake, and
// also ErrUnauthorized for HTTP 401 and 403.
type HandshakeError struct {
	StatusCode int
	// Message is the server's error message, if it sent one.
	Message string
}

func (e *HandshakeError) Error() string {
	s := fmt.Sprintf("wire: server refused the connection: HTTP %d", e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *HandshakeError) Unwrap() []error {
	if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
		return []error{ErrHandshake, ErrUnauthorized}
	}
	return []error{ErrHandshake}
}

// Dial connects an agent to the server: rawURL is the connect endpoint
// (ws://, wss://, or http:// and https://, which are mapped to them; see
// ConnectURL), token the agent's bearer credential. ctx bounds the handshake
// and then the connection's whole life: when it ends the connection closes.
// The caller's next step is a hello Request.
func Dial(ctx context.Context, rawURL, token string, opts DialOptions) (*Conn, error) {
	u, err := dialURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if token == "" || strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, errors.New("wire: a bearer token without spaces or control characters is required")
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs}
	if opts.PinSHA256 != "" {
		pin, err := ParseFingerprint(opts.PinSHA256)
		if err != nil {
			return nil, err
		}
		// Trust comes from the pin alone, checked in VerifyConnection,
		// which crypto/tls calls even when normal verification is off.
		tlsConf.InsecureSkipVerify = true
		tlsConf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: server sent no certificate", ErrPinMismatch)
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], pin[:]) != 1 {
				return fmt.Errorf("%w: server presented sha256 %s, expected %s (re-enroll the agent if the server's certificate was replaced)",
					ErrPinMismatch, hex.EncodeToString(got[:]), hex.EncodeToString(pin[:]))
			}
			return nil
		}
	}
	hsTimeout := opts.HandshakeTimeout
	if hsTimeout <= 0 {
		hsTimeout = DefaultHandshakeTimeout
	}
	dialer := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		TLSClientConfig:  tlsConf,
		HandshakeTimeout: hsTimeout,
		WriteBufferPool:  writeBufferPool,
	}
	header := http.Header{"Authorization": {"Bearer " + token}}
	if opts.UserAgent != "" {
		header.Set("User-Agent", opts.UserAgent)
	}
	ws, resp, err := dialer.DialContext(ctx, u.String(), header)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			defer resp.Body.Close()
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Message: serverMessage(resp.Body)}
		}
		return nil, fmt.Errorf("wire: dial %s: %w", u.Redacted(), err)
	}
	cfg := opts.Config
	cfg.Role = RoleAgent
	return NewConn(ctx, ws, cfg), nil
}

// dialURL maps http(s) to ws(s) and refuses clear text over a network.
func dialURL(rawURL string, opts DialOptions) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("wire: server URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("wire: server URL %q: scheme must be ws, wss, http or https", u.Redacted())
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("wire: server URL %q needs a host and no user info", u.Redacted())
	}
	if u.Scheme == "ws" {
		if opts.PinSHA256 != "" {
			return nil, fmt.Errorf("%w: a pinned certificate needs a wss:// or https:// URL", ErrInsecureURL)
		}
		if !opts.AllowInsecure && !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%w: %s would send the credential in clear text; use wss:// or https://", ErrInsecureURL, u.Redacted())
		}
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverMessage extracts the message of the API's error body
// ({"error":{"code":…,"message":…}}) or the start of a plain one.
func serverMessage(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 1024))
	var apiErr struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &apiErr) == nil && apiErr.Error.Message != "" {
		return truncate(apiErr.Error.Message, 200)
	}
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	return truncate(strings.TrimSpace(s), 200)
}

// ConnectURL turns the server's base URL (as an operator types it, e.g.
// "https://backup.example.com" or "https://example.com/rm") into the agent
// connect endpoint ("wss://backup.example.com/api/v1/agent/connect").
func ConnectURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("wire: server URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("wire: server URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return "", fmt.Errorf("wire: server URL %q has no host", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/") + ConnectPath
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String(), nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes in lower-case hex,
// the form the server hands out at enrollment and DialOptions.PinSHA256
// takes.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint parses a SHA-256 fingerprint written as 64 hex digits,
// in any case, optionally separated by colons and prefixed with "sha256:".
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	t := strings.TrimSpace(s)
	if len(t) >= 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	t = strings.ReplaceAll(t, ":", "")
	if len(t) != 2*sha256.Size {
		return fp, fmt.Errorf("%w: want 64 hex digits, got %d characters", ErrBadFingerprint, len(t))
	}
	if _, err := hex.Decode(fp[:], []byte(t)); err != nil {
		return fp, fmt.Errorf("%w: %w", ErrBadFingerprint, err)
	}
	return fp, nil
}

// upgrader accepts agent connections. Agents send no Origin header, so
// gorilla's default origin check (refuse a foreign Origin) costs them
// nothing and keeps browsers out.
var upgrader = websocket.Upgrader{
	HandshakeTimeout: DefaultHandshakeTimeout,
	WriteBufferPool:  writeBufferPool,
}

// Upgrade turns an authenticated HTTP request into a server-side Conn.
// Authenticate the agent before calling it. On failure gorilla has already
// answered the request with an HTTP error. ctx bounds the connection's life;
// r.Context() is fine only if the handler then waits for Done, since net/http
// cancels it when the handler returns.
func Upgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, cfg Config) (*Conn, error) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	cfg.Role = RoleServer
	return NewConn(ctx, ws, cfg), nil
}
