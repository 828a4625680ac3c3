package repos

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a repository holds.
const (
	MaxPasswordLen    = 4 << 10
	maxURLLen         = 4 << 10
	maxDescriptionLen = 1 << 10
	maxEnvVars        = 128
	maxEnvKeyLen      = 256
	maxEnvValueLen    = 16 << 10
)

// FieldError is bad input in one field. Its message never quotes a secret.
type FieldError struct {
	Field string // request field: name, url, password, env, description
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Problems returns every *FieldError in err, which the Validate functions
// build with errors.Join, in order; none when err is not about bad input.
func Problems(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		var fe *FieldError
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range multi.Unwrap() {
				walk(inner)
			}
		} else if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	driveRE  = regexp.MustCompile(`^[A-Za-z]:[\\/]`)
)

// ValidateName checks a repository name: 1 to 64 letters, digits and . _ -,
// starting with a letter or digit, and no "..". The name is how HCL and
// --repo address the repository, and it may end up in paths on agents.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return fieldErr("name", "must be 1 to 64 letters, digits, '.', '_' or '-', start with a letter or digit, and not contain \"..\"")
	}
	return nil
}

// backends are the restic repository prefixes accepted besides a local path.
var backends = []string{"local:", "sftp:", "s3:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:"}

// ValidateURL checks that u looks like a restic repository string: an
// absolute local path (Unix, or a Windows drive or UNC path for Windows
// agents) or one of restic's backend prefixes followed by a location. It
// rejects what is obviously wrong; restic has the last word when it opens
// the repository. Messages never quote u, which may hold a password.
func ValidateURL(u string) error {
	switch {
	case u == "":
		return fieldErr("url", "is required")
	case len(u) > maxURLLen:
		return fieldErr("url", "is longer than %d bytes", maxURLLen)
	case !utf8.ValidString(u) || strings.IndexFunc(u, unicode.IsControl) >= 0:
		return fieldErr("url", "must be valid UTF-8 without control characters or NUL")
	case strings.TrimSpace(u) != u:
		return fieldErr("url", "must not start or end with white space")
	case strings.HasPrefix(u, "/"), driveRE.MatchString(u), strings.HasPrefix(u, `\\`):
		return nil
	}
	for _, prefix := range backends {
		rest, ok := strings.CutPrefix(u, prefix)
		if !ok {
			continue
		}
		if rest == "" {
			return fieldErr("url", "%q needs a location after it", prefix)
		}
		switch prefix {
		case "local:":
			if !strings.HasPrefix(rest, "/") && !driveRE.MatchString(rest) && !strings.HasPrefix(rest, `\\`) {
				return fieldErr("url", "a local: repository needs an absolute path")
			}
		case "rest:":
			p, err := url.Parse(rest)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return fieldErr("url", "a rest: repository needs an http:// or https:// URL, such as rest:https://backup.example.com:8000/")
			}
		}
		return nil
	}
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return fieldErr("url", "an http(s) URL needs a backend prefix, such as rest:https://… or s3:https://…")
	}
	return fieldErr("url", "must be an absolute path or start with a restic backend prefix (%s)", strings.Join(backends, " "))
}

// reservedEnv are variables that would silently override the repository's
// own url or password; those are set through their fields.
var reservedEnv = map[string]string{
	"RESTIC_REPOSITORY":       "url",
	"RESTIC_REPOSITORY_FILE":  "url",
	"RESTIC_PASSWORD":         "password",
	"RESTIC_PASSWORD_FILE":    "password",
	"RESTIC_PASSWORD_COMMAND": "password",
}

// ValidateEnv checks backend environment variables: POSIX-style names and
// values without NUL. Messages name the variable, never its value.
func ValidateEnv(env map[string]string) error {
	if len(env) > maxEnvVars {
		return fieldErr("env", "holds more than %d variables", maxEnvVars)
	}
	var errs []error
	for _, k := range sortedKeys(env) {
		v := env[k]
		switch {
		case strings.Contains(k, "="):
			// Not quoted: what follows the '=' may be a value.
			errs = append(errs, fieldErr("env", "a variable name contains '='; give names and values separately"))
		case len(k) > maxEnvKeyLen || !envKeyRE.MatchString(k):
			errs = append(errs, fieldErr("env", "variable name %q must match [A-Za-z_][A-Za-z0-9_]* (at most %d characters)",
				truncate(k, 64), maxEnvKeyLen))
		case reservedEnv[k] != "":
			errs = append(errs, fieldErr("env", "%s is set through the repository's %s field, not env", k, reservedEnv[k]))
		case strings.ContainsRune(v, 0):
			errs = append(errs, fieldErr("env", "the value of %s contains a NUL byte", k))
		case len(v) > maxEnvValueLen:
			errs = append(errs, fieldErr("env", "the value of %s is longer than %d bytes", k, maxEnvValueLen))
		}
	}
	return errors.Join(errs...)
}

// ValidatePassword checks a repository password: not empty, at most 4 KiB,
// no NUL (restic gets it through its environment).
func ValidatePassword(p string) error {
	switch {
	case p == "":
		return fieldErr("password", "is required")
	case len(p) > MaxPasswordLen:
		return fieldErr("password", "is longer than %d bytes", MaxPasswordLen)
	case strings.ContainsRune(p, 0):
		return fieldErr("password", "contains a NUL byte")
	}
	return nil
}

// ValidateDescription checks a free-text description.
func ValidateDescription(d string) error {
	switch {
	case len(d) > maxDescriptionLen:
		return fieldErr("description", "is longer than %d bytes", maxDescriptionLen)
	case !utf8.ValidString(d) || strings.ContainsRune(d, 0):
		return fieldErr("description", "must be valid UTF-8 without NUL")
	}
	return nil
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// RedactURL hides the password of a URL's user information, so
// "rest:https://user:secret@host/" reads "rest:https://user:***@host/", and
// the parameter values of an rclone connection string
// ("rclone::s3,secret_access_key=…:bucket"). It is what the API, the audit
// log and the server log show of a repository URL; only the job dispatcher
// reads the stored URL as it is.
//
// A password may hold '/', '?', '#' or '@' (AWS secret keys hold '/'), so
// the user information runs to the last '@', not to the first '/'. When
// that is ambiguous (an '@' in the path of a URL with a port) it hides too
// much rather than too little.
func RedactURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "rclone:"); ok {
		return "rclone:" + rcloneParamRE.ReplaceAllString(rest, "=***")
	}
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	start := i + len("://")
	at := strings.LastIndex(u[start:], "@")
	if at < 0 {
		return u
	}
	user, _, hasPassword := strings.Cut(u[start:start+at], ":")
	if !hasPassword || strings.ContainsAny(user, "/?#") {
		// No password, or the '@' is in the path or query of a URL
		// without user information.
		return u
	}
	return u[:start] + user + ":***" + u[start+at:]
}

// rcloneParamRE matches the value of one name=value parameter of an rclone
// connection string: quoted, or up to the next ',' or ':'.
var rcloneParamRE = regexp.MustCompile(`=("[^"]*"|'[^']*'|[^,:]*)`)
