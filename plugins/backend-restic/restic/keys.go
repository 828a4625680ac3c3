package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Key kinds: the repository's keys (passwords). A key_add gives an agent a
// password of its own for one job, which a key_remove takes away again.
const (
	KindKeyAdd    Kind = "key-add"
	KindKeyRemove Kind = "key-remove"
	// kindKeyList and kindListKeys are the look-ups addKey may need to find
	// the new key's id; they are not jobs of their own.
	kindKeyList  Kind = "key-list"
	kindListKeys Kind = "list-keys"
)

var (
	// ErrKeyInUse means a key_remove named the key the job opens the
	// repository with, which restic refuses to remove.
	ErrKeyInUse = errors.New("the key to remove is the one this job opens the repository with; " +
		"remove it with another key's password")
	// ErrNoKeyID means restic added a key but neither its output nor the
	// repository's key list told which one.
	ErrNoKeyID = errors.New("restic added the key but did not say its id")
)

// KeyAddJob adds a key whose password is NewPassword (`restic key add`).
// The password reaches restic through a file only it and the agent's user
// can read (--new-password-file), in a private directory that is removed
// when restic has ended, also when the job is cancelled; it is scrubbed
// from every event.
type KeyAddJob struct {
	// NewPassword is the new key's password. restic trims the file it
	// reads it from, so it may not start or end with white space.
	NewPassword string
	// Host and User label the key (restic's --host and --user); empty:
	// restic's defaults, this host and user.
	Host, User string
}

// KeyRemoveJob removes the key ID (`restic key remove`). A key that does
// not exist (any more) is no error: KeyResult.AlreadyGone says so.
type KeyRemoveJob struct {
	// ID is the key's id, or a prefix of it that names one key: 8 to 64
	// hexadecimal digits.
	ID string
}

// KeyResult is what a key job did: the id of the key added or removed, and
// for a removal whether it was gone already.
type KeyResult struct {
	Meta
	KeyID       string `json:"key_id"`
	AlreadyGone bool   `json:"already_gone,omitempty"`
}

func (KeyAddJob) Kind() Kind    { return KindKeyAdd }
func (KeyRemoveJob) Kind() Kind { return KindKeyRemove }

// args builds `key add` without the password file, which exec adds. The
// subcommand comes first: restic >= 0.17 has `key add` as a command of its
// own, older ones read "add" as key's argument and its flags either way.
func (j KeyAddJob) args(Version) ([]string, error) {
	errs := []error{value("host", j.Host), value("user", j.User)}
	switch pw := j.NewPassword; {
	case pw == "":
		errs = append(errs, invalid("key add needs the new key's password"))
	case strings.TrimSpace(pw) != pw:
		errs = append(errs, invalid("the new key's password starts or ends with white space, which restic would drop"))
	case strings.ContainsRune(pw, 0):
		errs = append(errs, invalid("the new key's password contains a NUL byte"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &argv{a: []string{"key", "add", "--json"}}
	a.str("host", j.Host)
	a.str("user", j.User)
	return a.list(), nil
}

var keyIDRE = regexp.MustCompile(`^[0-9a-f]{8,64}$`)

func (j KeyRemoveJob) args(Version) ([]string, error) {
	if !keyIDRE.MatchString(j.ID) {
		return nil, invalid(fmt.Sprintf("key id %q is not 8 to 64 lower-case hexadecimal digits", j.ID))
	}
	a := &argv{a: []string{"key", "remove", "--json"}}
	return a.pos(j.ID).list(), nil
}

// savedKeyRE is how restic >= 0.17 reports the key it added; older
// releases print the key's user, host and time, not its id.
var savedKeyRE = regexp.MustCompile(`^saved new key with ID ([0-9a-f]{64})$`)

// addKey runs a KeyAddJob: the password goes to restic in a private file,
// and the new key's id comes from restic's output or, when that does not
// carry it (restic < 0.17), from the repository's keys opened with the new
// password.
func (r *Runner) addKey(ctx context.Context, repo Repository, j KeyAddJob, args []string, emit func(Event) error) (Result, error) {
	if j.NewPassword == repo.Password {
		return Result{}, fmt.Errorf("restic %s: %w", KindKeyAdd, invalid("the new key's password is the repository's password"))
	}
	dir, err := os.MkdirTemp("", "restic-manager-key-")
	if err != nil {
		return Result{}, fmt.Errorf("restic %s: password file: %w", KindKeyAdd, err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			r.log.Warn("cannot remove the new key's password file", "dir", dir, "error", err)
		}
	}()
	file := filepath.Join(dir, "new-password")
	if err := os.WriteFile(file, []byte(j.NewPassword), 0o600); err != nil {
		return Result{}, fmt.Errorf("restic %s: password file: %w", KindKeyAdd, err)
	}
	args = append(args, "--new-password-file="+file)

	var id string
	watch := func(ev Event) error {
		if l, ok := ev.(*LogLine); ok && l.Stream == Stdout {
			if m := savedKeyRE.FindStringSubmatch(strings.TrimSpace(l.Text)); m != nil {
				id = m[1]
			}
		}
		if emit == nil {
			return nil
		}
		return emit(ev)
	}
	res, err := r.exec(ctx, repo, nil, KindKeyAdd, args, false, watch, j.NewPassword)
	if err != nil {
		return res, err
	}
	if id == "" {
		if id, err = r.keyIDByPassword(ctx, repo, j.NewPassword); err != nil {
			return res, fmt.Errorf("restic %s: %w: %w", KindKeyAdd, ErrNoKeyID, err)
		}
	}
	res.Events++
	kr := &KeyResult{Meta: Meta{Seq: res.Events}, KeyID: id}
	if emit != nil {
		if err := emit(kr); err != nil {
			return res, fmt.Errorf("restic %s: emit: %w", KindKeyAdd, err)
		}
	}
	return res, nil
}

// keyIDByPassword finds the full id of the key that password opens: the
// "current" key of `key list` run with it, completed from `list keys`
// when restic shortens it.
func (r *Runner) keyIDByPassword(ctx context.Context, repo Repository, password string) (string, error) {
	repo.Password, repo.PasswordCommand = password, ""
	repo.Env = withoutPasswordEnv(repo.Env)
	var keys []struct {
		Current bool   `json:"current"`
		ID      string `json:"id"`
	}
	out, err := r.stdoutOf(ctx, repo, kindKeyList, []string{"key", "list", "--json"})
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &keys); err != nil {
		return "", fmt.Errorf("key list: %w", err)
	}
	short := ""
	for _, k := range keys {
		if k.Current {
			short = k.ID
		}
	}
	switch {
	case !keyIDRE.MatchString(short):
		return "", fmt.Errorf("key list names no current key")
	case len(short) == 64:
		return short, nil
	}
	out, err = r.stdoutOf(ctx, repo, kindListKeys, []string{"list", "keys"})
	if err != nil {
		return "", err
	}
	full := ""
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, short) && keyIDRE.MatchString(line) {
			if full != "" {
				return "", fmt.Errorf("more than one key starts with %s", short)
			}
			full = line
		}
	}
	if len(full) != 64 {
		return "", fmt.Errorf("list keys has no key starting with %s", short)
	}
	return full, nil
}

