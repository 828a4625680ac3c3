package restic

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestChildEnv(t *testing.T) {
	t.Parallel()
	parent := []string{
		"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "TMPDIR=/var/tmp",
		"XDG_CACHE_HOME=/var/cache", "RESTIC_CACHE_DIR=/var/cache/restic",
		"RM_AGENT_TOKEN=agent-secret", "AWS_SECRET_ACCESS_KEY=agent-aws-key",
		"RESTIC_PASSWORD=agent-default-password", "HTTPS_PROXY=http://proxy:3128", "=C:=C:\\", "MALFORMED",
	}
	repo := Repository{
		URL:      "s3:s3.example.com/bucket",
		Password: "repo-password",
		Env:      map[string]string{"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "repo-aws-secret", "TMPDIR": "/srv/tmp"},
	}
	got := childEnv(parent, []string{"HTTPS_PROXY"}, repo, true, map[string]string{"RESTIC_PROGRESS_FPS": "1"})
	want := []string{
		"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "TMPDIR=/srv/tmp",
		"XDG_CACHE_HOME=/var/cache", "RESTIC_CACHE_DIR=/var/cache/restic", "HTTPS_PROXY=http://proxy:3128",
		"AWS_ACCESS_KEY_ID=AKIA1", "AWS_SECRET_ACCESS_KEY=repo-aws-secret",
		"RESTIC_REPOSITORY=s3:s3.example.com/bucket", "RESTIC_PASSWORD=repo-password", "RESTIC_PROGRESS_FPS=1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("childEnv =\n%q\nwant\n%q", got, want)
	}

	// A password command replaces the password; the repository's own
	// RESTIC_PROGRESS_FPS wins over the default.
	repo = Repository{URL: "/srv/repo", PasswordCommand: "cat /etc/restic/pw", Env: map[string]string{"RESTIC_PROGRESS_FPS": "0.2"}}
	got = childEnv(parent, nil, repo, true, map[string]string{"RESTIC_PROGRESS_FPS": "1"})
	if !slices.Contains(got, "RESTIC_PASSWORD_COMMAND=cat /etc/restic/pw") || !slices.Contains(got, "RESTIC_PROGRESS_FPS=0.2") {
		t.Errorf("password command env: %q", got)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "RESTIC_PASSWORD=") || strings.Contains(kv, "agent") || strings.HasPrefix(kv, "HTTPS_PROXY") {
			t.Errorf("unexpected %q", kv)
		}
	}

	// Without the repository (restic version) no repository setting is passed.
	got = childEnv(parent, nil, repo, false, nil)
	for _, kv := range got {
		if strings.HasPrefix(kv, "RESTIC_PASSWORD") || strings.HasPrefix(kv, "RESTIC_REPOSITORY") {
			t.Errorf("version env has %q", kv)
		}
	}
}

func TestRepositoryValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		repo Repository
		ok   bool
	}{
		"url and password":       {Repository{URL: "/r", Password: "p"}, true},
		"password file in env":   {Repository{URL: "/r", Env: map[string]string{"RESTIC_PASSWORD_FILE": "/pw"}}, true},
		"repository file in env": {Repository{Password: "p", Env: map[string]string{"RESTIC_REPOSITORY_FILE": "/url"}}, true},
		"password command":       {Repository{URL: "/r", PasswordCommand: "pass show restic"}, true},
		"no url":                 {Repository{Password: "p"}, false},
		"no password":            {Repository{URL: "/r"}, false},
		"bad env name":           {Repository{URL: "/r", Password: "p", Env: map[string]string{"A=B": "c"}}, false},
		"nul in env value":       {Repository{URL: "/r", Password: "p", Env: map[string]string{"A": "c\x00d"}}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.repo.validate()
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidRepository)) {
				t.Fatalf("validate = %v", err)
			}
		})
	}
}

func TestSecretsOf(t *testing.T) {
	t.Parallel()
	repo := Repository{
		URL:      "rest:https://user:url-pass@backup.example.com:8000/repo",
		Password: "pw",
		Env: map[string]string{
			"AWS_ACCESS_KEY_ID": "AKIA-id", "AWS_SECRET_ACCESS_KEY": "aws-secret", "B2_ACCOUNT_KEY": "b2-key",
			"AWS_SESSION_TOKEN": "session-token", "RESTIC_REST_PASSWORD": "rest-pw", "AZURE_ACCOUNT_SAS": "sas",
			"B2_ACCOUNT_ID": "b2-id", "AWS_DEFAULT_REGION": "eu-west-1",
		},
	}
	got := secretsOf(repo)
	for _, want := range []string{"pw", "url-pass", "AKIA-id", "aws-secret", "b2-key", "session-token", "rest-pw", "sas"} {
		if !slices.Contains(got, want) {
			t.Errorf("secretsOf misses %q: %q", want, got)
		}
	}
	for _, not := range []string{"b2-id", "eu-west-1"} {
		if slices.Contains(got, not) {
			t.Errorf("secretsOf has %q, which is no secret", not)
		}
	}
}
