package benchkit

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

// Client is a minimal client of the server's /api/v1.
type Client struct {
	Base  string // http://host:port
	Token string // bearer token; empty before bootstrap
	HTTP  *http.Client
}

// APIError is an answer other than 2xx.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// Call sends in as JSON and decodes a 2xx answer into out.
func (a *Client) Call(ctx context.Context, method, path string, in, out any) error {
	_, err := a.Do(ctx, method, path, in, out)
	return err
}

// Do is Call that also returns the status code, also with an *APIError
// for any other status.
func (a *Client) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, body) //nolint:gosec // G704: the server the benchmark started, on loopback
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	res, err := a.HTTP.Do(req) //nolint:gosec // G704: the server the benchmark started, on loopback
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, &APIError{Status: res.StatusCode, Body: string(b)})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return res.StatusCode, nil
}

// Job is the part of the API's job object the benchmarks read.
type Job struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	ExitCode   *int            `json:"exit_code"`
	Error      string          `json:"error"`
	Summary    json.RawMessage `json:"summary"`
}

// Ended reports whether the job has reached a final status.
func (j Job) Ended() bool {
	switch j.Status {
	case "succeeded", "failed", "cancelled", "skipped":
		return true
	}
	return false
}

// Ran is the job's run as the server recorded it (the agent's clock).
func (j Job) Ran() time.Duration {
	if j.StartedAt == nil || j.FinishedAt == nil {
		return 0
	}
	return j.FinishedAt.Sub(*j.StartedAt)
}

// JobRequest is the body of POST /api/v1/hosts/{id}/jobs.
type JobRequest struct {
	Kind       string         `json:"kind"`
	Repository string         `json:"repository"`
	Paths      []string       `json:"paths,omitempty"`
	Params     map[string]any `json:"params,omitempty"`
}

// RunJob asks the server to run r on the host.
func (a *Client) RunJob(ctx context.Context, hostID string, r JobRequest) (Job, error) {
	var j Job
	err := a.Call(ctx, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(hostID)+"/jobs", r, &j)
	return j, err
}

// Job reads one job.
func (a *Client) Job(ctx context.Context, id string) (Job, error) {
	var j Job
	err := a.Call(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

// WaitJob polls the job every interval until it has ended, and returns it
// with the time the end was first seen.
func (a *Client) WaitJob(ctx context.Context, id string, interval, timeout time.Duration) (Job, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		j, err := a.Job(ctx, id)
		if err != nil {
			return j, time.Time{}, err
		}
		if j.Ended() {
			return j, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return j, time.Time{}, fmt.Errorf("job %s (%s) still %s: %w", id, j.Kind, j.Status, ctx.Err())
		case <-tick.C:
		}
	}
}

// WaitQuiet waits until the host has no queued or running job (the
// snapshot refresh the server queues after a backup, for one), so that no
// measurement shares the machine with another job.
func (a *Client) WaitQuiet(ctx context.Context, hostID string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		busy := false
		for _, status := range []string{"queued", "running"} {
			var list struct {
				Items []Job `json:"items"`
			}
			q := url.Values{"host": {hostID}, "status": {status}, "limit": {"1"}}
			if err := a.Call(ctx, http.MethodGet, "/api/v1/jobs?"+q.Encode(), nil, &list); err != nil {
				return err
			}
			busy = busy || len(list.Items) > 0
		}
		if !busy {
			return nil
		}
		if err := Sleep(ctx, 50*time.Millisecond); err != nil {
			return errors.New("the host still has jobs queued or running")
		}
	}
}
