package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters stored inside every PHC string,
// so hashes made with older parameters keep verifying after a change.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32 // bytes
	KeyLen      uint32 // bytes
}

// DefaultParams are the parameters new hashes are made with: 64 MiB, three
// passes, two lanes (above OWASP's argon2id minimum of 19 MiB, t=2, p=1).
// VerifyPassword reports needsRehash for any hash made with other parameters.
var DefaultParams = Params{Memory: 64 * 1024, Iterations: 3, Parallelism: 2, SaltLen: 16, KeyLen: 32}

// TestingParams are cheap parameters for tests only (1 MiB, one pass) so
// that suites creating many users stay fast. Never use them in production:
// they offer almost no resistance to offline guessing.
var TestingParams = Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

const (
	// MinPasswordRunes is the shortest password CheckPasswordPolicy accepts, in characters.
	MinPasswordRunes = 12
	// MaxPasswordBytes is the longest password CheckPasswordPolicy accepts, in bytes.
	MaxPasswordBytes = 1024
)

// Ranges a PHC string must stay within. They bound the memory and time a
// single verification can cost, so a corrupted or hostile hash in the
// database cannot exhaust the server.
const (
	maxEncodedLen = 512
	minSaltLen    = 8
	maxSaltLen    = 64
	minHashLen    = 16
	maxHashLen    = 64
)

// limits caps the cost parameters accepted when hashing or verifying.
type limits struct {
	maxMemory     uint32 // KiB
	maxIterations uint32
}

// defaultLimits allows up to 1 GiB and 64 passes.
var defaultLimits = limits{maxMemory: 1 << 20, maxIterations: 64}

var b64 = base64.RawStdEncoding

// validate reports why p is outside the ranges argon2id and lim allow.
func (p Params) validate(lim limits) error {
	switch {
	case p.Parallelism < 1:
		return errors.New("parallelism must be at least 1")
	case p.Iterations < 1 || p.Iterations > lim.maxIterations:
		return fmt.Errorf("iterations must be between 1 and %d", lim.maxIterations)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > lim.maxMemory:
		return fmt.Errorf("memory must be between 8*parallelism and %d KiB", lim.maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length must be between %d and %d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minHashLen || p.KeyLen > maxHashLen:
		return fmt.Errorf("key length must be between %d and %d bytes", minHashLen, maxHashLen)
	}
	return nil
}

// HashPassword hashes password with argon2id under a fresh random salt and
// returns a PHC string: $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>, salt
// and hash in unpadded standard base64.
func HashPassword(password string, p Params) (string, error) {
	if err := p.validate(defaultLimits); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := idKey([]byte(password), salt, p)
	return encodePHC(p, salt, key), nil
}

// VerifyPassword reports whether password matches the PHC string encoded,
// comparing in constant time. needsRehash is true when the password matched
// but the hash was made with parameters other than DefaultParams: the caller
// should then store a fresh HashPassword(password, DefaultParams).
// A malformed encoded string yields an error wrapping ErrMalformedHash.
func VerifyPassword(password, encoded string) (ok bool, needsRehash bool, err error) {
	return verify(password, encoded, defaultLimits)
}

func verify(password, encoded string, lim limits) (ok bool, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(encoded, lim)
	if err != nil {
		return false, false, err
	}
	got := idKey([]byte(password), salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != DefaultParams, nil
}

// DummyVerify runs a full verification under DefaultParams against a hash
// nothing matches, and discards the result. Call it when a login names a
// user that does not exist (or is disabled) so the response takes as long
// as for a real user and timing does not reveal which usernames exist.
func DummyVerify(password string) {
	p := DefaultParams
	dummy := encodePHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
	_, _, _ = verify(password, dummy, defaultLimits)
}

// CheckPasswordPolicy returns an error whose text can be shown to the user
// when password is shorter than MinPasswordRunes characters, longer than
// MaxPasswordBytes bytes or not valid UTF-8.
func CheckPasswordPolicy(password string) error {
	switch {
	case len(password) > MaxPasswordBytes:
		return ErrPasswordTooLong
	case !utf8.ValidString(password):
		return ErrPasswordEncoding
	case utf8.RuneCountInString(password) < MinPasswordRunes:
		return ErrPasswordTooShort
	}
	return nil
}

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC accepts only the canonical form encodePHC writes: parameters in
// m,t,p order, decimal without leading zeros, canonical unpadded base64.
// Anything else is malformed, so every accepted string re-encodes to itself.
func parsePHC(encoded string, lim limits) (p Params, salt, key []byte, err error) {
	malformed := func(reason string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, reason)
	}
	if len(encoded) > maxEncodedLen {
		return malformed("too long")
	}
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return malformed("want 5 $-separated fields")
	}
	if fields[1] != "argon2id" {
		return malformed("algorithm is not argon2id")
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return malformed("unsupported argon2 version")
	}

	kv := strings.Split(fields[3], ",")
	if len(kv) != 3 {
		return malformed("want parameters m, t and p")
	}
	m, err := parseParam(kv[0], "m=", 32)
	if err != nil {
		return malformed("memory: " + err.Error())
	}
	t, err := parseParam(kv[1], "t=", 32)
	if err != nil {
		return malformed("iterations: " + err.Error())
	}
	par, err := parseParam(kv[2], "p=", 8)
	if err != nil {
		return malformed("parallelism: " + err.Error())
	}

	if salt, err = decodeB64(fields[4]); err != nil {
		return malformed("salt: " + err.Error())
	}
	if key, err = decodeB64(fields[5]); err != nil {
		return malformed("hash: " + err.Error())
	}

	// Each number was parsed with its bit size and the lengths are bounded
	// by maxEncodedLen, so none of these conversions can truncate.
	//nolint:gosec // G115 cannot see the bounds above.
	p = Params{
		Memory:      uint32(m),
		Iterations:  uint32(t),
		Parallelism: uint8(par),
		SaltLen:     uint32(len(salt)),
		KeyLen:      uint32(len(key)),
	}
	if err := p.validate(lim); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

func parseParam(s, prefix string, bits int) (uint64, error) {
	digits, found := strings.CutPrefix(s, prefix)
	if !found {
		return 0, fmt.Errorf("want %q", prefix)
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, errors.New("leading zero")
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	if err != nil {
		return 0, errors.New("not a decimal number in range")
	}
	return n, nil
}

func decodeB64(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	// The decoder skips CR and LF and tolerates stray trailing bits;
	// re-encoding rejects both.
	if err != nil || b64.EncodeToString(b) != s {
		return nil, errors.New("not canonical unpadded base64")
	}
	return b, nil
}
