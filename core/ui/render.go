package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/store"
)

// page is one parsed template set: the layout, the partials and one page.
type page struct{ tmpl *template.Template }

var funcs = template.FuncMap{
	"ago": func(t *time.Time) string { return ago(time.Now(), t) },
	// stamp and isoStamp format a time.Time or *time.Time in UTC, for
	// people and for <time datetime>; unset reads "—" and "".
	"stamp":    func(t any) string { return formatStamp(t, "2006-01-02 15:04 UTC", "—") },
	"isoStamp": func(t any) string { return formatStamp(t, time.RFC3339, "") },
}

// parsePages parses every page in fsys: each NAME.html but layout.html
// fills the layout's "content" block and is rendered as page NAME; files
// named _NAME.html are partials every page (and htmx fragments) can use.
func parsePages(fsys fs.FS) (map[string]*page, error) {
	files, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	var partials, pages []string
	for _, f := range files {
		switch {
		case f == "layout.html":
		case strings.HasPrefix(f, "_"):
			partials = append(partials, f)
		default:
			pages = append(pages, f)
		}
	}
	out := map[string]*page{}
	for _, f := range pages {
		name := strings.TrimSuffix(f, ".html")
		t, err := template.New(name).Funcs(funcs).ParseFS(fsys, append([]string{"layout.html", f}, partials...)...)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		out[name] = &page{tmpl: t}
	}
	return out, nil
}

// renderFragment writes one named template of a page without the layout:
// the HTML an htmx request swaps in.
func (u *UI) renderFragment(w http.ResponseWriter, status int, pageName, tmpl string, data any) {
	p, ok := u.pages[pageName]
	if !ok {
		u.logger.Error("rendering a fragment failed", "page", pageName, "error", "no such page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, tmpl, data); err != nil {
		u.logger.Error("rendering a fragment failed", "page", pageName, "template", tmpl, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	setSecurityHeaders(h)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flash is a one-line message shown at the top of the next page.
type flash struct {
	Kind    string // "ok" or "error"
	Message string
}

// view is what every template gets.
type view struct {
	Title        string
	Nav          string
	User         *store.User
	CSRF         string
	AssetVersion string
	Flashes      []flash
	Data         any
}

const flashCookie = "rm_flash"

// setFlash keeps a message for the page the browser is redirected to.
func (u *UI) setFlash(w http.ResponseWriter, kind, msg string) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure under TLS or an https public_url, as the session cookie
		Name: flashCookie, Value: url.QueryEscape(kind + ":" + msg), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns and clears the message setFlash kept.
func (u *UI) takeFlash(w http.ResponseWriter, r *http.Request) []flash {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: clears the cookie; same attributes as when set
		Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode,
	})
	raw, err := url.QueryUnescape(c.Value)
	if err != nil {
		return nil
	}
	kind, msg, ok := strings.Cut(raw, ":")
	if !ok || (kind != "ok" && kind != "error") || msg == "" {
		return nil
	}
	return []flash{{Kind: kind, Message: msg}}
}

// render writes a page; the page is rendered to a buffer first so a
// template error becomes a clean 500, not half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, name string, v view) {
	if c != nil {
		v.User = &c.User
		v.CSRF = c.CSRF
	} else if v.CSRF == "" {
		v.CSRF = u.preSessionToken(w, r)
	}
	v.AssetVersion = u.assetVersion
	v.Flashes = append(u.takeFlash(w, r), v.Flashes...)
	var buf bytes.Buffer
	if err := u.pages[name].tmpl.ExecuteTemplate(&buf, "layout", v); err != nil {
		u.logger.Error("rendering a page failed", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	setSecurityHeaders(h)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// setSecurityHeaders: same-origin everything, no framing.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

type errorData struct {
	Status  int
	Message string
}

// renderError shows the friendly error page.
func (u *UI) renderError(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, msg string) {
	u.render(w, r, c, status, "error", view{
		Title: http.StatusText(status),
		Data:  errorData{Status: status, Message: msg},
	})
}

// ago says how long before now t was, for humans.
func ago(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

// formatStamp formats t (a time.Time or *time.Time) in UTC with layout;
// a nil or zero time is unset.
func formatStamp(t any, layout, unset string) string {
	var v time.Time
	switch x := t.(type) {
	case time.Time:
		v = x
	case *time.Time:
		if x != nil {
			v = *x
		}
	}
	if v.IsZero() {
		return unset
	}
	return v.UTC().Format(layout)
}
