package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables the CLI reads.
const (
	envAddr       = "RM_ADDR"
	envToken      = "RM_TOKEN"
	envSetupToken = "RM_SETUP_TOKEN" //nolint:gosec // G101: a variable name, not a credential.
)

// defaultAddr is where API commands look for the server when neither
// --addr nor RM_ADDR says otherwise: the embedded default's listen address.
const defaultAddr = "http://127.0.0.1:8080"

// UsageError is bad input to a known command: an unknown flag, a missing
// argument, a value that does not parse. Main prints it with a pointer to
// the command's help and exits 2.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// newFlagSet returns a flag set that reports errors instead of printing
// them or exiting: Main owns all output.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// ParseFlags parses args with fs and returns the positional arguments.
// Unlike fs.Parse it lets flags and positional arguments interleave
// ("user disable alice --json"); everything after a "--" is positional. Bad
// flags come back as a *UsageError, -h/--help as flag.ErrHelp. Flags may be
// written with one dash or two.
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	positional := []string{}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{Msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" && !takesValue(fs, args[:consumed-1]) {
			// fs.Parse stopped at a "--" terminator: no flags after it.
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// takesValue reports whether the last of before is a flag that consumed the
// following argument as its value, as in "--name --".
func takesValue(fs *flag.FlagSet, before []string) bool {
	if len(before) == 0 {
		return false
	}
	last := before[len(before)-1]
	if len(last) < 2 || last[0] != '-' || last == "--" || strings.Contains(last, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimPrefix(last[1:], "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// StringSlice is a repeatable string flag: "--path /etc --path /home"
// collects both values in order.
type StringSlice []string

// String joins the values with commas, for flag's default printing.
func (s *StringSlice) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

// Set appends one value.
func (s *StringSlice) Set(v string) error {
	*s = append(*s, v)
	return nil
}

var _ flag.Value = (*StringSlice)(nil)

// parseArgs parses args with fs (see ParseFlags) and returns the
// positional arguments, which must be exactly n; what names them in the
// error when one is missing.
func parseArgs(fs *flag.FlagSet, args []string, n int, what string) ([]string, error) {
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(pos, n, what); err != nil {
		return nil, err
	}
	return pos, nil
}

// wantArgs checks the number of positional arguments; what names them for
// the error, such as "a user ID or name".
func wantArgs(args []string, n int, what string) error {
	switch {
	case len(args) == n:
		return nil
	case len(args) < n:
		return Usagef("missing %s", what)
	default:
		return Usagef("unexpected argument %q", args[n])
	}
}

// requireFlags returns a usage error naming every flag in names that is
// still empty after parsing (a default from the environment counts).
func requireFlags(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := fs.Lookup(n); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return Usagef("%s is required", missing[0])
	default:
		return Usagef("%s are required", strings.Join(missing, ", "))
	}
}

// apiFlags are the flags every API command takes.
type apiFlags struct {
	addr  string
	token string
}

// addAPIFlags registers --addr and --token, defaulting to RM_ADDR and
// RM_TOKEN.
func addAPIFlags(fs *flag.FlagSet, env *Env) *apiFlags {
	a := addAddrFlag(fs, env)
	fs.StringVar(&a.token, "token", env.Getenv(envToken), "API token")
	return a
}

// addAddrFlag registers only --addr, for commands that need no token.
func addAddrFlag(fs *flag.FlagSet, env *Env) *apiFlags {
	a := &apiFlags{}
	addr := env.Getenv(envAddr)
	if addr == "" {
		addr = defaultAddr
	}
	fs.StringVar(&a.addr, "addr", addr, "server address")
	return a
}

// client returns an API client for the flags. An authenticated client needs
// a token.
func (a *apiFlags) client(authenticated bool) (*client, error) {
	token := strings.TrimSpace(a.token)
	if !authenticated {
		token = ""
	} else if token == "" {
		return nil, errors.New("no API token: set " + envToken + " or pass --token")
	}
	return newClient(a.addr, token)
}

// addrFlagHelp documents addAddrFlag in a command's Usage.
const addrFlagHelp = `  --addr URL      Server address. Default: $RM_ADDR, else ` + defaultAddr + `.
`

// apiFlagsHelp documents addAPIFlags in every API command's Usage.
const apiFlagsHelp = "API flags:\n" + addrFlagHelp +
	`  --token TOKEN   API token. Default: $RM_TOKEN. Prefer the variable: other
                  users of this machine can see command-line flags.
`

// maxSecretFile caps a password file: a password is never this long, and a
// wrong path (a disk image, /dev/zero) must not eat memory.
const maxSecretFile = 64 << 10

// readSecretFile reads a password from path, or from standard input when
// path is "-", and strips one trailing newline ("\n" or "\r\n") so that
// files written by editors and echo work.
func readSecretFile(env *Env, path string) (string, error) {
	name := path
	var r io.Reader
	if path == "-" {
		name, r = "standard input", env.Stdin
	} else {
		f, err := os.Open(path) //nolint:gosec // G304: the operator names the file.
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read password from %s: %w", name, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("read password from %s: more than %d bytes; is this the right file?", name, maxSecretFile)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return "", fmt.Errorf("read password from %s: it is empty", name)
	}
	return s, nil
}

// parseDuration is time.ParseDuration plus whole days ("7d"), which people
// use for token lifetimes and audit windows.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*366 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// parseTimeFlag reads a --since/--until value: an RFC 3339 time, a date
// (midnight local time), or a duration meaning that long before now. It
// returns the time as RFC 3339 in UTC, the form the API takes.
func parseTimeFlag(name, s string, now time.Time) (string, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	if d, err := parseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC().Format(time.RFC3339), nil
	}
	return "", Usagef("--%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration ago (24h, 7d)", name, s)
}
