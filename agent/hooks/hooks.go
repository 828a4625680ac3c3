// Package hooks runs a job's pre- and post-hooks on the agent: a command
// the admin wrote, given to the host's shell as one argument (sh -c on
// Linux and macOS, PowerShell -Command on Windows), never spliced into a
// command line.
//
// A hook runs in a process group of its own (a job object on Windows)
// with a minimal environment: the agent's PATH, HOME, locale and temp
// directory (on Windows the system and profile variables), the job's
// RM_JOB_ID, RM_JOB_KIND, RM_SCHEDULE and, for a post-hook, RM_JOB_STATUS,
// and the hook's own Env; nothing else of the agent's environment. Its
// stdout and stderr are read as one stream, line by line, each line
// passed on with the "[hook] " prefix; lines and bytes are capped and a
// last "… output truncated" line says how much was left out. When the
// timeout passes (or ctx is done) the whole group gets SIGTERM, then
// SIGKILL after the kill grace, children and grandchildren included (on
// Windows the job object is terminated at once). A process that leaves
// the group on purpose (setsid, a double fork into a new session) is not
// followed; start long-lived services through the service manager.
//
// A hook that exits normally leaves whatever it started in the background
// running (a post-hook that starts a service again), as long as that
// process does not keep the hook's output open: redirect its output
// (`cmd >/dev/null 2>&1 &`), or Run stops reading it after WaitDelay.
//
// Run is standalone: the agent's scheduler calls it around a job, aborts
// the job when a pre-hook fails (reason "pre-hook failed") and always runs
// the post-hook.
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults for the Hook fields left zero.
const (
	DefaultTimeout   = 5 * time.Minute
	DefaultKillGrace = 5 * time.Second
	DefaultMaxLines  = 1000
	DefaultMaxBytes  = 64 << 10
	// MaxLineBytes cuts a longer line (it counts against MaxBytes as cut).
	MaxLineBytes = 4 << 10
	// WaitDelay is how long Run keeps reading output after the hook's
	// shell has exited, for background processes that still hold it.
	WaitDelay = 2 * time.Second
	// Prefix starts every line Run passes on.
	Prefix = "[hook] "
	// Environment variables a hook sees.
	EnvJobID     = "RM_JOB_ID"
	EnvJobKind   = "RM_JOB_KIND"
	EnvSchedule  = "RM_SCHEDULE"
	EnvJobStatus = "RM_JOB_STATUS"
)

var (
	// ErrNoCommand means the hook has no command.
	ErrNoCommand = errors.New("hook has no command")
	// ErrFailed means the hook exited with a code other than 0.
	ErrFailed = errors.New("hook failed")
	// ErrTimeout means the hook ran past its timeout and its process
	// group was killed.
	ErrTimeout = errors.New("hook timed out")
	// ErrInvalid means the hook's shell or environment is malformed.
	ErrInvalid = errors.New("invalid hook")
)

// Hook is one command to run.
type Hook struct {
	// Command is the hook's text, handed to the shell as its last
	// argument, as written.
	Command string
	// Shell is the shell's argv, before the command; nil is DefaultShell.
	// The host's configuration chooses it (e.g. ["bash", "-c"] or
	// ["pwsh", "-NoProfile", "-NonInteractive", "-Command"]).
	Shell []string
	// Timeout bounds the hook's run; zero is DefaultTimeout.
	Timeout time.Duration
	// Env is added to the minimal environment (see the package doc): the
	// job's variables from Job.Env and any the hook's configuration sets.
	Env map[string]string
	// Dir is the working directory; empty is the agent's.
	Dir string
	// KillGrace is how long the group has between SIGTERM and SIGKILL
	// after the timeout; zero is DefaultKillGrace.
	KillGrace time.Duration
	// MaxLines and MaxBytes cap the output passed on; zero is
	// DefaultMaxLines and DefaultMaxBytes.
	MaxLines int
	MaxBytes int
}

// Job names the job a hook runs for.
type Job struct {
	ID       string
	Kind     string // backup, forget, …
	Schedule string // the schedule's id; empty for a job run by hand
}

