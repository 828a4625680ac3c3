// Package auth holds the security primitives the HTTP layer builds on:
// argon2id password hashing (which returns its memory to the OS after a burst
// of hashes, see release.go), opaque random tokens stored as hashes, random
// ids, an in-memory login rate limiter and client address extraction.
//
// Nothing here touches a database, serves HTTP or logs. The store and API
// packages decide what to persist and what to answer.
package auth

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformedHash means an encoded password hash could not be parsed or
	// carries parameters outside the accepted range. The encoded string is
	// never included in the error so it cannot leak into logs.
	ErrMalformedHash = errors.New("malformed password hash")
	// ErrInvalidParams means argon2id parameters are outside the accepted range.
	ErrInvalidParams = errors.New("invalid argon2id parameters")

	// ErrPasswordTooShort is returned by CheckPasswordPolicy; its text is shown to users.
	ErrPasswordTooShort = fmt.Errorf("password must be at least %d characters long", MinPasswordRunes)
	// ErrPasswordTooLong is returned by CheckPasswordPolicy; its text is shown to users.
	ErrPasswordTooLong = fmt.Errorf("password must be at most %d bytes long", MaxPasswordBytes)
	// ErrPasswordEncoding is returned by CheckPasswordPolicy for invalid UTF-8.
	ErrPasswordEncoding = errors.New("password must be valid UTF-8 text")

	// ErrUnknownKind means NewToken was asked for a token kind that is not one of the Kind constants.
	ErrUnknownKind = errors.New("unknown token kind")
)