// stdoutOf runs restic and returns what it printed on stdout.
func (r *Runner) stdoutOf(ctx context.Context, repo Repository, kind Kind, args []string) (string, error) {
	var b strings.Builder
	_, err := r.exec(ctx, repo, nil, kind, args, false, func(ev Event) error {
		if l, ok := ev.(*LogLine); ok && l.Stream == Stdout {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		return nil
	})
	return b.String(), err
}

// withoutPasswordEnv drops the variables that would give restic another
// password than the one set in Repository.Password.
func withoutPasswordEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		switch strings.ToUpper(k) {
		case "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND":
			continue
		}
		out[k] = v
	}
	return out
}

// removeKey runs a KeyRemoveJob. restic's "no matching ID found" means the
// key is gone already, which is what the job wanted; its refusal to remove
// the key in use is ErrKeyInUse.
func (r *Runner) removeKey(ctx context.Context, repo Repository, j KeyRemoveJob, args []string, emit func(Event) error) (Result, error) {
	// restic's exit_error for a key that is not there becomes a log line:
	// the job succeeds.
	forward := func(ev Event) error {
		if e, ok := ev.(*Error); ok && e.During == "exit" && strings.Contains(strings.ToLower(e.Message), "no matching id found") {
			ev = &LogLine{Meta: e.Meta, Stream: Stderr, Text: "restic found no key " + j.ID + ": it was removed already"}
		}
		if emit == nil {
			return nil
		}
		return emit(ev)
	}
	res, err := r.exec(ctx, repo, nil, KindKeyRemove, args, false, forward)
	kr := &KeyResult{KeyID: j.ID}
	var ee *ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Code == ExitFatal && strings.Contains(strings.ToLower(ee.Message), "no matching id found"):
		kr.AlreadyGone = true
		res.ExitCode = ExitOK
		r.log.Debug("the key to remove was gone already", "key_id", j.ID)
	case errors.As(err, &ee) && ee.Code == ExitFatal && strings.Contains(strings.ToLower(ee.Message), "refusing to remove key currently used"):
		return res, fmt.Errorf("restic %s: %w (%w)", KindKeyRemove, ErrKeyInUse, err)
	default:
		return res, err
	}
	res.Events++
	kr.Seq = res.Events
	if emit != nil {
		if err := emit(kr); err != nil {
			return res, fmt.Errorf("restic %s: emit: %w", KindKeyRemove, err)
		}
	}
	return res, nil
}
