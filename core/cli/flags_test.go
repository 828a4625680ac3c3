package cli

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	type parsed struct {
		positional []string
		json       bool
		host       string
		env        []string
	}
	tests := map[string]struct {
		args    []string
		want    parsed
		wantErr string // substring; "help" for flag.ErrHelp
	}{
		"flags after positionals": {
			args: []string{"alice", "--json"},
			want: parsed{positional: []string{"alice"}, json: true},
		},
		"interleaved": {
			args: []string{"backup", "--host", "h1", "extra", "--json", "last"},
			want: parsed{positional: []string{"backup", "extra", "last"}, json: true, host: "h1"},
		},
		"single dash and equals": {
			args: []string{"-json", "-host=h2", "x"},
			want: parsed{positional: []string{"x"}, json: true, host: "h2"},
		},
		"double dash ends flags": {
			args: []string{"--json", "a", "--", "--host", "b", "-"},
			want: parsed{positional: []string{"a", "--host", "b", "-"}, json: true},
		},
		"double dash first": {
			args: []string{"--", "--json"},
			want: parsed{positional: []string{"--json"}},
		},
		"double dash as a flag value": {
			args: []string{"--host", "--", "x", "--json"},
			want: parsed{positional: []string{"x"}, host: "--", json: true},
		},
		"lone dash is positional": {
			args: []string{"-", "--json"},
			want: parsed{positional: []string{"-"}, json: true},
		},
		"repeatable flag": {
			args: []string{"--env", "A=1", "x", "--env", "B=2", "--env=C=3"},
			want: parsed{positional: []string{"x"}, env: []string{"A=1", "B=2", "C=3"}},
		},
		"nothing": {
			args: nil,
			want: parsed{positional: []string{}},
		},
		"unknown flag": {
			args:    []string{"x", "--bogus"},
			wantErr: "flag provided but not defined: -bogus",
		},
		"missing value": {
			args:    []string{"x", "--host"},
			wantErr: "flag needs an argument: -host",
		},
		"bad bool": {
			args:    []string{"--json=maybe"},
			wantErr: "invalid boolean value",
		},
		"help": {
			args:    []string{"x", "--help"},
			wantErr: "help",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet("test")
			var got parsed
			fs.BoolVar(&got.json, "json", false, "")
			fs.StringVar(&got.host, "host", "", "")
			var env StringSlice
			fs.Var(&env, "env", "")
			pos, err := ParseFlags(fs, tc.args)
			switch {
			case tc.wantErr == "help":
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, want flag.ErrHelp", err)
				}
				return
			case tc.wantErr != "":
				var usage *UsageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a *UsageError containing %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("ParseFlags: %v", err)
			}
			got.positional, got.env = pos, env
			if !slices.Equal(got.positional, tc.want.positional) || got.json != tc.want.json ||
				got.host != tc.want.host || !slices.Equal(got.env, tc.want.env) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		content string
		want    string
		wantErr string
	}{
		"newline":              {content: "s3cret\n", want: "s3cret"},
		"crlf":                 {content: "s3cret\r\n", want: "s3cret"},
		"no newline":           {content: "s3cret", want: "s3cret"},
		"only one is stripped": {content: "s3cret\n\n", want: "s3cret\n"},
		"inner spaces kept":    {content: " a b \n", want: " a b "},
		"empty":                {content: "", wantErr: "empty"},
		"just a newline":       {content: "\n", wantErr: "empty"},
		"too big":              {content: strings.Repeat("x", maxSecretFile+1), wantErr: "more than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, src := range []struct{ path, stdin string }{{path, ""}, {"-", tc.content}} {
				env := (&Env{Stdin: strings.NewReader(src.stdin)}).complete()
				got, err := readSecretFile(env, src.path)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("%s: err = %v, want one containing %q", src.path, err, tc.wantErr)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Errorf("%s: got %q, %v; want %q", src.path, got, err, tc.want)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		_, err := readSecretFile((&Env{}).complete(), filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want one wrapping os.ErrNotExist", err)
		}
	})
}

func TestParseTimeFlag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in, want string
	}{
		"rfc3339":         {"2026-01-02T15:04:05Z", "2026-01-02T15:04:05Z"},
		"rfc3339 offset":  {"2026-01-02T16:04:05+01:00", "2026-01-02T15:04:05Z"},
		"duration ago":    {"24h", "2026-03-09T12:00:00Z"},
		"minutes ago":     {"90m", "2026-03-10T10:30:00Z"},
		"days ago":        {"7d", "2026-03-03T12:00:00Z"},
		"date (local)":    {"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local).UTC().Format(time.RFC3339)},
		"garbage":         {"yesterday", ""},
		"negative":        {"-1h", ""},
		"negative days":   {"-3d", ""},
		"fractional days": {"1.5d", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTimeFlag("since", tc.in, now)
			if tc.want == "" {
				var usage *UsageError
				if !errors.As(err, &usage) {
					t.Errorf("parseTimeFlag(%q) = %q, %v; want a usage error", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseTimeFlag(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
