package wire_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

func TestDialPinsTheServerCertificate(t *testing.T) {
	h := newHarness(t, true, wire.Config{})
	right := wire.Fingerprint(h.srv.Certificate())

	// The enrollment fingerprint, however it is written, connects.
	colons := strings.ToUpper(right[:2])
	for i := 2; i < len(right); i += 2 {
		colons += ":" + strings.ToUpper(right[i:i+2])
	}
	for name, pin := range map[string]string{"hex": right, "sha256: prefix and colons": "sha256:" + colons} {
		t.Run(name, func(t *testing.T) {
			agent, err := wire.Dial(t.Context(), h.url, testToken, wire.DialOptions{PinSHA256: pin})
			if err != nil {
				t.Fatalf("dial with the right pin: %v", err)
			}
			h.accept(t)
			sayHello(t, agent)
			_ = agent.Close("done")
		})
	}

	t.Run("wrong pin", func(t *testing.T) {
		wrong := strings.Repeat("ab", 32)
		_, err := wire.Dial(t.Context(), h.url, testToken, wire.DialOptions{PinSHA256: wrong})
		if !errors.Is(err, wire.ErrPinMismatch) {
			t.Fatalf("dial with a wrong pin = %v, want ErrPinMismatch", err)
		}
		if !strings.Contains(err.Error(), right) || !strings.Contains(err.Error(), wrong) {
			t.Errorf("the error should name both fingerprints: %v", err)
		}
	})

	t.Run("no pin, unknown CA", func(t *testing.T) {
		_, err := wire.Dial(t.Context(), h.url, testToken, wire.DialOptions{})
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("dial without pin or roots = %v, want an unknown-authority error", err)
		}
	})

	t.Run("no pin, trusted CA", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(h.srv.Certificate())
		agent, err := wire.Dial(t.Context(), h.url, testToken, wire.DialOptions{RootCAs: roots})
		if err != nil {
			t.Fatalf("dial with the CA trusted: %v", err)
		}
		h.accept(t)
		sayHello(t, agent)
	})

	t.Run("malformed pin", func(t *testing.T) {
		_, err := wire.Dial(t.Context(), h.url, testToken, wire.DialOptions{PinSHA256: "abc"})
		if !errors.Is(err, wire.ErrBadFingerprint) {
			t.Fatalf("dial with pin abc = %v", err)
		}
	})
}

func TestDialReportsARefusedCredential(t *testing.T) {
	h := newHarness(t, false, wire.Config{})
	_, err := wire.Dial(t.Context(), h.url, "revoked-credential", wire.DialOptions{})
	var he *wire.HandshakeError
	if !errors.Is(err, wire.ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("dial with a bad token = %v", err)
	}
	if he.Message != "unknown agent credential" {
		t.Errorf("server message %q", he.Message)
	}
	if strings.Contains(err.Error(), "revoked-credential") {
		t.Errorf("the error repeats the credential: %v", err)
	}
}

func TestDialRefusesInsecureURLs(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		url  string
		opts wire.DialOptions
		want error
	}{
		"clear text over a network": {"ws://backup.example.com/api/v1/agent/connect", wire.DialOptions{}, wire.ErrInsecureURL},
		"http over a network":       {"http://10.0.0.5:8080/api/v1/agent/connect", wire.DialOptions{}, wire.ErrInsecureURL},
		"pin without TLS":           {"ws://127.0.0.1:1/x", wire.DialOptions{PinSHA256: strings.Repeat("00", 32)}, wire.ErrInsecureURL},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := wire.Dial(t.Context(), tc.url, testToken, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("Dial(%s) = %v, want %v", tc.url, err, tc.want)
			}
		})
	}
	if _, err := wire.Dial(t.Context(), "ftp://x/", testToken, wire.DialOptions{}); err == nil {
		t.Error("an ftp URL was accepted")
	}
	if _, err := wire.Dial(t.Context(), "wss://x/", "two words", wire.DialOptions{}); err == nil {
		t.Error("a token with a space was accepted")
	}
}

func TestConnectURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://backup.example.com":      "wss://backup.example.com/api/v1/agent/connect",
		"https://backup.example.com/":     "wss://backup.example.com/api/v1/agent/connect",
		"http://127.0.0.1:8080":           "ws://127.0.0.1:8080/api/v1/agent/connect",
		"https://example.com/rm/?x=1#top": "wss://example.com/rm/api/v1/agent/connect",
	} {
		got, err := wire.ConnectURL(in)
		if err != nil || got != want {
			t.Errorf("ConnectURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"backup.example.com", "ftp://x", "https://"} {
		if _, err := wire.ConnectURL(bad); err == nil {
			t.Errorf("ConnectURL(%q) accepted", bad)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	t.Parallel()
	hex := strings.Repeat("0f", 32)
	for _, ok := range []string{hex, strings.ToUpper(hex), "SHA256:" + hex, " " + hex + "\n"} {
		if _, err := wire.ParseFingerprint(ok); err != nil {
			t.Errorf("ParseFingerprint(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", hex[:62], hex + "00", strings.Repeat("zz", 32), "md5:" + hex} {
		if _, err := wire.ParseFingerprint(bad); !errors.Is(err, wire.ErrBadFingerprint) {
			t.Errorf("ParseFingerprint(%q) = %v", bad, err)
		}
	}
}
