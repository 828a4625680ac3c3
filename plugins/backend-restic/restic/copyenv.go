package restic

import (
	"fmt"
	"sort"
	"strings"
)

// sourceEnvNames maps the restic variables a repository may set for itself
// to the names `restic copy` reads for its source repository (restic >=
// 0.14, the environment of --from-repo and its siblings).
var sourceEnvNames = map[string]string{
	"RESTIC_REPOSITORY":       "RESTIC_FROM_REPOSITORY",
	"RESTIC_REPOSITORY_FILE":  "RESTIC_FROM_REPOSITORY_FILE",
	"RESTIC_PASSWORD":         "RESTIC_FROM_PASSWORD",
	"RESTIC_PASSWORD_FILE":    "RESTIC_FROM_PASSWORD_FILE",
	"RESTIC_PASSWORD_COMMAND": "RESTIC_FROM_PASSWORD_COMMAND",
	"RESTIC_KEY_HINT":         "RESTIC_FROM_KEY_HINT",
}

// legacySecondaryEnv are restic's pre-0.14 names for the second
// repository (--repo2 and friends, which name the destination, not the
// source); restic refuses them together with the --from-repo group.
var legacySecondaryEnv = []string{
	"RESTIC_REPOSITORY2", "RESTIC_REPOSITORY_FILE2", "RESTIC_PASSWORD2",
	"RESTIC_PASSWORD_FILE2", "RESTIC_PASSWORD_COMMAND2", "RESTIC_KEY_HINT2",
}

// withSourceRepo adds the source repository of a copy to env, the
// environment of a restic child whose own repository is dst: its location
// and password under the RESTIC_FROM_* names, its other variables (backend
// credentials) as they are. restic has one environment for both
// repositories, so a backend variable both set with different values is
// refused; for restic's own settings (RESTIC_CACHE_DIR,
// RESTIC_COMPRESSION, …) the destination's value wins.
func withSourceRepo(env []string, dst, src Repository) ([]string, error) {
	if src.URL != "" && src.URL == dst.URL {
		return nil, fmt.Errorf("%w: the source and the destination are the same repository", ErrInvalidRepository)
	}
	for _, r := range []struct {
		what string
		env  map[string]string
	}{{"destination", dst.Env}, {"source", src.Env}} {
		for k := range r.env {
			up := strings.ToUpper(k)
			if strings.HasPrefix(up, "RESTIC_FROM_") || containsName(legacySecondaryEnv, up) {
				return nil, fmt.Errorf("%w: the %s repository sets %s, which a copy sets itself", ErrInvalidRepository, r.what, k)
			}
		}
	}
	set := newEnvSet()
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			set.set(k, v)
		}
	}
	keys := make([]string, 0, len(src.Env))
	for k := range src.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := src.Env[k]
		if n, ok := sourceEnvNames[envKey(k)]; ok {
			set.set(n, v)
			continue
		}
		if dv, ok := lookupEnv(dst.Env, k); ok {
			if dv != v && !strings.HasPrefix(strings.ToUpper(k), "RESTIC_") {
				return nil, fmt.Errorf("%w: the source and destination repositories set %s to different values; "+
					"restic copy has one environment for both", ErrInvalidRepository, k)
			}
			continue
		}
		set.set(k, v)
	}
	if src.URL != "" {
		set.set("RESTIC_FROM_REPOSITORY", src.URL)
	}
	switch {
	case src.PasswordCommand != "":
		set.set("RESTIC_FROM_PASSWORD_COMMAND", src.PasswordCommand)
		set.unset("RESTIC_FROM_PASSWORD")
	case src.Password != "":
		set.set("RESTIC_FROM_PASSWORD", src.Password)
	}
	return set.list(), nil
}

func lookupEnv(env map[string]string, name string) (string, bool) {
	for k, v := range env {
		if sameEnvName(k, name) {
			return v, true
		}
	}
	return "", false
}

func containsName(list []string, name string) bool {
	for _, n := range list {
		if n == name {
			return true
		}
	}
	return false
}
