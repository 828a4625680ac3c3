package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// Token kinds. Every token starts with its kind and an underscore, so a
// leaked token is recognizable in a log, a paste or a secret scanner (as
// GitHub's ghp_ tokens are) and a token of one kind is never accepted as
// another.
const (
	KindSession    = "rms"     // browser session id
	KindAPIToken   = "rmt"     // API token for the CLI and scripts
	KindEnrollment = "rme"     // one-time host enrollment token
	KindAgent      = "rma"     // agent credential
	KindSetup      = "rmsetup" // first-admin setup token
)

// tokenBodyLen is the base62 length of a 256-bit number: 62^42 < 2^256 < 62^43.
const tokenBodyLen = 43

// tokenBytes is the entropy of every token: 256 bits.
const tokenBytes = 32

func knownKind(kind string) bool {
	switch kind {
	case KindSession, KindAPIToken, KindEnrollment, KindAgent, KindSetup:
		return true
	}
	return false
}

// NewToken returns a fresh token "<kind>_<body>", the body being 32 bytes
// from crypto/rand written as 43 base62 characters ([0-9a-zA-Z], zero
// padded). The caller shows the token once and stores only HashToken(token).
// kind must be one of the Kind constants.
func NewToken(kind string) (string, error) {
	if !knownKind(kind) {
		return "", fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random token: %w", err)
	}
	return kind + "_" + tokenBody(b), nil
}

// tokenBody writes b (at most 32 bytes) in base62, zero-padded to tokenBodyLen.
func tokenBody(b []byte) string {
	body := new(big.Int).SetBytes(b).Text(62)
	return strings.Repeat("0", tokenBodyLen-len(body)) + body
}

// HashToken returns the lower-case hex SHA-256 of token, which is what the
// database stores. A fast hash is right here: tokens carry 256 random bits,
// so there is nothing to guess offline, unlike passwords.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenKind returns the kind of a well-formed token, or "" when token does
// not have the shape NewToken produces (unknown kind, wrong length, a
// character outside base62). Use it to reject garbage before any lookup and
// to refuse, say, a session id presented as an API token.
func TokenKind(token string) string {
	kind, body, found := strings.Cut(token, "_")
	if !found || !knownKind(kind) || len(body) != tokenBodyLen {
		return ""
	}
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return ""
		}
	}
	return kind
}

func isBase62(c byte) bool {
	switch {
	case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	}
	return false
}

// EqualHash reports whether two hex hashes are equal, in time that does not
// depend on where they differ. Hashes of different lengths are unequal.
func EqualHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// NewID returns a random (version 4, RFC 9562) UUID in its canonical
// lower-case 8-4-4-4-12 form; every row id in the store is one.
func NewID() string {
	var u [16]byte
	// crypto/rand.Read never returns an error; it crashes the program
	// if the operating system cannot supply randomness.
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10 (RFC 9562)

	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], u[10:16])
	return string(buf[:])
}
