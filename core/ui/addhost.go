package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/store"
)

// The add-host page makes an enrollment token and shows its commands once;
// then it polls the token (GET /api/v1/enrollment-tokens/{id}) for the
// hosts it enrolled, so a new host shows up, and comes online, as the
// operator runs the command on it.

// enrolledHost is a host an enrollment token brought in.
type enrolledHost struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Status       string     `json:"status"`
	OS           string     `json:"os"`
	Arch         string     `json:"arch"`
	AgentVersion string     `json:"agent_version"`
	LastSeen     *time.Time `json:"last_seen"`
	EnrolledAt   time.Time  `json:"enrolled_at"`
}

// enrollTokenItem is an enrollment token as the API answers it (never the
// secret); Hosts is filled by GET /api/v1/enrollment-tokens/{id} only.
type enrollTokenItem struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Uses       int            `json:"uses"`
	UsesLeft   int            `json:"uses_left"`
	Tags       []string       `json:"tags"`
	CreatedAt  time.Time      `json:"created_at"`
	ExpiresAt  time.Time      `json:"expires_at"`
	LastUsedAt *time.Time     `json:"last_used_at"`
	Hosts      []enrolledHost `json:"hosts"`
}

// Used is how many hosts the token has enrolled.
func (t enrollTokenItem) Used() int { return t.Uses - t.UsesLeft }

// Polling says whether the page should keep asking: while the token can
// still enroll a host, or a host it enrolled is not online yet.
func (t enrollTokenItem) Polling() bool {
	if t.Status == "active" {
		return true
	}
	for _, h := range t.Hosts {
		if h.Status == store.HostOffline {
			return true
		}
	}
	return false
}

// addHostForm is the token form as typed.
type addHostForm struct{ TTL, Uses, Tags string }

// enrollCreated is a new token with its secret and the commands that use
// it, shown this once.
type enrollCreated struct {
	Token          enrollTokenItem
	Secret         copyBlock
	Linux, Windows copyBlock
}

type addHostData struct {
	Form    addHostForm
	TTLs    []selectOption
	Created *enrollCreated
	// Shown is the token /hosts/new/{id} shows, without its secret.
	Shown  *enrollTokenItem
	Recent []enrollTokenItem
	Error  string
}

var enrollTTLs = []selectOption{
	{"1h", "1 hour"}, {"24h", "1 day"}, {"7d", "7 days"}, {"30d", "30 days"},
}

// recentEnrollTokens is how many tokens the page lists.
const recentEnrollTokens = 10

func (u *UI) addHostPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	u.renderAddHost(w, r, c, http.StatusOK, addHostData{Form: addHostForm{TTL: "1h", Uses: "1"}}, nil)
}

// renderAddHost fills in the recent tokens and renders the page.
func (u *UI) renderAddHost(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, d addHostData, flashes []flash) {
	var recent itemsPage[enrollTokenItem]
	if err := u.call(r, c, http.MethodGet, "/api/v1/enrollment-tokens?limit="+strconv.Itoa(recentEnrollTokens), nil, &recent); err != nil {
		u.fail(w, r, c, err)
		return
	}
	d.Recent, d.TTLs = recent.Items, enrollTTLs
	u.render(w, r, c, status, "addhost", view{Title: "Add a host", Nav: "add-host", Data: d, Flashes: flashes})
}

type createEnrollBody struct {
	TTL  string   `json:"ttl"`
	Uses int      `json:"uses"`
	Tags []string `json:"tags"`
}

func (u *UI) addHostCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	form := addHostForm{
		TTL: r.PostFormValue("ttl"), Uses: strings.TrimSpace(r.PostFormValue("uses")), Tags: strings.TrimSpace(r.PostFormValue("tags")),
	}
	body := createEnrollBody{TTL: form.TTL, Tags: strings.FieldsFunc(form.Tags, func(r rune) bool { return r == ',' || r == ' ' })}
	var out struct {
		enrollTokenItem
		Token          string `json:"token"`
		Command        string `json:"command"`
		CommandWindows string `json:"command_windows"`
	}
	d := addHostData{Form: form}
	status := http.StatusOK
	uses, err := strconv.Atoi(form.Uses)
	if err != nil {
		status, d.Error = http.StatusBadRequest, "Hosts it may enroll: give a whole number from 1 to 1000."
	} else {
		body.Uses = uses
		err = u.call(r, c, http.MethodPost, "/api/v1/enrollment-tokens", body, &out)
		switch {
		case refusedByAPI(err):
			u.fail(w, r, c, err)
			return
		case err != nil:
			status, d.Error = u.userMessage(err)
		default:
			d.Created = &enrollCreated{
				Token:   out.enrollTokenItem,
				Secret:  copyBlock{ID: "enroll-token", Label: "Enrollment token", Text: out.Token},
				Linux:   copyBlock{ID: "enroll-linux", Label: "Linux (shell)", Text: out.Command},
				Windows: copyBlock{ID: "enroll-windows", Label: "Windows (PowerShell, as Administrator)", Text: out.CommandWindows},
			}
		}
	}
	if wantsFragment(r) {
		if d.Created != nil {
			// The address bar moves to the token's page, which shows its
			// hosts but never the secret again.
			w.Header().Set("HX-Push-Url", "/hosts/new/"+url.PathEscape(out.ID))
		}
		// htmx swaps 2xx answers only: a refusal is shown in the result.
		u.renderFragment(w, http.StatusOK, "addhost", "enroll-result", d)
		return
	}
	var flashes []flash
	if d.Error != "" {
		flashes = []flash{{Kind: "error", Message: d.Error}}
	}
	u.renderAddHost(w, r, c, status, d, flashes)
}

// enrollToken reads the token {id} with its hosts.
func (u *UI) enrollToken(r *http.Request, c *api.Caller) (enrollTokenItem, error) {
	var t enrollTokenItem
	err := u.call(r, c, http.MethodGet, "/api/v1/enrollment-tokens/"+url.PathEscape(mux.Vars(r)["id"]), nil, &t)
	return t, err
}

func (u *UI) addHostToken(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	t, err := u.enrollToken(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderAddHost(w, r, c, http.StatusOK, addHostData{Form: addHostForm{TTL: "1h", Uses: "1"}, Shown: &t}, nil)
}

func (u *UI) addHostStatus(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	t, err := u.enrollToken(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderFragment(w, http.StatusOK, "addhost", "enroll-status", t)
}

func (u *UI) addHostRevoke(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	err := u.call(r, c, http.MethodDelete, "/api/v1/enrollment-tokens/"+url.PathEscape(mux.Vars(r)["id"]), nil, nil)
	if refusedByAPI(err) {
		u.fail(w, r, c, err)
		return
	}
	u.back(w, r, "/hosts/new", err, "Enrollment token revoked. Hosts it enrolled keep their credentials.")
}
