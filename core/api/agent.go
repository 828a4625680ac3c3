package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// Agents is the agent hub as the API uses it; core/hub implements it.
type Agents interface {
	// ServeAgent takes over an authenticated agent's connect request.
	ServeAgent(w http.ResponseWriter, r *http.Request, host store.Host)
	// Dispatch sends a queued job to its host's agent if it is connected,
	// waiting for the agent's accept or reject; an offline host's job
	// stays queued.
	Dispatch(ctx context.Context, jobID string) error
	// Cancel stops a job; store.ErrJobFinished when it had ended.
	Cancel(ctx context.Context, jobID, reason string) (store.Job, error)
	// Subscribe follows a job's stored events; the channel closes when the
	// job ends or the reader falls behind.
	Subscribe(jobID string) (<-chan store.JobLog, func())
}

// agentRoutes is the agent connection. It authenticates with the agent's
// credential, which no user route accepts, and no user credential reaches
// it.
func (a *API) agentRoutes() []route {
	return []route{
		{name: "agent.connect", method: http.MethodGet, path: agentConnectPath, access: agentOnly, handle: a.agentConnect},
	}
}

// authenticateAgent finds the host whose agent credential the request
// bears. A missing, unknown or revoked credential is a 401; a user's valid
// credential is a 403, since this endpoint is for agents only.
func (a *API) authenticateAgent(r *http.Request) (*store.Host, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && auth.TokenKind(tok) == auth.KindAgent {
		h, err := a.store.AuthenticateAgent(r.Context(), auth.HashToken(tok))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, errorf(http.StatusUnauthorized, "unauthenticated", "unknown or revoked agent credential: enroll the host again")
		case err != nil:
			return nil, err
		}
		return &h, nil
	}
	who, err := a.authenticate(r)
	if err != nil {
		return nil, err
	}
	if who == nil {
		return nil, errorf(http.StatusUnauthorized, "unauthenticated", "authentication required: send the agent credential as \"Authorization: Bearer <credential>\"")
	}
	return nil, errorf(http.StatusForbidden, "forbidden", "this endpoint is for agents: it takes an agent credential, not a user's")
}

// agentConnect hands the authenticated agent to the hub, which upgrades
// the request to the agent WebSocket (docs/protocol.md).
func (a *API) agentConnect(w http.ResponseWriter, r *http.Request) error {
	if a.opts.Agents == nil {
		return errorf(http.StatusServiceUnavailable, "no_agent_hub", "this server does not accept agent connections")
	}
	host := state(r).agent
	setTarget(r, "host", host.ID)
	a.opts.Agents.ServeAgent(w, r, *host)
	return nil
}
