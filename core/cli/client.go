package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/internal/version"
)

// requestTimeout bounds every API request, connection to last byte.
const requestTimeout = 30 * time.Second

// maxResponse caps what the client reads of one response; a page of 1,000
// objects is far smaller.
const maxResponse = 64 << 20

// maxPageSize is the largest page the API serves.
const maxPageSize = 1000

// client calls the server's JSON API under <addr>/api/v1.
type client struct {
	addr  string // as the user gave it, for messages
	base  string // addr without a trailing slash
	token string // "" sends no Authorization header
	http  *http.Client
}

// newClient checks addr and returns a client for it.
func newClient(addr, token string) (*client, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, Usagef("server address %q is not an http:// or https:// URL such as %s", addr, defaultAddr)
	}
	return &client{
		addr:  addr,
		base:  strings.TrimRight(addr, "/"),
		token: token,
		http: &http.Client{
			Timeout: requestTimeout,
			// A redirect would turn a POST into a GET and may point
			// anywhere; say where the server points instead of following.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// apiError is an error answer from the API.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string // the Retry-After header, if any
}

// Error renders the message the server wrote with the status, such as
// "your role does not allow this (HTTP 403)".
func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.RetryAfter != "" {
		return fmt.Sprintf("%s (HTTP %d, retry after %ss)", msg, e.Status, e.RetryAfter)
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// do sends a request to /api/v1+path and decodes a JSON answer into out
// (which may be a *json.RawMessage, or nil to ignore the body). in, when not
// nil, is sent as the JSON body.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.base + "/api/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", progName+"-cli/"+version.Version)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s %s: the answer is larger than %d MiB", method, path, maxResponse>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the server's answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// decodeError turns a non-2xx answer into an *apiError. Answers that are not
// the API's JSON error (a proxy's HTML page, a plain-text 404) keep a short
// plain-text body as the message, or fall back to the status text.
func decodeError(resp *http.Response, data []byte) error {
	e := &apiError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		return e
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		e.Message = fmt.Sprintf("the server redirects to %s; set --addr or %s to the server's address", sanitize(loc), envAddr)
		return e
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if text := strings.TrimSpace(string(data)); mediaType == "text/plain" && text != "" && len(text) <= 200 {
		e.Message = sanitize(text)
	}
	return e
}

// transportError explains a request that got no answer.
func (c *client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var (
		netErr  net.Error
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the server at %s: is it running?", c.addr)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("the server at %s did not answer within %s", c.addr, requestTimeout)
	case errors.As(err, &certErr):
		return fmt.Errorf("cannot trust the server at %s: %w", c.addr, certErr.Err)
	case errors.As(err, &recErr):
		return fmt.Errorf("the server at %s does not speak TLS; try http:// instead of https://", c.addr)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach the server at %s: %w", c.addr, opErr.Err)
	default:
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("request to %s failed: %w", c.addr, err)
	}
}

// page is one answer of a listing endpoint.
type page struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// listAll fetches every page of a listing, following next_cursor until the
// server returns "".
func (c *client) listAll(ctx context.Context, path string, query url.Values) ([]json.RawMessage, error) {
	items, _, err := c.listN(ctx, path, query, 0)
	return items, err
}

// listN fetches pages of a listing until it has n items (n <= 0: all of
// them). more reports whether the server had items beyond the n returned.
func (c *client) listN(ctx context.Context, path string, query url.Values, n int) (items []json.RawMessage, more bool, err error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = append([]string(nil), v...)
	}
	items = []json.RawMessage{}
	seen := map[string]bool{}
	for {
		size := maxPageSize
		if n > 0 {
			// One more than needed tells whether there are more.
			size = min(size, n-len(items)+1)
		}
		q.Set("limit", strconv.Itoa(size))
		var p page
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, false, err
		}
		if p.Items == nil {
			return nil, false, fmt.Errorf("GET %s: the server's answer is not a list", path)
		}
		items = append(items, p.Items...)
		if n > 0 && len(items) > n {
			return items[:n], true, nil
		}
		if n > 0 && len(items) == n {
			return items, p.NextCursor != "", nil
		}
		if p.NextCursor == "" {
			return items, false, nil
		}
		if seen[p.NextCursor] {
			return nil, false, fmt.Errorf("GET %s: the server returned cursor %q twice", path, p.NextCursor)
		}
		seen[p.NextCursor] = true
		q.Set("cursor", p.NextCursor)
	}
}
