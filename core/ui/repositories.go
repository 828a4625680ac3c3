package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/store"
)

// repositoryRoutes are the repository list and the add form.
func (u *UI) repositoryRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.repositories", method: http.MethodGet, path: "/repositories", access: loggedIn, handler: u.repositoriesPage},
		{name: "ui.repositories.create", method: http.MethodPost, path: "/repositories", access: loggedIn, handler: u.repositoryCreate},
		{name: "ui.repositories.delete.confirm", method: http.MethodGet, path: "/repositories/{id}/delete", access: loggedIn, handler: u.repositoryDeleteConfirm},
		{name: "ui.repositories.delete", method: http.MethodPost, path: "/repositories/{id}/delete", access: loggedIn, handler: u.repositoryDelete},
		{name: "ui.repositories.stats", method: http.MethodPost, path: "/repositories/{id}/stats", access: loggedIn, handler: u.repositoryStats},
	}
}

// repositoryItem is a repository as the API answers it: the URL redacted,
// the backend variables by name only, no password.
type repositoryItem struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	EnvKeys     []string  `json:"env_keys"`
	HasPassword bool      `json:"has_password"`
	ManagedBy   string    `json:"managed_by"`
	CreatedAt   time.Time `json:"created_at"`
	repositoryStats
	// Hosts are the hosts a stats refresh may run on (hosts whose
	// schedules or last backup use the repository; every host when none
	// does), for operators.
	Hosts []hostItem `json:"-"`
	// HostsUse says whether Hosts use the repository.
	HostsUse bool `json:"-"`
}

// repositoryForm is the add form as it is shown again after a refusal:
// never with the password or the values of the backend variables.
type repositoryForm struct {
	Name, URL, Description string
	// EnvNames are "NAME=" lines for the variables the user gave, so only
	// the values need typing again.
	EnvNames string
	// Cleared says which secrets were not kept, and why.
	Cleared string
}

type repositoriesData struct {
	Items   []repositoryItem
	IsAdmin bool
	CanRun  bool
	Form    repositoryForm
}

func callerIsAdmin(c *api.Caller) bool { return c != nil && c.User.Role == store.RoleAdmin }

func (u *UI) repositoriesPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	u.renderRepositories(w, r, c, http.StatusOK, repositoryForm{}, nil)
}

// renderRepositories shows the list and, for admins, the add form; msg (if
// any) is an error flash.
func (u *UI) renderRepositories(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, form repositoryForm, flashes []flash) {
	items, err := allItems[repositoryItem](u, r, c, "/api/v1/repositories")
	if err == nil && canRun(c) && len(items) > 0 {
		err = u.statsHosts(r, c, items)
	}
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.render(w, r, c, status, "repositories", view{
		Title: "Repositories", Nav: "repositories", Flashes: flashes,
		Data: repositoriesData{Items: items, IsAdmin: callerIsAdmin(c), CanRun: canRun(c), Form: form},
	})
}

type createRepositoryBody struct {
	Name        string            `json:"name"`
	URL         string            `json:"url"`
	Password    string            `json:"password"`
	Env         map[string]string `json:"env,omitempty"`
	Description string            `json:"description"`
}

func (u *UI) repositoryCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	body := createRepositoryBody{
		Name:        strings.TrimSpace(r.PostFormValue("name")),
		URL:         strings.TrimSpace(r.PostFormValue("url")),
		Password:    r.PostFormValue("password"),
		Description: strings.TrimSpace(r.PostFormValue("description")),
	}
	env, envNames, err := parseEnvLines(r.PostFormValue("env"))
	if err == nil {
		body.Env = env
		var out repositoryItem
		if err = u.call(r, c, http.MethodPost, "/api/v1/repositories", body, &out); err == nil {
			u.back(w, r, "/repositories", nil, fmt.Sprintf("Repository %q added. Initialise it from a host's page before the first backup.", out.Name))
			return
		}
		if refusedByAPI(err) {
			u.fail(w, r, c, err)
			return
		}
	}
	status, msg := http.StatusBadRequest, sentence(err.Error())
	var e *api.Error
	if errors.As(err, &e) {
		status, msg = u.userMessage(err)
	}
	// Secrets are write-only: the form comes back without them.
	form := repositoryForm{Name: body.Name, URL: body.URL, Description: body.Description, EnvNames: envNames}
	cleared := []string{"the password"}
	if envNames != "" {
		cleared = append(cleared, "the values of the backend variables")
	}
	if repos.RedactURL(body.URL) != body.URL {
		form.URL = ""
		cleared = append(cleared, "the URL (it holds a password)")
	}
	form.Cleared = "For safety, " + joinWords(cleared) + " were not kept: enter them again."
	u.renderRepositories(w, r, c, status, form, []flash{{Kind: "error", Message: msg}})
}

// sentence starts s with a capital letter.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// joinWords joins ["a", "b", "c"] as "a, b and c".
func joinWords(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// parseEnvLines reads backend variables as NAME=value lines; blank lines
// and lines starting with # are skipped. It returns the variables and
// their names as "NAME=" lines (for the form shown again). Errors name the
// line, never its text: it may hold a secret.
func parseEnvLines(s string) (env map[string]string, names string, err error) {
	env = map[string]string{}
	var keys []string
	for i, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, namesText(keys), fmt.Errorf("backend variables, line %d: write NAME=value", i+1)
		}
		if _, dup := env[k]; dup {
			return nil, namesText(keys), fmt.Errorf("backend variables, line %d: %s is given twice", i+1, k)
		}
		env[k] = v
		keys = append(keys, k)
	}
	if len(env) == 0 {
		return nil, "", nil
	}
	return env, namesText(keys), nil
}

// namesText is "NAME=" lines for keys, sorted.
func namesText(keys []string) string {
	sorted := slices.Sorted(slices.Values(keys))
	var b strings.Builder
	for _, k := range sorted {
		b.WriteString(k + "=\n")
	}
	return b.String()
}

type repositoryDeleteData struct{ Repo repositoryItem }

func (u *UI) repositoryDeleteConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	if !callerIsAdmin(c) {
		u.renderError(w, r, c, http.StatusForbidden, "Only admins may delete repositories.")
		return
	}
	var repo repositoryItem
	if err := u.call(r, c, http.MethodGet, "/api/v1/repositories/"+url.PathEscape(mux.Vars(r)["id"]), nil, &repo); err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.render(w, r, c, http.StatusOK, "repository-delete", view{
		Title: "Delete " + repo.Name, Nav: "repositories", Data: repositoryDeleteData{Repo: repo},
	})
}

func (u *UI) repositoryDelete(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	id := mux.Vars(r)["id"]
	name := r.PostFormValue("name")
	err := u.call(r, c, http.MethodDelete, "/api/v1/repositories/"+url.PathEscape(id), nil, nil)
	u.back(w, r, "/repositories", err, fmt.Sprintf("Repository %q deleted. Its data in the repository itself is untouched.", name))
}
