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

func (a *api) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &apiError{status: res.StatusCode, body: string(b)})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// job is the part of the API's job object the benchmark reads.
type job struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	ExitCode   *int       `json:"exit_code"`
	Error      string     `json:"error"`
}

func (j job) ended() bool {
	switch j.Status {
	case "succeeded", "failed", "cancelled", "skipped":
		return true
	}
	return false
}

type jobRequest struct {
	Kind       string         `json:"kind"`
	Repository string         `json:"repository"`
	Paths      []string       `json:"paths,omitempty"`
	Params     map[string]any `json:"params,omitempty"`
}

func (a *api) runJob(ctx context.Context, hostID string, r jobRequest) (job, error) {
	var j job
	err := a.call(ctx, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(hostID)+"/jobs", r, &j)
	return j, err
}

// waitJob polls the job every interval until it has ended, and returns it
// with the time the end was first seen.
func (a *api) waitJob(ctx context.Context, id string, interval time.Duration, timeout time.Duration) (job, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var j job
		if err := a.call(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j); err != nil {
			return j, time.Time{}, err
		}
		if j.ended() {
			return j, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return j, time.Time{}, fmt.Errorf("job %s (%s) still %s: %w", id, j.Kind, j.Status, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitQuiet waits until the host has no queued or running job (the
// snapshot refresh the server queues after a backup, for one), so that no
// measurement shares the machine with another job.
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
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return errors.New("the host still has jobs queued or running")
		}
	}
}
