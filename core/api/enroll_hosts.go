package api

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/store"
)

// enrollTokenDetailJSON is one enrollment token with the hosts it
// enrolled: the add-host page polls it to show new hosts as they connect.
type enrollTokenDetailJSON struct {
	enrollTokenJSON
	Hosts []hostJSON `json:"hosts"`
}

// showEnrollToken answers one enrollment token (never its secret) and the
// hosts it enrolled, oldest first.
func (a *API) showEnrollToken(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	t, err := a.store.GetEnrollmentToken(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "no enrollment token %q", id)
	} else if err != nil {
		return err
	}
	hosts, err := a.store.ListHostsByEnrollmentToken(r.Context(), t.ID, maxEnrollUses)
	if err != nil {
		return err
	}
	out := enrollTokenDetailJSON{enrollTokenJSON: a.toEnrollTokenJSON(t), Hosts: make([]hostJSON, 0, len(hosts))}
	for _, h := range hosts {
		out.Hosts = append(out.Hosts, toHostJSON(h))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
