// Package cli is the restic-manager command line: a dispatcher for
// Nomad-style subcommands ("restic-manager user list") and the operator
// commands that talk to a server's HTTP API.
//
// The binary's main is one line:
//
//	os.Exit(cli.Main(ctx, os.Args[1:], cli.StdEnv(), cli.Commands(extra...)...))
//
// where extra holds commands defined elsewhere (the server itself). Every
// command reads and writes only through its Env, so tests run commands
// in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// progName is how help and error messages name the binary.
const progName = "restic-manager"

// Exit codes. They are part of the command-line contract (docs/cli.md).
const (
	exitOK    = 0 // success, or help was asked for
	exitError = 1 // the command failed, or the command is unknown
	exitUsage = 2 // bad flags or arguments for a known command
)

// Env is everything a command may touch outside itself: the standard
// streams and the environment. Commands never use os.Stdout, os.Getenv and
// friends directly, so tests can run them in-process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// StdEnv returns the process's real streams and environment.
func StdEnv() *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// complete returns a copy of env with every nil field filled in, so
// commands never check for nil: no input, discarded output, an empty
// environment.
func (env *Env) complete() *Env {
	var out Env
	if env != nil {
		out = *env
	}
	if out.Stdin == nil {
		out.Stdin = strings.NewReader("")
	}
	if out.Stdout == nil {
		out.Stdout = io.Discard
	}
	if out.Stderr == nil {
		out.Stderr = io.Discard
	}
	if out.Getenv == nil {
		out.Getenv = func(string) string { return "" }
	}
	return &out
}

// Command is one subcommand.
type Command struct {
	// Name is the words that select the command, such as "user list".
	Name string
	// Synopsis is one line for the command list.
	Synopsis string
	// Usage is the full help: a "Usage: restic-manager NAME ..." line, a
	// description, flags, environment variables and an example. Main prints
	// it for "NAME --help", "NAME -h" and "help NAME".
	Usage string
	// Run does the work. args are what follows the command's words. An
	// error is printed as one "Error: ..." line; a *UsageError (as
	// ParseFlags returns) also points at the help and exits 2.
	Run func(ctx context.Context, env *Env, args []string) error
	// Hidden commands are left out of the command lists and suggestions
	// (but answer --help): plumbing such as "plugin serve", which the
	// server runs itself.
	Hidden bool
}

// Commands returns the built-in commands plus extra, sorted by name. An
// extra command with the name of a built-in one replaces it.
func Commands(extra ...Command) []Command {
	builtin := []Command{
		alertAckCommand(),
		alertListCommand(),
		alertResolveCommand(),
		alertRuleCreateCommand(),
		alertRuleDeleteCommand(),
		alertRuleListCommand(),
		alertShowCommand(),
		auditListCommand(),
		bootstrapCommand(),
		channelCreateCommand(),
		channelDeleteCommand(),
		channelListCommand(),
		channelTestCommand(),
		channelUpdateCommand(),
		configValidateCommand(),
		diffCommand(),
		enrollTokenCreateCommand(),
		enrollTokenListCommand(),
		enrollTokenRevokeCommand(),
		hostHooksClearCommand(),
		hostHooksSetCommand(),
		hostHooksShowCommand(),
		hostListCommand(),
		hostRemoveCommand(),
		hostShowCommand(),
		jobCancelCommand(),
		jobListCommand(),
		jobLogsCommand(),
		jobRunCommand(),
		jobShowCommand(),
		jobWaitCommand(),
		pluginListCommand(),
		repoAddCommand(),
		repoInitCommand(),
		repoListCommand(),
		repoRemoveCommand(),
		repoShowCommand(),
		repoUpdateCommand(),
		restoreCommand(),
		scheduleCreateCommand(),
		scheduleDeleteCommand(),
		scheduleListCommand(),
		scheduleShowCommand(),
		scheduleUpdateCommand(),
		snapshotListCommand(),
		snapshotLsCommand(),
		tokenCreateCommand(),
		tokenListCommand(),
		tokenRevokeCommand(),
		userCreateCommand(),
		userDeleteCommand(),
		userDisableCommand(),
		userEnableCommand(),
		userListCommand(),
		userPasswdCommand(),
		userShowCommand(),
		versionCommand(),
		whoamiCommand(),
	}
	return newRegistry(append(builtin, extra...)).cmds
}

// Main runs the command that args select and returns the process exit code:
// 0 on success or help, 1 when the command fails or is unknown, 2 when a
// known command gets bad flags or arguments.
func Main(ctx context.Context, args []string, env *Env, cmds []Command) int {
	env = env.complete()
	r := newRegistry(cmds)
	if len(args) == 0 {
		r.writeList(env.Stdout)
		return exitOK
	}
	switch args[0] {
	case "-h", "-help", "--help":
		r.writeList(env.Stdout)
		return exitOK
	case "-v", "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	case "help":
		return r.help(env, args[1:])
	}
	cmd, rest, ok := r.find(args)
	if !ok {
		return r.notFound(env, args)
	}
	if wantsHelp(rest) {
		writeUsage(env.Stdout, cmd)
		return exitOK
	}
	if cmd.Run == nil {
		fmt.Fprintf(env.Stderr, "Error: command %q cannot run\n", cmd.Name)
		return exitError
	}
	return report(env, cmd, cmd.Run(ctx, env, rest))
}

// report prints err as a single line and picks the exit code.
func report(env *Env, cmd Command, err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		writeUsage(env.Stdout, cmd)
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(env.Stderr, "Error: %s; run \"%s %s --help\"\n", oneLine(err.Error()), progName, cmd.Name)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(env.Stderr, "Error: interrupted")
		return exitError
	default:
		fmt.Fprintf(env.Stderr, "Error: %s\n", oneLine(err.Error()))
		return exitError
	}
}

