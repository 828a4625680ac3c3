package auth

import (
	"errors"
	"strings"
	"testing"
)

func mustHash(t *testing.T, password string, p Params) string {
	t.Helper()
	h, err := HashPassword(password, p)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return h
}

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"ascii":     "correct horse battery staple",
		"unicode":   "pässwörd-日本語-🔑🔑🔑",
		"empty":     "",
		"max bytes": strings.Repeat("x", MaxPasswordBytes),
		"with nul":  "before\x00after-some-more",
	}
	for name, password := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := mustHash(t, password, TestingParams)
			if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
				t.Errorf("hash %q does not carry its parameters", h)
			}
			ok, _, err := VerifyPassword(password, h)
			if err != nil || !ok {
				t.Fatalf("VerifyPassword(right) = %v, %v; want true, nil", ok, err)
			}
			ok, rehash, err := VerifyPassword(password+"x", h)
			if err != nil || ok || rehash {
				t.Errorf("VerifyPassword(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
			if h2 := mustHash(t, password, TestingParams); h2 == h {
				t.Error("two hashes of the same password are equal: salt not random")
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	t.Parallel()
	if testing.Short() || raceEnabled {
		t.Skip("64 MiB hashes are slow under -short and -race")
	}
	h := mustHash(t, "correct horse battery staple", DefaultParams)
	if want := "$argon2id$v=19$m=65536,t=3,p=2$"; !strings.HasPrefix(h, want) {
		t.Errorf("hash %q does not start with %q", h, want)
	}
	ok, rehash, err := VerifyPassword("correct horse battery staple", h)
	if err != nil || !ok || rehash {
		t.Errorf("VerifyPassword = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	DummyVerify("correct horse battery staple") // must not panic
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	cheap := Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	tests := map[string]func(p *Params){
		"memory":      func(p *Params) { p.Memory = 2048 },
		"iterations":  func(p *Params) { p.Iterations = 2 },
		"parallelism": func(p *Params) { p.Parallelism = 2 },
		"salt length": func(p *Params) { p.SaltLen = 32 },
		"key length":  func(p *Params) { p.KeyLen = 16 },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := cheap
			change(&p)
			h := mustHash(t, "some password", p)
			ok, rehash, err := VerifyPassword("some password", h)
			if err != nil || !ok || !rehash {
				t.Errorf("VerifyPassword = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, rehash, err = VerifyPassword("other password", h)
			if err != nil || ok || rehash {
				t.Errorf("VerifyPassword(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestHashPasswordInvalidParams(t *testing.T) {
	t.Parallel()
	tests := map[string]Params{
		"zero":               {},
		"no parallelism":     {Memory: 1024, Iterations: 1, Parallelism: 0, SaltLen: 16, KeyLen: 32},
		"no iterations":      {Memory: 1024, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		"too many passes":    {Memory: 1024, Iterations: 65, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		"memory below 8*p":   {Memory: 31, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 32},
		"memory over 1 GiB":  {Memory: 1<<20 + 1, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		"short salt":         {Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 7, KeyLen: 32},
		"long salt":          {Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 65, KeyLen: 32},
		"short key":          {Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 15},
		"long key":           {Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 65},
		"max uint32 memory":  {Memory: ^uint32(0), Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		"max uint32 key len": {Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: ^uint32(0)},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := HashPassword("some password", p)
			if !errors.Is(err, ErrInvalidParams) || h != "" {
				t.Errorf("HashPassword = %q, %v; want ErrInvalidParams", h, err)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	const (
		salt = "c29tZXNhbHRzb21lc2FsdA"                  // 16 bytes
		key  = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 29 bytes
	)
	valid := "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key
	if _, _, err := VerifyPassword("x", valid); err != nil {
		t.Fatalf("baseline %q: %v", valid, err)
	}
	tests := map[string]string{
		"empty":                 "",
		"garbage":               "not a hash",
		"bcrypt":                "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"no leading dollar":     "argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"argon2i":               "$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"argon2d":               "$argon2d$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"upper-case algorithm":  "$ARGON2ID$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"version 16":            "$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key,
		"no version":            "$argon2id$m=1024,t=1,p=1$" + salt + "$" + key,
		"version not a number":  "$argon2id$v=x$m=1024,t=1,p=1$" + salt + "$" + key,
		"no params":             "$argon2id$v=19$$" + salt + "$" + key,
		"two params":            "$argon2id$v=19$m=1024,t=1$" + salt + "$" + key,
		"four params":           "$argon2id$v=19$m=1024,t=1,p=1,k=1$" + salt + "$" + key,
		"params out of order":   "$argon2id$v=19$t=1,m=1024,p=1$" + salt + "$" + key,
		"memory empty":          "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + key,
		"memory not a number":   "$argon2id$v=19$m=abc,t=1,p=1$" + salt + "$" + key,
		"memory negative":       "$argon2id$v=19$m=-1024,t=1,p=1$" + salt + "$" + key,
		"memory plus sign":      "$argon2id$v=19$m=+1024,t=1,p=1$" + salt + "$" + key,
		"memory leading zero":   "$argon2id$v=19$m=01024,t=1,p=1$" + salt + "$" + key,
		"memory underscore":     "$argon2id$v=19$m=1_024,t=1,p=1$" + salt + "$" + key,
		"memory overflows":      "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key,
		"memory over limit":     "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"memory below 8*p":      "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key,
		"iterations zero":       "$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + key,
		"iterations over limit": "$argon2id$v=19$m=1024,t=100000,p=1$" + salt + "$" + key,
		"iterations hex":        "$argon2id$v=19$m=1024,t=0x1,p=1$" + salt + "$" + key,
		"parallelism zero":      "$argon2id$v=19$m=1024,t=1,p=0$" + salt + "$" + key,
		"parallelism 256":       "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key,
		"missing memory key":    "$argon2id$v=19$1024,t=1,p=1$" + salt + "$" + key,
		"salt empty":            "$argon2id$v=19$m=1024,t=1,p=1$$" + key,
		"salt not base64":       "$argon2id$v=19$m=1024,t=1,p=1$!!!!!!!!$" + key,
		"salt padded":           "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "==$" + key,
		"salt url alphabet":     "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA-_$" + key,
		"salt with newline":     "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNh\nbHRzb21lc2FsdA$" + key,
		"salt trailing bits":    "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdB$" + key,
		"salt too short":        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$" + key,
		"salt too long":         "$argon2id$v=19$m=1024,t=1,p=1$" + strings.Repeat("AAAA", 22) + "$" + key,
		"hash empty":            "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$",
		"hash not base64":       "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$*",
		"hash truncated":        "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$a2V5a2V5",
		"hash too long":         "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + strings.Repeat("AAAA", 22),
		"hash one char":         "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$a",
		"missing hash":          "$argon2id$v=19$m=1024,t=1,p=1$" + salt,
		"trailing dollar":       valid + "$",
		"extra field":           valid + "$" + key,
		"leading space":         " " + valid,
		"huge":                  valid + strings.Repeat("A", 1<<20),
	}
	for name, encoded := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := VerifyPassword("x", encoded)
			if !errors.Is(err, ErrMalformedHash) || ok || rehash {
				t.Fatalf("VerifyPassword = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key) {
				t.Errorf("error %q repeats the hash", err)
			}
		})
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		password string
		want     error
	}{
		"empty":                {"", ErrPasswordTooShort},
		"11 characters":        {"abcdefghijk", ErrPasswordTooShort},
		"12 characters":        {"abcdefghijkl", nil},
		"12 multibyte runes":   {"ääääääääääää", nil},
		"11 multibyte runes":   {"äääääääääää", ErrPasswordTooShort}, // 22 bytes, still too short
		"12 emoji":             {strings.Repeat("🔑", 12), nil},
		"1024 bytes":           {strings.Repeat("a", 1024), nil},
		"1025 bytes":           {strings.Repeat("a", 1025), ErrPasswordTooLong},
		"1026 bytes of runes":  {strings.Repeat("ä", 513), ErrPasswordTooLong},
		"huge":                 {strings.Repeat("a", 1<<20), ErrPasswordTooLong},
		"invalid utf-8":        {"abcdefghijkl\xff", ErrPasswordEncoding},
		"spaces count":         {"            ", nil},
		"passphrase with nums": {"correct horse 42", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := CheckPasswordPolicy(tc.password)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckPasswordPolicy = %v; want %v", err, tc.want)
			}
		})
	}
	if got := ErrPasswordTooShort.Error(); got != "password must be at least 12 characters long" {
		t.Errorf("too-short message = %q", got)
	}
	if got := ErrPasswordTooLong.Error(); got != "password must be at most 1024 bytes long" {
		t.Errorf("too-long message = %q", got)
	}
}

// fuzzLimits keep each fuzz execution cheap (at most 1 MiB, two passes)
// while parsing runs exactly as in production.
var fuzzLimits = limits{maxMemory: 1024, maxIterations: 2}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$a2V5")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, encoded string) {
		// The production parser, which runs before any argon2 work.
		p, salt, key, err := parsePHC(encoded, defaultLimits)
		if err == nil && encodePHC(p, salt, key) != encoded {
			t.Fatalf("accepted %q but it re-encodes as %q", encoded, encodePHC(p, salt, key))
		}
		if err != nil && !errors.Is(err, ErrMalformedHash) {
			t.Fatalf("parse error %v does not wrap ErrMalformedHash", err)
		}

		ok, rehash, err := verify("password", encoded, fuzzLimits)
		if err != nil && (ok || rehash || !errors.Is(err, ErrMalformedHash)) {
			t.Fatalf("verify = %v, %v, %v", ok, rehash, err)
		}
		if !ok && rehash {
			t.Fatal("needsRehash without a match")
		}
	})
}
