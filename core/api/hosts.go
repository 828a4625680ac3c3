package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/store"
)

// HostStore is what the enrollment and host endpoints need of the store.
type HostStore interface {
	CreateEnrollmentToken(ctx context.Context, t store.EnrollmentToken) error
	GetEnrollmentToken(ctx context.Context, id string) (store.EnrollmentToken, error)
	ListEnrollmentTokens(ctx context.Context, after string, limit int) ([]store.EnrollmentToken, error)
	RevokeEnrollmentToken(ctx context.Context, id string, now time.Time) error
	RedeemEnrollmentToken(ctx context.Context, e store.Enrollment) (store.Enrolled, error)
	ListHostsByEnrollmentToken(ctx context.Context, tokenID string, limit int) ([]store.Host, error)
	GetHost(ctx context.Context, id string) (store.Host, error)
	GetHostsByName(ctx context.Context, name string) ([]store.Host, error)
	ListHosts(ctx context.Context, f store.HostFilter) ([]store.Host, error)
	CountHosts(ctx context.Context, f store.HostFilter) (int, error)
	GetHostWithSummary(ctx context.Context, id string) (store.Host, error)
	RevokeHost(ctx context.Context, id string, now time.Time) error
	AuthenticateAgent(ctx context.Context, secretHash string) (store.Host, error)
}

// hostRoutes are enrollment tokens, agent enrollment and hosts.
func (a *API) hostRoutes() []route {
	return []route{
		{name: "enrollment_token.list", method: http.MethodGet, path: "/api/v1/enrollment-tokens", access: admin, handle: a.listEnrollTokens},
		{name: "enrollment_token.create", method: http.MethodPost, path: "/api/v1/enrollment-tokens", access: admin, handle: a.createEnrollToken},
		{name: "enrollment_token.show", method: http.MethodGet, path: "/api/v1/enrollment-tokens/{id}", access: admin, handle: a.showEnrollToken},
		{name: "enrollment_token.revoke", method: http.MethodDelete, path: "/api/v1/enrollment-tokens/{id}", access: admin, handle: a.revokeEnrollToken},
		{name: "agent.enroll", method: http.MethodPost, path: "/api/v1/agents/enroll", access: public, handle: a.enroll},
		{name: "host.list", method: http.MethodGet, path: "/api/v1/hosts", access: viewer, handle: a.listHosts},
		{name: "host.show", method: http.MethodGet, path: "/api/v1/hosts/{id}", access: viewer, handle: a.showHost},
		{name: "host.remove", method: http.MethodDelete, path: "/api/v1/hosts/{id}", access: admin, handle: a.removeHost},
	}
}

type hostJSON struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Hostname      string     `json:"hostname"`
	Status        string     `json:"status"`
	LastSeen      *time.Time `json:"last_seen"`
	OS            string     `json:"os"`
	Arch          string     `json:"arch"`
	AgentVersion  string     `json:"agent_version"`
	ResticVersion string     `json:"restic_version"`
	Backends      []string   `json:"backends"`
	Tags          []string   `json:"tags"`
	ManagedBy     string     `json:"managed_by"`
	EnrolledAt    time.Time  `json:"enrolled_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

func toHostJSON(h store.Host) hostJSON {
	nonNil := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	return hostJSON{
		ID: h.ID, Name: h.Name, Hostname: h.Hostname, Status: h.Status, LastSeen: h.LastSeenAt, OS: h.OS, Arch: h.Arch,
		AgentVersion: h.AgentVersion, ResticVersion: h.ResticVersion, Backends: nonNil(h.Backends), Tags: nonNil(h.Tags),
		ManagedBy: h.ManagedBy, EnrolledAt: h.EnrolledAt, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
	}
}

// lookupHost resolves {id}: a host id, or else a host name. Re-enrolled
// machines share a name; when exactly one host of that name is not
// revoked, the name means that one, and otherwise only the id will do.
func (a *API) lookupHost(r *http.Request) (store.Host, error) {
	ref := mux.Vars(r)["id"]
	h, err := a.store.GetHost(r.Context(), ref)
	if err == nil {
		setTarget(r, "host", h.ID)
		return h, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Host{}, err
	}
	named, err := a.store.GetHostsByName(r.Context(), ref)
	if err != nil {
		return store.Host{}, err
	}
	var live []store.Host
	for _, h := range named {
		if h.Status != store.HostRevoked {
			live = append(live, h)
		}
	}
	switch {
	case len(named) == 0:
		return store.Host{}, errorf(http.StatusNotFound, "not_found", "no host %q", ref)
	case len(named) == 1:
		h = named[0]
	case len(live) == 1:
		h = live[0]
	default:
		ids := make([]string, 0, min(len(named), 5))
		for _, h := range named[:min(len(named), 5)] {
			ids = append(ids, h.ID)
		}
		return store.Host{}, errorf(http.StatusConflict, "ambiguous_host",
			"%d hosts are named %q (%s); use the host's id", len(named), ref, strings.Join(ids, ", "))
	}
	setTarget(r, "host", h.ID)
	return h, nil
}

// removeHost revokes every credential of the host and marks it revoked;
// the row stays for its history. The hub is told at once so an open
// connection is closed.
func (a *API) removeHost(w http.ResponseWriter, r *http.Request) error {
	h, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	state(r).detail = map[string]any{"name": h.Name}
	if err := a.store.RevokeHost(r.Context(), h.ID, a.now()); err != nil {
		return fmt.Errorf("revoke host %s: %w", h.ID, err)
	}
	if a.opts.OnHostRevoked != nil {
		a.opts.OnHostRevoked(h.ID)
	}
	a.logger.Info("host revoked", "host_id", h.ID, "name", h.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
