//go:build !unix

package server

import "errors"

// ErrLocked means another process holds the data directory.
var ErrLocked = errors.New("data directory is in use")

// lockDataDir is a no-op where flock is not available; run one server per
// data directory there.
func lockDataDir(string) (func(), error) { return func() {}, nil }
