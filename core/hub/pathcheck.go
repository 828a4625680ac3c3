package hub

import (
	"context"
	"fmt"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// CheckPath asks the host's agent about path (path_check): whether it
// exists, is a directory, and whether the agent's user can write there or,
// when it does not exist yet, in its nearest existing parent. The agent's
// own findings (a relative path, a directory it may not look into) come
// back in the result's Error. The error is ErrDataOffline when the host's
// agent is not connected, and the agent's *wire.Error or the connection's
// error when it did not answer.
func (h *Hub) CheckPath(ctx context.Context, hostID, path string) (wire.PathCheckResult, error) {
	ac := h.conn(hostID)
	if ac == nil || !ac.helloDone.Load() {
		return wire.PathCheckResult{}, ErrDataOffline
	}
	rctx, cancel := context.WithTimeout(ctx, h.opts.DispatchTimeout)
	defer cancel()
	reply, err := ac.c.Request(rctx, wire.TypePathCheck, wire.PathCheck{Path: path})
	if err != nil {
		return wire.PathCheckResult{}, fmt.Errorf("path check on %s: %w", ac.name, err)
	}
	var res wire.PathCheckResult
	if err := reply.DecodePayload(&res); err != nil {
		return wire.PathCheckResult{}, fmt.Errorf("path check on %s: %w", ac.name, err)
	}
	ac.log.Debug("path checked", "path", path, "exists", res.Exists, "writable", res.Writable, "user", res.User)
	return res, nil
}
