package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/store"
)

// repositoryAPI serves the repository endpoints. Secrets go one way: the
// service seals what a request brings, and no answer, audit entry or log
// line carries a password, an env value or the password of a URL.
type repositoryAPI struct {
	*API
	svc *repos.Service
}

// repositoryRoutes are the restic repositories. Reading needs a viewer;
// everything that writes credentials needs an admin.
func (a *API) repositoryRoutes() []route {
	h := &repositoryAPI{API: a, svc: repos.New(a.store, a.opts.Sealer, a.now)}
	return []route{
		{name: "repository.list", method: http.MethodGet, path: "/api/v1/repositories", access: viewer, handle: h.list},
		{name: "repository.create", method: http.MethodPost, path: "/api/v1/repositories", access: admin, handle: h.create},
		{name: "repository.show", method: http.MethodGet, path: "/api/v1/repositories/{id}", access: viewer, handle: h.show},
		{name: "repository.update", method: http.MethodPatch, path: "/api/v1/repositories/{id}", access: admin, handle: h.update},
		{name: "repository.delete", method: http.MethodDelete, path: "/api/v1/repositories/{id}", access: admin, handle: h.remove},
	}
}

type repositoryJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	EnvKeys     []string  `json:"env_keys"`
	HasPassword bool      `json:"has_password"`
	ManagedBy   string    `json:"managed_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`

	repositoryCareJSON // repository_care.go: sizes, snapshot count, last check
}

func toRepositoryJSON(r repos.Repository) repositoryJSON {
	keys := r.EnvKeys
	if keys == nil {
		keys = []string{}
	}
	return repositoryJSON{
		ID: r.ID, Name: r.Name, URL: r.URL, Description: r.Description, EnvKeys: keys,
		HasPassword: r.HasPassword, ManagedBy: r.ManagedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// repositoryError turns the service's errors into API errors; name is the
// repository the request is about.
func repositoryError(err error, name string) error {
	if problems := repos.Problems(err); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Error()
		}
		return errorf(http.StatusBadRequest, "bad_"+problems[0].Field, "%s", strings.Join(msgs, "; "))
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "no repository %q", name)
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "a repository named %q exists already", name)
	case errors.Is(err, store.ErrInUse):
		return errorf(http.StatusConflict, "in_use", "%v; delete those schedules first", err)
	case errors.Is(err, repos.ErrManagedByConfig):
		return errorf(http.StatusConflict, "managed_by_config", "repository %q is declared in the configuration file; change it there", name)
	case errors.Is(err, repos.ErrNoSealer):
		return errorf(http.StatusServiceUnavailable, "secrets_unavailable", "the server has no secret key loaded, so it cannot store or read repository credentials")
	}
	return err
}

// lookup resolves {id}: a repository id, or else a name.
func (h *repositoryAPI) lookup(r *http.Request) (repos.Repository, error) {
	ref := mux.Vars(r)["id"]
	repo, err := h.svc.Get(r.Context(), ref)
	if err != nil {
		return repos.Repository{}, repositoryError(err, ref)
	}
	setTarget(r, "repository", repo.ID)
	return repo, nil
}

func (h *repositoryAPI) list(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	rows, err := h.svc.List(r.Context(), cursor, limit+1)
	if err != nil {
		return repositoryError(err, "")
	}
	writePage(w, rows, limit, func(repo repos.Repository) string { return repo.Name }, func(repo repos.Repository) repositoryJSON {
		return h.withCare(r.Context(), toRepositoryJSON(repo))
	})
	return nil
}

func (h *repositoryAPI) show(w http.ResponseWriter, r *http.Request) error {
	repo, err := h.lookup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.withCare(r.Context(), toRepositoryJSON(repo)))
	return nil
}

type createRepositoryRequest struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Password    string            `json:"password"`
	Env         map[string]string `json:"env"`
	Description string            `json:"description"`
	// AdminPassword is the optional non-append-only key for prune
	// (repo_admin.go), write-only like Password.
	AdminPassword *string `json:"admin_password"`
}

func (h *repositoryAPI) create(w http.ResponseWriter, r *http.Request) error {
	var req createRepositoryRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st := state(r)
	st.detail = map[string]any{"name": req.Name}
	if err := checkAdminPassword(req.AdminPassword); err != nil {
		return err
	}
	repo, err := h.svc.Create(r.Context(), repos.Spec{
		Name: req.Name, URL: req.URL, Description: req.Description, Password: req.Password, Env: req.Env,
	})
	if err != nil {
		return repositoryError(err, req.Name)
	}
	setTarget(r, "repository", repo.ID)
	st.detail["url"] = repo.URL
	st.detail["env_keys"] = repo.EnvKeys
	if err := h.setAdminPassword(r, repo.ID, req.AdminPassword, st.detail); err != nil {
		return err
	}
	h.logger.Info("repository created", "repository_id", repo.ID, "name", repo.Name)
	writeJSON(w, http.StatusCreated, h.withCare(r.Context(), toRepositoryJSON(repo)))
	return nil
}

// updateRepositoryRequest sets what it names; "env" replaces the whole
// backend environment ({} removes it).
type updateRepositoryRequest struct {
	URL         *string            `json:"url"`
	Description *string            `json:"description"`
	Password    *string            `json:"password"`
	Env         *map[string]string `json:"env"`
	// AdminPassword sets the admin key for prune; "" removes it.
	AdminPassword *string `json:"admin_password"`
}

func (h *repositoryAPI) update(w http.ResponseWriter, r *http.Request) error {
	repo, err := h.lookup(r)
	if err != nil {
		return err
	}
	var req updateRepositoryRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p := repos.Patch{URL: req.URL, Description: req.Description, Password: req.Password, SetEnv: req.Env != nil}
	if req.Env != nil {
		p.Env = *req.Env
	}
	detail := map[string]any{"name": repo.Name}
	state(r).detail = detail
	if req.AdminPassword != nil && *req.AdminPassword != "" {
		if err := checkAdminPassword(req.AdminPassword); err != nil {
			return err
		}
	}
	updated, err := h.svc.Update(r.Context(), repo.ID, p)
	if err != nil {
		return repositoryError(err, repo.Name)
	}
	repo = updated
	if req.URL != nil {
		detail["url"] = repo.URL
	}
	if req.Description != nil {
		detail["description_changed"] = true
	}
	if req.Password != nil {
		detail["password_changed"] = true
	}
	if req.Env != nil {
		detail["env_keys"] = repo.EnvKeys
	}
	if err := h.setAdminPassword(r, repo.ID, req.AdminPassword, detail); err != nil {
		return err
	}
	h.logger.Info("repository updated", "repository_id", repo.ID, "name", repo.Name)
	writeJSON(w, http.StatusOK, h.withCare(r.Context(), toRepositoryJSON(repo)))
	return nil
}

func (h *repositoryAPI) remove(w http.ResponseWriter, r *http.Request) error {
	repo, err := h.lookup(r)
	if err != nil {
		return err
	}
	state(r).detail = map[string]any{"name": repo.Name, "url": repo.URL}
	if err := h.svc.Delete(r.Context(), repo.ID); err != nil {
		return repositoryError(err, repo.Name)
	}
	h.logger.Info("repository deleted", "repository_id", repo.ID, "name", repo.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
