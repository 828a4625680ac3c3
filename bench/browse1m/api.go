package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// api is a minimal client of the server's /api/v1.
type api struct {
	base  string
	token string
	http  *http.Client
}

type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

// call sends in as JSON and decodes a 2xx answer into out. It returns the
// status code, also with an *apiError for any other status.
func (a *api) call(ctx context.Context, method, path string, in, out any) error {
	_, err := a.do(ctx, method, path, in, out)
	return err
}

func (a *api) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body) //nolint:gosec // G704: the server this benchmark started, on loopback
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.http.Do(req) //nolint:gosec // G704: the server this benchmark started, on loopback
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, &apiError{status: res.StatusCode, body: string(b)})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return res.StatusCode, nil
}

// job is the part of the API's job object the benchmark reads.
type job struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Error      string          `json:"error"`
	Summary    json.RawMessage `json:"summary"`
}

func (j job) ended() bool {
	switch j.Status {
	case "succeeded", "failed", "cancelled", "skipped":
		return true
	}
	return false
}

// ran is the job's run as the server recorded it (agent's clock).
func (j job) ran() time.Duration {
	if j.StartedAt == nil || j.FinishedAt == nil {
		return 0
	}
	return j.FinishedAt.Sub(*j.StartedAt)
}

type jobRequest struct {
	Kind       string   `json:"kind"`
	Repository string   `json:"repository"`
	Paths      []string `json:"paths,omitempty"`
}

func (a *api) runJob(ctx context.Context, hostID string, r jobRequest) (job, error) {
	var j job
	err := a.call(ctx, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(hostID)+"/jobs", r, &j)
	return j, err
}

func (a *api) job(ctx context.Context, id string) (job, error) {
	var j job
	err := a.call(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

// waitJob polls the job every interval until it has ended.
func (a *api) waitJob(ctx context.Context, id string, interval, timeout time.Duration) (job, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		j, err := a.job(ctx, id)
		if err != nil {
			return j, err
		}
		if j.ended() {
			return j, nil
		}
		if err := sleep(ctx, interval); err != nil {
			return j, fmt.Errorf("job %s (%s) still %s: %w", id, j.Kind, j.Status, err)
		}
	}
}

// waitQuiet waits until the host has no queued or running job (the
// snapshot refresh the server queues after a backup, for one).
func (a *api) waitQuiet(ctx context.Context, hostID string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		busy := false
		for _, status := range []string{"queued", "running"} {
			var list struct {
				Items []job `json:"items"`
			}
			q := url.Values{"host": {hostID}, "status": {status}, "limit": {"1"}}
			if err := a.call(ctx, http.MethodGet, "/api/v1/jobs?"+q.Encode(), nil, &list); err != nil {
				return err
			}
			busy = busy || len(list.Items) > 0
		}
		if !busy {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return errors.New("the host still has jobs queued or running")
		}
	}
}

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

// tree asks for one page of folder dir; code is 200 or 202 (listing).
func (a *api) tree(ctx context.Context, hostID, snap, dir, after string, limit int) (treePage, int, error) {
	q := url.Values{"path": {dir}, "limit": {fmt.Sprint(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var p treePage
	code, err := a.do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostID)+"/snapshots/"+url.PathEscape(snap)+"/tree?"+q.Encode(), nil, &p)
	return p, code, err
}

type searchResult struct {
	Status    string      `json:"status"`
	Items     []treeEntry `json:"items"`
	Truncated bool        `json:"truncated"`
}

func (a *api) search(ctx context.Context, hostID, snap, text string, limit int) (searchResult, error) {
	q := url.Values{"q": {text}, "limit": {fmt.Sprint(limit)}}
	var r searchResult
	code, err := a.do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostID)+"/snapshots/"+url.PathEscape(snap)+"/search?"+q.Encode(), nil, &r)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("search %q: HTTP %d, status %q", text, code, r.Status)
	}
	return r, err
}