// Env is the job's variables for a hook: RM_JOB_ID, RM_JOB_KIND and
// RM_SCHEDULE, and for a post-hook (status not empty) RM_JOB_STATUS, the
// job's status (succeeded, failed, cancelled, …).
func (j Job) Env(status string) map[string]string {
	env := map[string]string{EnvJobID: j.ID, EnvJobKind: j.Kind, EnvSchedule: j.Schedule}
	if status != "" {
		env[EnvJobStatus] = status
	}
	return env
}

// DefaultShell is the shell a hook runs with when its host sets none:
// PowerShell on Windows, sh elsewhere.
func DefaultShell() []string {
	if runtime.GOOS == "windows" {
		return []string{"powershell.exe", "-NoProfile", "-NonInteractive", "-Command"}
	}
	return []string{"/bin/sh", "-c"}
}

// Run runs h and passes each line of its output to output (which may be
// nil), prefixed with Prefix, from one goroutine at a time. It returns the
// hook's exit code: 0 and a nil error when it succeeded; its code and an
// error wrapping ErrFailed when it exited otherwise; -1 and an error
// wrapping ErrTimeout, ctx's error, or the reason it could not start.
func Run(ctx context.Context, h Hook, output func(line string)) (int, error) {
	h = h.withDefaults()
	if strings.TrimSpace(h.Command) == "" {
		return -1, ErrNoCommand
	}
	if err := h.validate(); err != nil {
		return -1, err
	}
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("hook not started: %w", err)
	}
	out := newCapture(output, h.MaxLines, h.MaxBytes)
	// G204: the shell and the command are the admin's configuration; the
	// command is one argument, never parsed by us.
	cmd := exec.Command(h.Shell[0], append(h.Shell[1:len(h.Shell):len(h.Shell)], h.Command)...) //nolint:gosec
	cmd.Env = minimalEnv(os.Environ(), h.Env)
	cmd.Dir = h.Dir
	cmd.Stdout, cmd.Stderr = out, out // one pipe: the lines keep their order
	cmd.WaitDelay = WaitDelay
	prepare(cmd)
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start hook with %s: %w", h.Shell[0], err)
	}
	group, gerr := newGroup(cmd)
	defer group.close()
	if gerr != nil {
		out.note(fmt.Sprintf("hook runs without a process group (%v); a timeout may leave its children", gerr))
	}

	waitCh := make(chan error, 1)
	go func() { waitCh <- cmd.Wait() }()
	timer := time.NewTimer(h.Timeout)
	defer timer.Stop()

	var (
		waitErr error
		stopped error
	)
	select {
	case waitErr = <-waitCh:
	case <-timer.C:
		stopped = fmt.Errorf("%w after %s; its process group was killed", ErrTimeout, h.Timeout)
		waitErr = group.stop(h.KillGrace, waitCh)
	case <-ctx.Done():
		stopped = fmt.Errorf("hook stopped, its process group killed: %w", ctx.Err())
		waitErr = group.stop(h.KillGrace, waitCh)
	}
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		out.note(fmt.Sprintf("output still open %s after the hook exited (a background process holds it); "+
			"stopped reading it: redirect the output of what the hook starts", WaitDelay))
	}
	out.close()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	switch {
	case stopped != nil:
		return -1, stopped
	case code == 0:
		return 0, nil
	case code > 0:
		return code, fmt.Errorf("%w: exit code %d", ErrFailed, code)
	default:
		return -1, fmt.Errorf("%w: %w", ErrFailed, waitErr)
	}
}

func (h Hook) withDefaults() Hook {
	if len(h.Shell) == 0 {
		h.Shell = DefaultShell()
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultTimeout
	}
	if h.KillGrace <= 0 {
		h.KillGrace = DefaultKillGrace
	}
	if h.MaxLines <= 0 {
		h.MaxLines = DefaultMaxLines
	}
	if h.MaxBytes <= 0 {
		h.MaxBytes = DefaultMaxBytes
	}
	return h
}

