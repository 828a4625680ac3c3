package restic

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// Find locates the restic binary: explicit when it is set (a path, or a
// bare command name looked up in $PATH), else "restic" in $PATH. The result
// is an absolute path. A missing binary is reported as ErrNotFound.
func Find(explicit string) (string, error) {
	name := explicit
	if name == "" {
		name = "restic"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrDot) {
			// A relative path in $PATH is not trusted; a path the operator
			// wrote explicitly (./bin/restic) is.
			if explicit == "" {
				return "", fmt.Errorf("%w (refusing %q from a relative $PATH entry)", ErrNotFound, path)
			}
		} else {
			where := "in $PATH"
			if explicit != "" {
				where = fmt.Sprintf("at %q", explicit)
			}
			return "", fmt.Errorf("no usable restic %s: %w", where, ErrNotFound)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve restic path %q: %w", path, err)
	}
	info, err := os.Stat(abs) //nolint:gosec // G703: the operator chooses which restic to run
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no restic at %q: %w", abs, ErrNotFound)
		}
		return "", fmt.Errorf("stat restic %q: %w", abs, err)
	}
	if info.IsDir() {
		return "", fmt.Errorf("%q is a directory: %w", abs, ErrNotFound)
	}
	return abs, nil
}
