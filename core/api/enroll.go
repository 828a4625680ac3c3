package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// Enrollment token limits.
const (
	defaultEnrollTTL = time.Hour
	maxEnrollTTL     = 30 * 24 * time.Hour
	maxEnrollUses    = 1000
	maxEnrollTags    = 32
)

const (
	// agentConnectPath is the agent's WebSocket endpoint.
	agentConnectPath = "/api/v1/agent/connect"
	// windowsAgentPath is where the Windows installer puts the agent.
	windowsAgentPath = `C:\Program Files\restic-manager\restic-manager-agent.exe`
	// maxHostnameLength is the longest DNS name.
	maxHostnameLength = 253
)

type enrollTokenJSON struct {
	ID             string     `json:"id"`
	Token          string     `json:"token,omitempty"`           // only in the answer that creates it
	Command        string     `json:"command,omitempty"`         // likewise: it holds the token
	CommandWindows string     `json:"command_windows,omitempty"` // likewise
	Status         string     `json:"status"`                    // active, expired, used, revoked
	Uses           int        `json:"uses"`
	UsesLeft       int        `json:"uses_left"`
	Tags           []string   `json:"tags"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	RevokedAt      *time.Time `json:"revoked_at"`
}

func enrollTokenStatus(t store.EnrollmentToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.UsesLeft <= 0:
		return "used"
	default:
		return "active"
	}
}

func (a *API) toEnrollTokenJSON(t store.EnrollmentToken) enrollTokenJSON {
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	return enrollTokenJSON{
		ID: t.ID, Status: enrollTokenStatus(t, a.now()), Uses: t.UsesTotal, UsesLeft: t.UsesLeft, Tags: tags,
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
	}
}

type createEnrollTokenRequest struct {
	TTL  string   `json:"ttl"`
	Uses *int     `json:"uses"`
	Tags []string `json:"tags"`
}

// createEnrollToken makes an enrollment token; the secret, and the command
// lines that carry it, are in this answer only.
func (a *API) createEnrollToken(w http.ResponseWriter, r *http.Request) error {
	var req createEnrollTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ttl := defaultEnrollTTL
	if req.TTL != "" {
		d, err := parseTTL(req.TTL)
		if err != nil || d <= 0 || d > maxEnrollTTL {
			return errorf(http.StatusBadRequest, "bad_ttl", "ttl must be a positive duration of at most 30 days, such as \"1h\", \"90m\" or \"7d\"")
		}
		ttl = d
	}
	uses := 1
	if req.Uses != nil {
		uses = *req.Uses
		if uses < 1 || uses > maxEnrollUses {
			return errorf(http.StatusBadRequest, "bad_uses", "uses must be from 1 to %d", maxEnrollUses)
		}
	}
	tags, err := checkTags(req.Tags)
	if err != nil {
		return err
	}
	secret, err := auth.NewToken(auth.KindEnrollment)
	if err != nil {
		return err
	}
	now := a.now()
	t := store.EnrollmentToken{
		ID: auth.NewID(), TokenHash: auth.HashToken(secret), CreatedBy: state(r).who.user.ID,
		CreatedAt: now, ExpiresAt: now.Add(ttl), UsesTotal: uses, UsesLeft: uses, Tags: tags,
	}
	setTarget(r, "enrollment_token", t.ID)
	state(r).detail = map[string]any{"uses": uses, "expires_at": t.ExpiresAt, "tags": tags}
	if err := a.store.CreateEnrollmentToken(r.Context(), t); err != nil {
		return err
	}
	out := a.toEnrollTokenJSON(t)
	server := a.baseURL(r)
	out.Token = secret
	out.Command = "restic-manager-agent enroll --server " + shellArg(server) + " --token " + secret
	out.CommandWindows = `& "` + windowsAgentPath + `" enroll --server ` + powershellArg(server) + " --token " + secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listEnrollTokens(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	tokens, err := a.store.ListEnrollmentTokens(r.Context(), cursor, limit+1)
	if err != nil {
		return err
	}
	writePage(w, tokens, limit, func(t store.EnrollmentToken) string { return t.ID }, a.toEnrollTokenJSON)
	return nil
}

func (a *API) revokeEnrollToken(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	setTarget(r, "enrollment_token", id)
	err := a.store.RevokeEnrollmentToken(r.Context(), id, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "no enrollment token %q", id)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type enrollRequest struct {
	Token        string `json:"token"`
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	AgentVersion string `json:"agent_version"`
}

type enrollResponse struct {
	HostID            string `json:"host_id"`
	HostName          string `json:"host_name"`
	Credential        string `json:"credential"`
	ServerFingerprint string `json:"server_fingerprint"`
	AgentConnectURL   string `json:"agent_connect_url"`
}

// enroll exchanges an enrollment token for a new host and its agent
// credential. The token is the credential of this request; failed
// attempts are rate-limited per source address.
func (a *API) enroll(w http.ResponseWriter, r *http.Request) error {
	addrKey := "addr:" + auth.ClientNet(auth.ClientIP(r.RemoteAddr))
	if ok, wait := a.enrollLimit.Allow(addrKey, a.now()); !ok {
		state(r).skipAudit = true
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		a.logger.Warn("enrollment attempt rate limited", "key", addrKey, "retry_after", secs)
		return &Error{
			Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many failed enrollment attempts from this address; try again later", RetryAfter: secs,
		}
	}
	var req enrollRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st := state(r)
	st.actorName = truncate(req.Hostname, maxHostnameLength)
	if req.Token == "" {
		return errorf(http.StatusBadRequest, "bad_request", "token is required: pass the enrollment token from \"restic-manager enroll-token create\"")
	}
	refuse := func(code, msg string) error {
		a.enrollLimit.Fail(addrKey, a.now())
		return errorf(http.StatusUnauthorized, code, "%s", msg)
	}
	if auth.TokenKind(req.Token) != auth.KindEnrollment {
		return refuse("enrollment_token_invalid", "this is not an enrollment token (they start with \"rme_\"); create one with \"restic-manager enroll-token create\"")
	}
	if err := checkHostname(req.Hostname); err != nil {
		return err
	}
	for name, v := range map[string]string{"os": req.OS, "arch": req.Arch, "agent_version": req.AgentVersion} {
		if len(v) > 64 || strings.ContainsFunc(v, unicode.IsControl) {
			return errorf(http.StatusBadRequest, "bad_request", "%s must be at most 64 printable characters", name)
		}
	}
	credential, err := auth.NewToken(auth.KindAgent)
	if err != nil {
		return err
	}
	hostID := auth.NewID()
	got, err := a.store.RedeemEnrollmentToken(r.Context(), store.Enrollment{
		TokenHash: auth.HashToken(req.Token),
		Host: store.Host{
			ID: hostID, Name: req.Hostname, Hostname: req.Hostname, OS: req.OS, Arch: req.Arch, AgentVersion: req.AgentVersion,
		},
		CredentialID: auth.NewID(),
		SecretHash:   auth.HashToken(credential),
		Now:          a.now(),
	})
	again := "; ask an admin for a new one (\"restic-manager enroll-token create\")"
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse("enrollment_token_unknown", "unknown enrollment token"+again)
	case errors.Is(err, store.ErrEnrollmentExpired):
		return refuse("enrollment_token_expired", "the enrollment token has expired"+again)
	case errors.Is(err, store.ErrEnrollmentUsedUp):
		return refuse("enrollment_token_used", "the enrollment token has already been used"+again)
	case errors.Is(err, store.ErrEnrollmentRevoked):
		return refuse("enrollment_token_revoked", "the enrollment token has been revoked"+again)
	case err != nil:
		return err
	}
	setTarget(r, "host", got.Host.ID)
	st.detail = map[string]any{"token_id": got.TokenID, "hostname": got.Host.Hostname}
	a.logger.Info("host enrolled", "host_id", got.Host.ID, "name", got.Host.Name, "token_id", got.TokenID)
	writeJSON(w, http.StatusCreated, enrollResponse{
		HostID: got.Host.ID, HostName: got.Host.Name, Credential: credential,
		ServerFingerprint: a.opts.ServerFingerprint, AgentConnectURL: connectURL(a.baseURL(r)),
	})
	return nil
}

// checkHostname accepts what a machine may be called: 1 to 253 letters,
// digits and . _ -, not starting with a dot or dash, and no "..", so a
// host name is safe in paths, logs and HCL.
func checkHostname(name string) error {
	bad := errorf(http.StatusBadRequest, "bad_hostname",
		"hostname must be 1 to %d letters, digits, '.', '_' or '-', not start with '.' or '-', and not contain \"..\"", maxHostnameLength)
	if name == "" || len(name) > maxHostnameLength || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") ||
		strings.Contains(name, "..") {
		return bad
	}
	for _, c := range name {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune("._-", c) {
			return bad
		}
	}
	return nil
}

// checkTags validates and de-duplicates the tags of an enrollment token.
func checkTags(tags []string) ([]string, error) {
	if len(tags) > maxEnrollTags {
		return nil, errorf(http.StatusBadRequest, "bad_tags", "at most %d tags", maxEnrollTags)
	}
	out := []string{}
	seen := map[string]bool{}
	for _, t := range tags {
		if t == "" || len(t) > 64 {
			return nil, errorf(http.StatusBadRequest, "bad_tags", "each tag must be 1 to 64 characters")
		}
		for _, c := range t {
			if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune("._-:=", c) {
				return nil, errorf(http.StatusBadRequest, "bad_tags", "tag %q: tags may hold only letters, digits and . _ - : =", t)
			}
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// parseTTL is time.ParseDuration plus whole days ("7d").
func parseTTL(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 366 {
			return 0, errors.New("bad number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// baseURL is where agents reach this server: the configured public_url,
// else the scheme and host of the request.
func (a *API) baseURL(r *http.Request) string {
	if a.opts.PublicURL != "" {
		return strings.TrimRight(a.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// connectURL turns a base URL into the agent's WebSocket endpoint.
func connectURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest + agentConnectPath
	}
	return "ws://" + strings.TrimPrefix(base, "http://") + agentConnectPath
}

// plainArg reports whether s needs no quoting in a POSIX shell or PowerShell.
func plainArg(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(c rune) bool {
		plain := c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("-_./:", c))
		return !plain
	})
}

// shellArg quotes s for a POSIX shell when it needs it.
func shellArg(s string) string {
	if plainArg(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// powershellArg quotes s for PowerShell when it needs it.
func powershellArg(s string) string {
	if plainArg(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
