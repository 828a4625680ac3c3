package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
)

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 50

// auditItem is one audit entry as the API answers it.
type auditItem struct {
	ID         int64          `json:"id"`
	Time       time.Time      `json:"time"`
	ActorKind  string         `json:"actor_kind"`
	ActorID    string         `json:"actor_id"`
	Actor      string         `json:"actor"`
	Action     string         `json:"action"`
	TargetKind string         `json:"target_kind"`
	TargetID   string         `json:"target_id"`
	SourceAddr string         `json:"source_addr"`
	Outcome    string         `json:"outcome"`
	Detail     map[string]any `json:"detail"`
}

// ActorLabel names who acted: the name when known, else the kind.
func (e auditItem) ActorLabel() string {
	if e.Actor != "" {
		return e.Actor
	}
	return e.ActorKind
}

// Target is "kind id", shortened for the table; empty when there is none.
func (e auditItem) Target() string {
	id := e.TargetID
	if len(id) > 13 {
		id = id[:8] + "…"
	}
	return strings.TrimSpace(e.TargetKind + " " + id)
}

// maxDetailValue caps one detail value in the table.
const maxDetailValue = 80

// DetailPairs are the entry's detail as sorted "key=value" strings, each
// value at most maxDetailValue characters.
func (e auditItem) DetailPairs() []string {
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		v := detailValue(e.Detail[k])
		if r := []rune(v); len(r) > maxDetailValue {
			v = string(r[:maxDetailValue-1]) + "…"
		}
		out = append(out, k+"="+v)
	}
	return out
}

// detailValue formats one JSON value compactly: strings bare, lists
// comma-separated, numbers without a needless ".0".
func detailValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = detailValue(p)
		}
		return strings.Join(parts, ",")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// auditFilter is the filter form, as typed.
type auditFilter struct {
	Actor, Action, Outcome, Since, Until string
}

// query is the filter as query parameters of this page.
func (f auditFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "outcome": f.Outcome, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

type auditData struct {
	Items    []auditItem
	Filter   auditFilter
	Filtered bool
	Outcomes []string
	Actions  []string
	// Older is the link to the next page of older entries; Newest the
	// first page (both "" when there is none to go to).
	Older, Newest string
}

// auditActions are suggestions for the action filter: a family ends in ".".
var auditActions = []string{
	"login", "logout", "bootstrap", "account.password",
	"user.", "token.", "repository.", "enrollment_token.", "agent.enroll", "host.", "job.", "channel.",
}

// auditTimeLayout is what <input type="datetime-local"> sends.
const auditTimeLayout = "2006-01-02T15:04"

// auditTime turns a datetime-local value (UTC) into RFC 3339 for the API.
func auditTime(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(auditTimeLayout, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return "", fmt.Errorf("%s: give a date and time such as 2026-01-02T15:04 (UTC)", field)
		}
	}
	return t.UTC().Format(time.RFC3339), nil
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	q := r.URL.Query()
	f := auditFilter{
		Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Outcome: q.Get("outcome"), Since: q.Get("since"), Until: q.Get("until"),
	}
	d := auditData{Filter: f, Outcomes: []string{"success", "failure", "denied"}, Actions: auditActions}
	apiQ := f.query()
	apiQ.Del("since")
	apiQ.Del("until")
	for _, tf := range []struct{ name, label, value string }{{"since", "Since", f.Since}, {"until", "Until", f.Until}} {
		v, err := auditTime(tf.label, tf.value)
		if err != nil {
			u.render(w, r, c, http.StatusBadRequest, "audit", view{
				Title: "Audit log", Nav: "audit", Data: d, Flashes: []flash{{Kind: "error", Message: err.Error()}},
			})
			return
		}
		if v != "" {
			apiQ.Set(tf.name, v)
		}
	}
	d.Filtered = len(apiQ) > 0
	apiQ.Set("limit", strconv.Itoa(auditPageSize))
	cursor := q.Get("cursor")
	if cursor != "" {
		apiQ.Set("cursor", cursor)
	}
	var page itemsPage[auditItem]
	if err := u.call(r, c, http.MethodGet, "/api/v1/audit?"+apiQ.Encode(), nil, &page); err != nil {
		u.fail(w, r, c, err)
		return
	}
	d.Items = page.Items
	if page.NextCursor != "" {
		older := f.query()
		older.Set("cursor", page.NextCursor)
		d.Older = "/audit?" + older.Encode()
	}
	if cursor != "" {
		d.Newest = "/audit"
		if fq := f.query().Encode(); fq != "" {
			d.Newest += "?" + fq
		}
	}
	u.render(w, r, c, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Data: d})
}