// oneLine folds s onto a single line: an error is always one line of output.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func writeUsage(w io.Writer, cmd Command) {
	u := cmd.Usage
	if u == "" {
		u = fmt.Sprintf("Usage: %s %s\n\n  %s\n", progName, cmd.Name, cmd.Synopsis)
	}
	if !strings.HasSuffix(u, "\n") {
		u += "\n"
	}
	fmt.Fprint(w, u)
}

// registry looks commands up by their words.
type registry struct {
	cmds   []Command
	byName map[string]Command
}

func newRegistry(cmds []Command) *registry {
	r := &registry{byName: make(map[string]Command, len(cmds))}
	for _, c := range cmds {
		if c.Name != "" {
			r.byName[c.Name] = c // the last definition of a name wins
		}
	}
	for _, c := range r.byName {
		r.cmds = append(r.cmds, c)
	}
	slices.SortFunc(r.cmds, func(a, b Command) int { return strings.Compare(a.Name, b.Name) })
	return r
}

// leadingWords returns the arguments before the first flag: the words that
// can name a command.
func leadingWords(args []string) []string {
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return args[:i]
		}
	}
	return args
}

// find returns the command with the longest name that args start with, and
// the arguments after its words.
func (r *registry) find(args []string) (Command, []string, bool) {
	words := leadingWords(args)
	for k := len(words); k > 0; k-- {
		if c, ok := r.byName[strings.Join(words[:k], " ")]; ok {
			return c, args[k:], true
		}
	}
	return Command{}, nil, false
}

// isGroup reports whether prefix is the leading words of some command, such
// as "user" for "user list".
func (r *registry) isGroup(prefix string) bool {
	for _, c := range r.cmds {
		if strings.HasPrefix(c.Name, prefix+" ") {
			return true
		}
	}
	return false
}

// groups returns every group name, such as "user" and "alert rule".
func (r *registry) groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range r.cmds {
		words := strings.Fields(c.Name)
		for k := 1; k < len(words); k++ {
			g := strings.Join(words[:k], " ")
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
		}
	}
	return out
}

// help serves "restic-manager help [COMMAND...]".
func (r *registry) help(env *Env, args []string) int {
	if len(leadingWords(args)) == 0 {
		r.writeList(env.Stdout)
		return exitOK
	}
	if cmd, rest, ok := r.find(args); ok && len(leadingWords(rest)) == 0 {
		writeUsage(env.Stdout, cmd)
		return exitOK
	}
	return r.notFound(env, args)
}

// notFound handles args that select no command: the words of a group print
// the group's subcommands; anything else is an unknown command.
func (r *registry) notFound(env *Env, args []string) int {
	words := leadingWords(args)
	if len(words) == 0 {
		fmt.Fprintf(env.Stderr, "%s: unknown flag %q; run \"%s --help\"\n", progName, args[0], progName)
		return exitError
	}
	depth := 0
	for depth < len(words) && r.isGroup(strings.Join(words[:depth+1], " ")) {
		depth++
	}
	if depth == len(words) {
		group := strings.Join(words, " ")
		if rest := args[len(words):]; len(rest) == 0 || wantsHelp(rest) {
			r.writeGroup(env.Stdout, group)
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "%s: %q needs a subcommand; run \"%s %s --help\"\n", progName, group, progName, group)
		return exitError
	}
	unknown := strings.Join(words[:depth+1], " ")
	if s := r.suggest(unknown); s != "" {
		fmt.Fprintf(env.Stderr, "%s: unknown command %q (did you mean %q?); run \"%s --help\"\n", progName, unknown, s, progName)
	} else {
		fmt.Fprintf(env.Stderr, "%s: unknown command %q; run \"%s --help\"\n", progName, unknown, progName)
	}
	return exitError
}

// suggest returns the command or group name closest to a mistyped one, or
// "" when nothing is close enough to be a likely typo.
func (r *registry) suggest(typed string) string {
	names := r.groups()
	for _, c := range r.cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	best, bestDist := "", 0
	for _, n := range names {
		d := editDistance(typed, n)
		if d > max(2, len(n)/3) {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// writeList prints the top-level help: every command with its synopsis.
func (r *registry) writeList(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [args] [flags]\n\n", progName)
	fmt.Fprintf(w, "%s runs the restic-manager server and operates it from the command line.\n\n", progName)
	fmt.Fprintln(w, "Commands:")
	r.writeCommands(w, "")
	fmt.Fprintf(w, "\nEnvironment:\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "    %s\tServer address for API commands (default %s).\n", envAddr, defaultAddr)
	fmt.Fprintf(tw, "    %s\tAPI token for API commands.\n", envToken)
	_ = tw.Flush()
	fmt.Fprintf(w, "\nRun \"%s <command> --help\" (or \"%s help <command>\") for a command's flags and examples.\n", progName, progName)
}

// writeGroup prints the subcommands of group, such as "user".
func (r *registry) writeGroup(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: %s %s <subcommand> [args] [flags]\n\n", progName, group)
	fmt.Fprintln(w, "Subcommands:")
	r.writeCommands(w, group+" ")
	fmt.Fprintf(w, "\nRun \"%s %s <subcommand> --help\" for a subcommand's flags and examples.\n", progName, group)
}

// writeCommands prints the commands whose names start with prefix, without
// the prefix, one per line with their synopsis.
func (r *registry) writeCommands(w io.Writer, prefix string) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for _, c := range r.cmds {
		if strings.HasPrefix(c.Name, prefix) && !c.Hidden {
			fmt.Fprintf(tw, "    %s\t%s\n", strings.TrimPrefix(c.Name, prefix), c.Synopsis)
		}
	}
	_ = tw.Flush()
}
