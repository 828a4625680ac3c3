package restic

import (
	"fmt"
	"net/url"
	"runtime"
	"sort"
	"strings"
)

// Repository says where a repository is and how to open it. Everything in
// it reaches restic through the child's environment, never its argv.
type Repository struct {
	// URL is the repository location (RESTIC_REPOSITORY), e.g.
	// "/srv/restic", "sftp:host:/srv/restic", "s3:s3.amazonaws.com/bucket".
	URL string
	// Password is the repository password (RESTIC_PASSWORD).
	Password string
	// PasswordCommand, when set, is used instead of Password
	// (RESTIC_PASSWORD_COMMAND); restic runs it and reads its stdout.
	PasswordCommand string
	// Env holds backend settings and credentials: AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, B2_ACCOUNT_ID, B2_ACCOUNT_KEY, RESTIC_CACHE_DIR …
	Env map[string]string
}

// parentEnvAllowed are the variables of the agent's own environment that a
// restic child inherits; everything else the agent has stays out.
var parentEnvAllowed = []string{
	"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ",
	"RESTIC_CACHE_DIR", "XDG_CACHE_HOME",
}

// parentEnvAllowedWindows are needed on Windows for name resolution, the
// profile and temp directories and %PATHEXT% lookups of password commands.
var parentEnvAllowedWindows = []string{
	"SystemRoot", "SystemDrive", "USERPROFILE", "APPDATA", "LOCALAPPDATA",
	"TEMP", "TMP", "PATHEXT",
}

// secretMarkers mark an environment variable whose value is a secret; its
// value is scrubbed from everything restic prints.
var secretMarkers = []string{"KEY", "SECRET", "PASSWORD", "TOKEN", "SAS", "CREDENTIAL"}

// validate checks that restic can be told where the repository is and
// how to unlock it.
func (r Repository) validate() error {
	if r.URL == "" && r.Env["RESTIC_REPOSITORY"] == "" && r.Env["RESTIC_REPOSITORY_FILE"] == "" {
		return fmt.Errorf("%w: no repository URL", ErrInvalidRepository)
	}
	if r.Password == "" && r.PasswordCommand == "" && r.Env["RESTIC_PASSWORD"] == "" &&
		r.Env["RESTIC_PASSWORD_FILE"] == "" && r.Env["RESTIC_PASSWORD_COMMAND"] == "" {
		return fmt.Errorf("%w: no password or password command", ErrInvalidRepository)
	}
	for k, v := range r.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return fmt.Errorf("%w: bad environment variable name %q", ErrInvalidRepository, k)
		}
	}
	return nil
}

// childEnv builds the environment of a restic child: the allowed part of
// parent (os.Environ() form), then extra allowed names, then the
// repository's settings, then runner defaults not set by the repository.
// withRepo=false leaves the repository out (for `restic version`).
func childEnv(parent []string, passEnv []string, repo Repository, withRepo bool, defaults map[string]string) []string {
	allowed := append(append([]string(nil), parentEnvAllowed...), passEnv...)
	if runtime.GOOS == "windows" {
		allowed = append(allowed, parentEnvAllowedWindows...)
	}
	env := newEnvSet()
	for _, kv := range parent {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		for _, a := range allowed {
			if sameEnvName(k, a) {
				env.set(k, v)
				break
			}
		}
	}
	if withRepo {
		keys := make([]string, 0, len(repo.Env))
		for k := range repo.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env.set(k, repo.Env[k])
		}
		if repo.URL != "" {
			env.set("RESTIC_REPOSITORY", repo.URL)
		}
		switch {
		case repo.PasswordCommand != "":
			env.set("RESTIC_PASSWORD_COMMAND", repo.PasswordCommand)
			env.unset("RESTIC_PASSWORD")
		case repo.Password != "":
			env.set("RESTIC_PASSWORD", repo.Password)
		}
	}
	dk := make([]string, 0, len(defaults))
	for k := range defaults {
		dk = append(dk, k)
	}
	sort.Strings(dk)
	for _, k := range dk {
		if _, ok := env.get(k); !ok {
			env.set(k, defaults[k])
		}
	}
	return env.list()
}

// secretsOf lists the values that must never appear in events: the
// password, values of secret-looking variables, the password in the URL.
func secretsOf(repo Repository) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	add(repo.Password)
	add(repo.PasswordCommand)
	for k, v := range repo.Env {
		if isSecretName(k) {
			add(v)
		}
	}
	if u := repo.URL; u != "" {
		// rest:https://user:pass@host/ and the like.
		if _, rest, ok := strings.Cut(u, ":"); ok && strings.Contains(rest, "@") {
			if pu, err := url.Parse(rest); err == nil && pu.User != nil {
				if p, ok := pu.User.Password(); ok {
					add(p)
				}
			}
		}
	}
	return out
}

func isSecretName(name string) bool {
	up := strings.ToUpper(name)
	for _, m := range secretMarkers {
		if strings.Contains(up, m) {
			return true
		}
	}
	return false
}

func sameEnvName(a, b string) bool {
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// envSet is an ordered environment with platform-correct name matching.
type envSet struct {
	keys []string
	vals map[string]string // by normalised name
}

func newEnvSet() *envSet { return &envSet{vals: map[string]string{}} }

func envKey(k string) string {
	if runtime.GOOS == "windows" {
		return strings.ToUpper(k)
	}
	return k
}

func (e *envSet) set(k, v string) {
	nk := envKey(k)
	if _, ok := e.vals[nk]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[nk] = v
}

func (e *envSet) unset(k string) {
	nk := envKey(k)
	if _, ok := e.vals[nk]; !ok {
		return
	}
	delete(e.vals, nk)
	for i, kk := range e.keys {
		if envKey(kk) == nk {
			e.keys = append(e.keys[:i], e.keys[i+1:]...)
			break
		}
	}
}

func (e *envSet) get(k string) (string, bool) {
	v, ok := e.vals[envKey(k)]
	return v, ok
}

func (e *envSet) list() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[envKey(k)])
	}
	return out
}
