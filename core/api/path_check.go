package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// pathCheckWait bounds the wait for the agent's answer.
const pathCheckWait = 30 * time.Second

// PathChecker is what a path check needs of the agent hub besides Agents:
// asking a connected agent about a path on its host (core/hub's
// CheckPath, path_check on the wire).
type PathChecker interface {
	CheckPath(ctx context.Context, hostID, path string) (wire.PathCheckResult, error)
}

// pathCheckRoutes is the agent's look at a path on its host, before a job
// writes there (a restore into another host's paths). It tells whether a
// path exists and whether the agent's user may write there, which is more
// than a viewer learns about a host, and it runs something on the host:
// operator+, like restore.
func (a *API) pathCheckRoutes() []route {
	return []route{
		{name: "host.path_check", method: http.MethodGet, path: "/api/v1/hosts/{id}/path-check", access: operator, handle: a.pathCheck},
	}
}

// windowsAbs matches an absolute Windows path: a drive ("C:\", "d:/") or
// a UNC share ("\\server\share").
var windowsAbs = regexp.MustCompile(`^([A-Za-z]:[\\/]|\\\\[^\\]+\\)`)

// pathCheck answers GET /api/v1/hosts/{id}/path-check?path=/abs with the
// agent's path_check_result: exists, is_dir, writable (for a path that
// does not exist yet: in its nearest existing parent), the agent's OS user,
// and error when the agent could not examine the path.
func (a *API) pathCheck(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	switch {
	case p == "":
		return errorf(http.StatusBadRequest, "bad_path", "path: give an absolute path on the host, such as /srv/restore")
	case len(p) > 4096:
		return errorf(http.StatusBadRequest, "bad_path", "path: longer than 4096 bytes")
	case strings.ContainsFunc(p, unicode.IsControl):
		return errorf(http.StatusBadRequest, "bad_path", "path: contains control characters")
	case !strings.HasPrefix(p, "/") && !windowsAbs.MatchString(p):
		return errorf(http.StatusBadRequest, "bad_path", "path: %q is not absolute; give a path such as /srv/restore (or C:\\restore on Windows)", truncateText(p, 64))
	}
	pc, ok := a.opts.Agents.(PathChecker)
	if !ok {
		return errorf(http.StatusNotImplemented, "not_implemented", "path checks are not available on this server (no agent hub)")
	}
	host, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), pathCheckWait)
	defer cancel()
	res, err := pc.CheckPath(ctx, host.ID, p)
	var perr *wire.Error
	switch {
	case errors.Is(err, hub.ErrDataOffline):
		return errorf(http.StatusConflict, "host_offline", "host %q is offline; its agent checks the path, try again when it is online", host.Name)
	case errors.As(err, &perr):
		return errorf(http.StatusBadGateway, "agent_error", "the agent on %q could not check the path: %s", host.Name, truncateText(perr.Message, 200))
	case ctx.Err() != nil && r.Context().Err() == nil:
		return errorf(http.StatusGatewayTimeout, "agent_timeout", "the agent on %q did not answer in time; try again", host.Name)
	case err != nil:
		a.logger.Warn("path check failed", "host_id", host.ID, "error", err)
		return errorf(http.StatusBadGateway, "agent_error", "the agent on %q did not answer the path check (an agent older than this server cannot check paths)", host.Name)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
