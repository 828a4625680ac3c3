package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// result is what a user sees of one run.
type result struct {
	code           int
	stdout, stderr string
}

// invocation is one run of the CLI in-process.
type invocation struct {
	env   map[string]string
	stdin string
	cmds  []Command // nil: Commands()
}

func (in invocation) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{
		Stdin:  strings.NewReader(in.stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return in.env[k] },
	}
	cmds := in.cmds
	if cmds == nil {
		cmds = Commands()
	}
	code := Main(context.Background(), args, env, cmds)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// run runs the CLI with an empty environment.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return invocation{}.run(t, args...)
}

func TestTopLevelHelp(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"no args": nil,
		"--help":  {"--help"},
		"-h":      {"-h"},
		"help":    {"help"},
		"help -h": {"help", "-h"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
			}
			for _, c := range Commands() {
				if !strings.Contains(r.stdout, c.Name) || !strings.Contains(r.stdout, c.Synopsis) {
					t.Errorf("command list lacks %q with its synopsis:\n%s", c.Name, r.stdout)
				}
			}
			for _, want := range []string{"Usage: restic-manager <command>", "RM_ADDR", "RM_TOKEN"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("command list lacks %q", want)
				}
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range Commands() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			words := strings.Fields(c.Name)
			usageLine := "Usage: restic-manager " + c.Name
			if !strings.HasPrefix(c.Usage, usageLine) {
				t.Errorf("Usage does not start with %q:\n%s", usageLine, c.Usage)
			}
			if !strings.Contains(c.Usage, "Example") {
				t.Errorf("Usage has no example:\n%s", c.Usage)
			}
			for _, args := range [][]string{
				append(append([]string{}, words...), "--help"),
				append(append([]string{}, words...), "-h"),
				append([]string{"help"}, words...),
				// Help wins over everything else on the line.
				append(append([]string{}, words...), "x", "--bogus", "--help"),
			} {
				r := run(t, args...)
				if r.code != 0 || r.stderr != "" {
					t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, r.code, r.stderr)
				}
				if r.stdout != c.Usage {
					t.Errorf("%q printed\n%s\nwant the command's Usage", args, r.stdout)
				}
			}
		})
	}
}

func TestGroupListsSubcommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"user"}, {"user", "--help"}, {"help", "user"}} {
		r := run(t, args...)
		if r.code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, sub := range []string{"list", "create", "disable", "enable", "delete", "show"} {
			if !strings.Contains(r.stdout, "    "+sub+" ") {
				t.Errorf("%q: no %q in\n%s", args, sub, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "token") {
			t.Errorf("%q lists commands outside the group:\n%s", args, r.stdout)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args   []string
		stderr string
	}{
		"unknown": {
			args:   []string{"frobnicate"},
			stderr: `restic-manager: unknown command "frobnicate"; run "restic-manager --help"` + "\n",
		},
		"typo of a group": {
			args:   []string{"usr", "list"},
			stderr: `restic-manager: unknown command "usr" (did you mean "user"?); run "restic-manager --help"` + "\n",
		},
		"typo of a subcommand": {
			args:   []string{"user", "lsit", "--json"},
			stderr: `restic-manager: unknown command "user lsit" (did you mean "user list"?); run "restic-manager --help"` + "\n",
		},
		"help for an unknown command": {
			args:   []string{"help", "frobnicate"},
			stderr: `restic-manager: unknown command "frobnicate"; run "restic-manager --help"` + "\n",
		},
		"unknown top-level flag": {
			args:   []string{"--frobnicate"},
			stderr: `restic-manager: unknown flag "--frobnicate"; run "restic-manager --help"` + "\n",
		},
		"group with a flag but no subcommand": {
			args:   []string{"user", "--json"},
			stderr: `restic-manager: "user" needs a subcommand; run "restic-manager user --help"` + "\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.args...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if r.stderr != tc.stderr {
				t.Errorf("stderr %q\nwant   %q", r.stderr, tc.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		want string
	}{
		"unknown flag": {
			args: []string{"user", "list", "--bogus"},
			want: `Error: flag provided but not defined: -bogus; run "restic-manager user list --help"` + "\n",
		},
		"missing argument": {
			args: []string{"user", "disable"},
			want: `Error: missing the user's ID or USERNAME; run "restic-manager user disable --help"` + "\n",
		},
		"extra argument": {
			args: []string{"user", "list", "alice"},
			want: `Error: unexpected argument "alice"; run "restic-manager user list --help"` + "\n",
		},
		"required flags": {
			args: []string{"user", "create", "--role", "admin"},
			want: `Error: --username, --password-file are required; run "restic-manager user create --help"` + "\n",
		},
		"bad role": {
			args: []string{"user", "create", "--username", "a", "--password-file", "-", "--role", "root"},
			want: `Error: --role "root": want admin, operator or viewer; run "restic-manager user create --help"` + "\n",
		},
		"flag without value": {
			args: []string{"token", "create", "--name"},
			want: `Error: flag needs an argument: -name; run "restic-manager token create --help"` + "\n",
		},
		"bad ttl": {
			args: []string{"token", "create", "--name", "ci", "--ttl", "soon"},
			want: `Error: --ttl "soon": want a positive duration such as 720h or 30d; run "restic-manager token create --help"` + "\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := invocation{env: map[string]string{envToken: "rmt_x", envAddr: "http://127.0.0.1:1"}}.run(t, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if r.stderr != tc.want {
				t.Errorf("stderr %q\nwant   %q", r.stderr, tc.want)
			}
		})
	}
}

func TestExtraCommands(t *testing.T) {
	t.Parallel()
	var got []string
	server := Command{
		Name:     "server",
		Synopsis: "Run the server",
		Usage:    "Usage: restic-manager server [--config FILE]\n",
		Run: func(_ context.Context, _ *Env, args []string) error {
			got = args
			return nil
		},
	}
	failing := Command{
		Name:     "secrets rotate",
		Synopsis: "Rotate the secret key",
		Run: func(context.Context, *Env, []string) error {
			return errors.New("key file is read-only\nsecond line")
		},
	}
	cmds := Commands(server, failing)
	in := invocation{cmds: cmds}

	if r := in.run(t, "server", "--config", "x.hcl"); r.code != 0 || strings.Join(got, " ") != "--config x.hcl" {
		t.Errorf("server: exit %d, args %q", r.code, got)
	}
	r := in.run(t, "secrets", "rotate")
	if r.code != 1 || r.stderr != "Error: key file is read-only second line\n" {
		t.Errorf("secrets rotate: exit %d, stderr %q; want 1 and one line", r.code, r.stderr)
	}
	list := in.run(t).stdout
	if !strings.Contains(list, "server") || !strings.Contains(list, "secrets rotate") {
		t.Errorf("command list lacks the extra commands:\n%s", list)
	}
	for i := 1; i < len(cmds); i++ {
		if cmds[i-1].Name >= cmds[i].Name {
			t.Errorf("Commands not sorted: %q before %q", cmds[i-1].Name, cmds[i].Name)
		}
	}

	replaced := Commands(Command{Name: "version", Synopsis: "replaced", Run: func(_ context.Context, env *Env, _ []string) error {
		_, err := env.Stdout.Write([]byte("mine\n"))
		return err
	}})
	if r := (invocation{cmds: replaced}).run(t, "version"); r.stdout != "mine\n" {
		t.Errorf("an extra command did not replace the built-in one: %q", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "restic-manager ") || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	r := run(t, "version", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"version": "`) {
		t.Errorf("version --json: exit %d, stdout %q", r.code, r.stdout)
	}
}
