package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	UserID     string     `json:"user_id"`
	Token      string     `json:"token,omitempty"` // only in the answer that creates it
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func toTokenJSON(t store.APIToken) tokenJSON {
	return tokenJSON{
		ID: t.ID, Name: t.Name, UserID: t.UserID, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
	}
}

// listTokens lists the caller's tokens; admins may ask for everyone's.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	who := state(r).who
	owner := who.user.ID
	if r.URL.Query().Get("all") == "true" {
		if who.user.Role != store.RoleAdmin {
			return errorf(http.StatusForbidden, "forbidden", "only admins may list everyone's tokens")
		}
		owner = ""
	}
	tokens, err := a.store.ListAPITokens(r.Context(), owner, cursor, limit+1)
	if err != nil {
		return err
	}
	writePage(w, tokens, limit, func(t store.APIToken) string { return t.ID }, toTokenJSON)
	return nil
}

type createTokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in"`
}

// createToken makes an API token for the caller; the secret is in this
// answer only.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 128 {
		return errorf(http.StatusBadRequest, "bad_name", "name must be 1 to 128 characters")
	}
	now := a.now()
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return errorf(http.StatusBadRequest, "bad_expires_in", "expires_in must be a positive duration such as \"720h\"")
		}
		e := now.Add(d)
		expires = &e
	}
	secret, err := auth.NewToken(auth.KindAPIToken)
	if err != nil {
		return err
	}
	t := store.APIToken{
		ID: auth.NewID(), UserID: state(r).who.user.ID, Name: req.Name,
		TokenHash: auth.HashToken(secret), CreatedAt: now, ExpiresAt: expires,
	}
	setTarget(r, "token", t.ID)
	state(r).detail = map[string]any{"name": t.Name}
	if err := a.store.CreateAPIToken(r.Context(), t); err != nil {
		return err
	}
	out := toTokenJSON(t)
	out.Token = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// revokeToken revokes one of the caller's tokens (admins: anyone's).
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	setTarget(r, "token", id)
	t, err := a.store.GetAPIToken(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "no token %q", id)
	} else if err != nil {
		return err
	}
	who := state(r).who
	if t.UserID != who.user.ID && who.user.Role != store.RoleAdmin {
		return errorf(http.StatusNotFound, "not_found", "no token %q", id)
	}
	if err := a.store.RevokeAPIToken(r.Context(), id, a.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
