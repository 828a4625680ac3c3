package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// handlePathCheck answers path_check: what is at the path, and whether
// this agent's user could write there (docs/protocol.md, "Path check").
func (a *Agent) handlePathCheck(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var m wire.PathCheck
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	res := checkPath(m.Path)
	a.log.Named("path_check").Debug("path checked", "path", m.Path, "exists", res.Exists,
		"is_dir", res.IsDir, "writable", res.Writable, "error", res.Error)
	return c.Reply(ctx, env, wire.TypePathCheckResult, res)
}

// checkPath examines path without changing anything: whether it exists and
// is a directory, and whether the agent's user could create a file in it
// or, when it does not exist yet, in its nearest existing parent (where a
// restore would create it). The probe is a temporary file, created and
// removed at once.
func checkPath(path string) wire.PathCheckResult {
	res := wire.PathCheckResult{Path: path, User: osUser()}
	if !filepath.IsAbs(path) {
		res.Error = fmt.Sprintf("%q is not an absolute path on this host", path)
		return res
	}
	clean := filepath.Clean(path)
	fi, err := os.Stat(clean)
	switch {
	case err == nil:
		res.Exists, res.IsDir = true, fi.IsDir()
		if res.IsDir {
			res.Writable = canCreateIn(clean)
		}
		return res
	case !missing(err):
		res.Error = "cannot examine the path: " + statReason(err)
		return res
	}
	// It does not exist: a restore would create it below its nearest
	// existing ancestor, which must be a directory the user can write.
	for dir := filepath.Dir(clean); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		switch {
		case err == nil:
			res.Writable = fi.IsDir() && canCreateIn(dir)
			return res
		case !missing(err):
			res.Error = "cannot examine " + dir + ": " + statReason(err)
			return res
		}
		if parent := filepath.Dir(dir); parent == dir {
			return res // no existing ancestor at all (a missing drive)
		}
	}
}

// missing reports whether a stat error means nothing is there: the path
// does not exist, or one of its parents is a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func statReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// canCreateIn reports whether a file can be created in dir, by creating
// one and removing it.
func canCreateIn(dir string) bool {
	f, err := os.CreateTemp(dir, ".restic-manager-path-check-*")
	if err != nil {
		return false
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name) == nil
}

var agentUser struct {
	once sync.Once
	name string
}

// osUser is the operating-system user the agent runs as: its login name,
// or its uid when the user database has none.
func osUser() string {
	agentUser.once.Do(func() {
		if u, err := user.Current(); err == nil && u.Username != "" {
			agentUser.name = u.Username
			return
		}
		agentUser.name = "uid " + strconv.Itoa(os.Getuid())
	})
	return agentUser.name
}
