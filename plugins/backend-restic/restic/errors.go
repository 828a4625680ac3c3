package restic

import (
	"errors"
	"fmt"
	"strings"
)

// installHint tells an operator how to get a restic binary on this host.
const installHint = "install it with `apt-get install restic` or " +
	"`go install github.com/restic/restic/cmd/restic@v0.18.1`, " +
	"or set the backend's restic path"

var (
	// ErrNotFound means no restic binary could be found or started.
	ErrNotFound = errors.New("restic binary not found: " + installHint)
	// ErrUnknownVersion means `restic version` printed something we cannot parse.
	ErrUnknownVersion = errors.New("cannot parse restic version")
	// ErrInvalidJob means a job's options were refused before restic ran.
	ErrInvalidJob = errors.New("invalid job")
	// ErrInvalidRepository means a Repository lacks what restic needs to open it.
	ErrInvalidRepository = errors.New("invalid repository")
	// ErrRepositoryNotFound is what an ExitError with code 10 matches.
	ErrRepositoryNotFound = errors.New("repository does not exist")
	// ErrRepositoryLocked is what an ExitError with code 11 matches.
	ErrRepositoryLocked = errors.New("repository is locked")
	// ErrWrongPassword is what an ExitError with code 12 matches.
	ErrWrongPassword = errors.New("wrong repository password")
	// ErrInterrupted is what an ExitError with code 130 matches.
	ErrInterrupted = errors.New("restic was interrupted")
	// ErrOutputTooLarge means restic printed a JSON document larger than the
	// configured bound; the rest of that stream was discarded.
	ErrOutputTooLarge = errors.New("restic output document too large")
)

// Exit codes restic documents (cmd/restic/main.go, "scripting" docs).
const (
	ExitOK             = 0
	ExitFatal          = 1
	ExitIncomplete     = 3   // backup: snapshot created, some source files unreadable
	ExitNoRepository   = 10  // restic >= 0.17.0
	ExitLocked         = 11  // restic >= 0.17.0
	ExitWrongPassword  = 12  // restic >= 0.17.1
	ExitInterrupted    = 130 // SIGINT / context cancelled
	exitSignalled      = -1  // killed by a signal: no exit code
	maxStderrTailLines = 5
)

// ErrTooOld is returned when the restic binary is older than the oldest
// release restic-manager supports.
type ErrTooOld struct {
	Found Version
	Min   Version
}

func (e *ErrTooOld) Error() string {
	return fmt.Sprintf("restic %s is too old: restic-manager needs restic %s or newer; %s",
		e.Found, e.Min, installHint)
}

// ErrUnsupported is returned when a job asks for something the installed
// restic cannot do. Nothing was run.
type ErrUnsupported struct {
	Feature string
	Need    Version
	Have    Version
}

func (e *ErrUnsupported) Error() string {
	return fmt.Sprintf("%s needs restic %s or newer, but restic %s is installed", e.Feature, e.Need, e.Have)
}

// ExitError is a restic run that ended with a non-zero exit code that is
// not a success (exit code 3 of a backup is reported as Result.Incomplete,
// not as an ExitError).
type ExitError struct {
	// Code is restic's exit code, or -1 when it was killed by a signal.
	Code int
	// Message is the exit_error message restic printed (restic >= 0.18),
	// else the last lines of its standard error. It is already scrubbed.
	Message string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Message)
	if msg == "" {
		return fmt.Sprintf("restic exited with code %d (%s)", e.Code, e.Meaning())
	}
	return fmt.Sprintf("restic exited with code %d (%s): %s", e.Code, e.Meaning(), msg)
}

// Meaning describes the exit code in a few words.
func (e *ExitError) Meaning() string {
	switch e.Code {
	case ExitFatal:
		if r := e.reason(); r != nil {
			return r.Error()
		}
		return "fatal error"
	case ExitIncomplete:
		return "snapshot created but some source files could not be read"
	case ExitNoRepository:
		return ErrRepositoryNotFound.Error()
	case ExitLocked:
		return ErrRepositoryLocked.Error()
	case ExitWrongPassword:
		return ErrWrongPassword.Error()
	case ExitInterrupted:
		return ErrInterrupted.Error()
	case exitSignalled:
		return "killed by a signal"
	default:
		return "unknown exit code"
	}
}

// Is lets callers write errors.Is(err, restic.ErrWrongPassword) and the like.
// restic before 0.17 exits with 1 for a missing repository, a lock or a bad
// password; for those the message decides.
func (e *ExitError) Is(target error) bool {
	r := e.reason()
	return r != nil && r == target
}

func (e *ExitError) reason() error {
	switch e.Code {
	case ExitNoRepository:
		return ErrRepositoryNotFound
	case ExitLocked:
		return ErrRepositoryLocked
	case ExitWrongPassword:
		return ErrWrongPassword
	case ExitInterrupted:
		return ErrInterrupted
	case ExitFatal:
		m := strings.ToLower(e.Message)
		switch {
		case strings.Contains(m, "wrong password or no key found"):
			return ErrWrongPassword
		case strings.Contains(m, "is there a repository at the following location"),
			strings.Contains(m, "repository does not exist"):
			return ErrRepositoryNotFound
		case strings.Contains(m, "repository is already locked"):
			return ErrRepositoryLocked
		}
	}
	return nil
}
