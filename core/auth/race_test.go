//go:build race

package auth

// raceEnabled lets CPU-heavy tests that exercise no concurrency skip
// themselves under the race detector, which slows argon2 tenfold.
const raceEnabled = true
