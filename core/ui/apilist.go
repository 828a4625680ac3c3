package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/restic-manager/restic-manager/core/api"
)

// itemsPage is one page of an API listing.
type itemsPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// maxListPages bounds allItems: 50 pages of 1,000 is more than any page of
// the UI shows.
const maxListPages = 50

// allItems reads every page of the API listing at path (which may carry a
// query) for c.
func allItems[T any](u *UI, r *http.Request, c *api.Caller, path string) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var out []T
	cursor := ""
	for range maxListPages {
		p := path + sep + "limit=1000"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var page itemsPage[T]
		if err := u.call(r, c, http.MethodGet, p, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
	return nil, fmt.Errorf("list %s: more than %d pages", path, maxListPages)
}

// wantsFragment reports whether r came from htmx, which wants a fragment back.
func wantsFragment(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// copyBlock is a block of text with a copy button (partial "copy-block").
type copyBlock struct {
	ID, Label, Text string
}
