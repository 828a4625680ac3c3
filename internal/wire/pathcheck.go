package wire

import (
	"errors"
)

// PathCheck asks the agent about a directory on its host before the server
// sends it a job that writes there (a restore of another host's snapshot,
// say): whether it exists, and whether the agent's user can write there.
// The agent answers path_check_result, or an error for a request it cannot
// take.
type PathCheck struct {
	// Path is absolute on the agent's host ("/srv/restore",
	// "C:\\restore").
	Path string `json:"path"`
}

// PathCheckResult is what the agent found. Writable means the agent's user
// could create a file in Path, or, when Path does not exist yet, in its
// nearest existing parent (where a restore would create it); the agent
// checks by creating a temporary file and removing it at once, so nothing
// is left behind. A path the agent could not examine has Error set and the
// booleans false.
type PathCheckResult struct {
	Path     string `json:"path"`
	Exists   bool   `json:"exists"`
	IsDir    bool   `json:"is_dir"`
	Writable bool   `json:"writable"`
	// User is the operating-system user the agent (and so restic) runs
	// as.
	User  string `json:"user"`
	Error string `json:"error,omitempty"`
}

func (PathCheck) MessageType() Type       { return TypePathCheck }
func (PathCheckResult) MessageType() Type { return TypePathCheckResult }

func (p PathCheck) Validate() error { return checkText("path", p.Path, maxTextLen, true) }

func (r PathCheckResult) Validate() error {
	var errs []error
	errs = append(errs,
		checkText("path", r.Path, maxTextLen, true),
		checkText("user", r.User, maxShortLen, false),
		checkText("error", r.Error, maxTextLen, false),
	)
	if r.IsDir && !r.Exists {
		errs = append(errs, errors.New("is_dir is set for a path that does not exist"))
	}
	return errors.Join(errs...)
}