func (h Hook) validate() error {
	var errs []error
	if h.Shell[0] == "" {
		errs = append(errs, fmt.Errorf("%w: the shell is empty", ErrInvalid))
	}
	for _, a := range append(append([]string(nil), h.Shell...), h.Command, h.Dir) {
		if strings.ContainsRune(a, 0) {
			errs = append(errs, fmt.Errorf("%w: a NUL byte in the shell, command or directory", ErrInvalid))
			break
		}
	}
	for k, v := range h.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			errs = append(errs, fmt.Errorf("%w: environment variable %q", ErrInvalid, k))
		}
	}
	return errors.Join(errs...)
}

// inheritedEnv are the agent's variables a hook inherits.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

// inheritedEnvWindows are the Windows variables programs and PowerShell
// need to find the system, the profile, temp directories and modules.
var inheritedEnvWindows = []string{
	"SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT", "TEMP", "TMP",
	"USERPROFILE", "USERNAME", "USERDOMAIN", "COMPUTERNAME", "APPDATA", "LOCALAPPDATA",
	"ProgramData", "ProgramFiles", "ProgramFiles(x86)", "CommonProgramFiles", "PSModulePath",
	"PROCESSOR_ARCHITECTURE", "NUMBER_OF_PROCESSORS",
}

// defaultPath is PATH for a hook when the agent has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// minimalEnv is the allowed part of parent (os.Environ() form), then
// extra (sorted by name, so the result is stable).
func minimalEnv(parent []string, extra map[string]string) []string {
	allowed := inheritedEnv
	if runtime.GOOS == "windows" {
		allowed = append(append([]string(nil), inheritedEnv...), inheritedEnvWindows...)
	}
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		key := envKey(k)
		if _, ok := vals[key]; !ok {
			order = append(order, k)
		}
		vals[key] = v
	}
	for _, kv := range parent {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		for _, a := range allowed {
			if envKey(k) == envKey(a) {
				set(k, v)
				break
			}
		}
	}
	if _, ok := vals[envKey("PATH")]; !ok && runtime.GOOS != "windows" {
		set("PATH", defaultPath)
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, extra[k])
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[envKey(k)])
	}
	return out
}

func envKey(k string) string {
	if runtime.GOOS == "windows" {
		return strings.ToUpper(k)
	}
	return k
}

// capture splits the hook's output into lines and passes them on with
// the prefix, up to the caps; past them it counts what it drops and keeps
// reading, so the hook never blocks on a full pipe.
type capture struct {
	emit     func(string)
	maxLines int
	maxBytes int

	mu        sync.Mutex
	buf       []byte
	cut       bool
	lines     int
	bytes     int
	truncated bool
	dropLines int
	dropBytes int64
}

func newCapture(emit func(string), maxLines, maxBytes int) *capture {
	if emit == nil {
		emit = func(string) {}
	}
	return &capture{emit: emit, maxLines: maxLines, maxBytes: maxBytes}
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := max(MaxLineBytes-len(c.buf), 0); len(chunk) > room {
			c.cut = true
			chunk = chunk[:room]
		}
		c.buf = append(c.buf, chunk...)
		if i < 0 {
			break
		}
		c.flushLine()
		p = p[i+1:]
	}
	return n, nil
}

// flushLine passes the buffered line on (or counts it as dropped).
func (c *capture) flushLine() {
	text := strings.ToValidUTF8(strings.TrimRight(string(c.buf), "\r"), "\uFFFD")
	cut := c.cut
	c.buf, c.cut = c.buf[:0], false
	if cut {
		text += " …[line cut]"
	}
	if c.truncated || c.lines >= c.maxLines || c.bytes+len(text) > c.maxBytes {
		c.truncated = true
		c.dropLines++
		c.dropBytes += int64(len(text))
		return
	}
	c.lines++
	c.bytes += len(text)
	c.emit(Prefix + text)
}

// note passes on a line of Run's own, outside the caps.
func (c *capture) note(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emit(Prefix + text)
}

// close passes on the last line without a newline, and the truncation
// marker.
func (c *capture) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 || c.cut {
		c.flushLine()
	}
	if c.truncated {
		c.emit(Prefix + fmt.Sprintf("… output truncated: %d more lines (%d bytes) not shown; the caps are %d lines and %d bytes",
			c.dropLines, c.dropBytes, c.maxLines, c.maxBytes))
		c.truncated = false
	}
}
