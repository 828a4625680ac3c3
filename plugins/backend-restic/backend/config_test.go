package backend

import (
	"strings"
	"testing"
	"time"
)

func TestSchemaIsValid(t *testing.T) {
	t.Parallel()
	if err := schema.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, a := range schema.Attributes {
		if a.Required {
			t.Errorf("attribute %s is required; every attribute has a default", a.Name)
		}
		if a.Description == "" {
			t.Errorf("attribute %s has no description", a.Name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, rc, err := parseConfig([]byte(`{"restic_binary":"/opt/restic","kill_grace":"1m30s",
		"cache_dir":"/var/cache/rm","pass_env":["HTTPS_PROXY","NO_PROXY"],"progress_fps":2.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Binary != "/opt/restic" || rc.KillGrace != 90*time.Second || rc.ProgressFPS != 2.5 ||
		len(rc.PassEnv) != 2 || rc.PassEnv[1] != "NO_PROXY" || cfg.CacheDir != "/var/cache/rm" {
		t.Errorf("config %+v, runner config %+v", cfg, rc)
	}
	if _, rc, err := parseConfig([]byte(`{}`)); err != nil || rc.Binary != "" || rc.KillGrace != 0 {
		t.Errorf("empty config: %+v, %v", rc, err)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		config string
		want   []string
	}{
		"unknown attribute":     {`{"restic_path":"/usr/bin/restic"}`, []string{`unknown field "restic_path"`}},
		"not a duration":        {`{"kill_grace":"ten seconds"}`, []string{`kill_grace "ten seconds"`}},
		"negative grace":        {`{"kill_grace":"-1s"}`, []string{"kill_grace -1s"}},
		"relative cache dir":    {`{"cache_dir":"cache"}`, []string{`cache_dir "cache" is not an absolute path`}},
		"bad env name":          {`{"pass_env":["A=B",""]}`, []string{`pass_env: "A=B"`, `pass_env: ""`}},
		"progress out of range": {`{"progress_fps":100}`, []string{"progress_fps 100"}},
		"every problem at once": {
			`{"kill_grace":"x","cache_dir":"rel","progress_fps":-1}`,
			[]string{"kill_grace", "cache_dir", "progress_fps"},
		},
		"wrong type": {`{"pass_env":"HTTPS_PROXY"}`, []string{"pass_env"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := parseConfig([]byte(tc.config))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
