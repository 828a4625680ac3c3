package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// treePage is the answer of GET …/snapshots/{snap}/tree, complete or not.
type treePage struct {
	Status       string      `json:"status"`
	JobID        string      `json:"job_id"`
	EntriesSoFar int64       `json:"entries_so_far"`
	Items        []treeEntry `json:"items"`
	NextCursor   string      `json:"next_cursor"`
	Total        int64       `json:"total"`
	Entries      int64       `json:"entries"`
}

type treeEntry struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

// folderPage asks for one page of folder dir; code is 200 or 202 (listing).
func folderPage(ctx context.Context, a *benchkit.Client, hostID, snap, dir, after string, limit int) (treePage, int, error) {
	q := url.Values{"path": {dir}, "limit": {fmt.Sprint(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var p treePage
	code, err := a.Do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostID)+"/snapshots/"+url.PathEscape(snap)+"/tree?"+q.Encode(), nil, &p)
	return p, code, err
}

type searchResult struct {
	Status    string      `json:"status"`
	Items     []treeEntry `json:"items"`
	Truncated bool        `json:"truncated"`
}

func searchSnapshot(ctx context.Context, a *benchkit.Client, hostID, snap, text string, limit int) (searchResult, error) {
	q := url.Values{"q": {text}, "limit": {fmt.Sprint(limit)}}
	var r searchResult
	code, err := a.Do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostID)+"/snapshots/"+url.PathEscape(snap)+"/search?"+q.Encode(), nil, &r)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("search %q: HTTP %d, status %q", text, code, r.Status)
	}
	return r, err
}
