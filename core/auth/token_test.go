package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var allKinds = []string{KindSession, KindAPIToken, KindEnrollment, KindAgent, KindSetup}

func TestNewToken(t *testing.T) {
	t.Parallel()
	body := regexp.MustCompile(`^[0-9a-zA-Z]{43}$`)
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			seen := make(map[string]bool)
			for range 1000 {
				tok, err := NewToken(kind)
				if err != nil {
					t.Fatalf("NewToken: %v", err)
				}
				rest, found := strings.CutPrefix(tok, kind+"_")
				if !found || !body.MatchString(rest) {
					t.Fatalf("token %q is not %s_ followed by 43 base62 characters", tok, kind)
				}
				if got := TokenKind(tok); got != kind {
					t.Fatalf("TokenKind(%q) = %q; want %q", tok, got, kind)
				}
				if seen[tok] {
					t.Fatalf("token %q issued twice", tok)
				}
				seen[tok] = true
			}
		})
	}
}

func TestNewTokenUnknownKind(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"", "rm", "RMS", "ghp", "rms_"} {
		tok, err := NewToken(kind)
		if !errors.Is(err, ErrUnknownKind) || tok != "" {
			t.Errorf("NewToken(%q) = %q, %v; want ErrUnknownKind", kind, tok, err)
		}
	}
}

func TestTokenBody(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   []byte
		want string
	}{
		"all zero": {make([]byte, 32), strings.Repeat("0", 43)},
		"one":      {append(make([]byte, 31), 1), strings.Repeat("0", 42) + "1"},
		"61":       {append(make([]byte, 31), 61), strings.Repeat("0", 42) + "Z"},
		"62":       {append(make([]byte, 31), 62), strings.Repeat("0", 41) + "10"},
		"all ones": {[]byte(strings.Repeat("\xff", 32)), ""}, // only the length is checked
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := tokenBody(tc.in)
			if len(got) != 43 {
				t.Fatalf("tokenBody = %q (%d characters); want 43", got, len(got))
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("tokenBody = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestTokenKind(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("aZ9", 14) + "x" // 43 base62 characters
	tests := map[string]struct {
		token string
		want  string
	}{
		"session":        {"rms_" + good, KindSession},
		"api token":      {"rmt_" + good, KindAPIToken},
		"enrollment":     {"rme_" + good, KindEnrollment},
		"agent":          {"rma_" + good, KindAgent},
		"setup":          {"rmsetup_" + good, KindSetup},
		"empty":          {"", ""},
		"kind only":      {"rms", ""},
		"no body":        {"rms_", ""},
		"short body":     {"rms_" + good[1:], ""},
		"long body":      {"rms_" + good + "a", ""},
		"unknown kind":   {"ghp_" + good, ""},
		"upper-case":     {"RMS_" + good, ""},
		"no separator":   {"rms" + good, ""},
		"dash separator": {"rms-" + good, ""},
		"underscore":     {"rms_" + good[1:] + "_", ""},
		"dash in body":   {"rms_" + good[1:] + "-", ""},
		"padding":        {"rms_" + good[1:] + "=", ""},
		"non-ascii":      {"rms_" + good[2:] + "ä", ""},
		"nul in body":    {"rms_" + good[1:] + "\x00", ""},
		"double kind":    {"rms_rmt_" + good, ""},
		"leading space":  {" rms_" + good, ""},
		"trailing space": {"rms_" + good + " ", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := TokenKind(tc.token); got != tc.want {
				t.Errorf("TokenKind(%q) = %q; want %q", tc.token, got, tc.want)
			}
		})
	}
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	// SHA-256("abc") from FIPS 180-2.
	if got, want := HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashToken(abc) = %s; want %s", got, want)
	}
	tok, err := NewToken(KindAPIToken)
	if err != nil {
		t.Fatal(err)
	}
	h := HashToken(tok)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Errorf("HashToken = %q; want 64 lower-case hex digits", h)
	}
	if HashToken(tok) != h {
		t.Error("HashToken is not stable")
	}
	if strings.Contains(h, tok[4:]) {
		t.Error("hash contains the token")
	}
	other, err := NewToken(KindAPIToken)
	if err != nil {
		t.Fatal(err)
	}
	if HashToken(other) == h {
		t.Error("two tokens hash alike")
	}
}

func TestEqualHash(t *testing.T) {
	t.Parallel()
	h := HashToken("rms_x")
	tests := map[string]struct {
		a, b string
		want bool
	}{
		"same":               {h, HashToken("rms_x"), true},
		"different":          {h, HashToken("rms_y"), false},
		"last digit differs": {h, h[:63] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", h[63])+1)%16]), false},
		"prefix":             {h, h[:32], false},
		"empty and hash":     {"", h, false},
		"both empty":         {"", "", true},
		"longer":             {h, h + "0", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := EqualHash(tc.a, tc.b); got != tc.want {
				t.Errorf("EqualHash(%q, %q) = %v; want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[string]bool)
	for range 10000 {
		id := NewID()
		if !uuidV4.MatchString(id) {
			t.Fatalf("NewID() = %q; not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice", id)
		}
		seen[id] = true
	}
}
