package ntfy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// maxErrorBody is how much of an error response is read for the message.
const maxErrorBody = 512

// publish POSTs msg to the server within the configured timeout.
func (n *Notifier) publish(ctx context.Context, s *settings, msg message) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding the message: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "restic-manager-"+Name+"/"+Version)
	if s.authHeader != "" {
		req.Header.Set("Authorization", s.authHeader)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// The *url.Error repeats the URL, which the caller already names.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read the answer (the published message) so the connection can be
		// reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fmt.Errorf("server answered %s, redirecting to %q; set server to the URL it redirects to", resp.Status, resp.Header.Get("Location"))
	}
	return fmt.Errorf("topic %q: server answered %s%s", s.topic, resp.Status, errorDetail(resp.Body))
}

// errorDetail reads the start of an error response: ntfy's JSON error
// ({"code":40301,"http":403,"error":"forbidden"}) gives its error text,
// anything else a cleaned-up snippet. It returns "" or ": detail".
func errorDetail(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	var e struct {
		Code  int    `json:"code"`
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		if e.Code != 0 {
			return fmt.Sprintf(": %s (ntfy error %d)", e.Error, e.Code)
		}
		return ": " + e.Error
	}
	return snippet(b)
}

// snippet returns ": " and body as one line of printable text, or "".
func snippet(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, string(bytes.ToValidUTF8(b, nil)))
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if len(b) == maxErrorBody {
		s += " …"
	}
	return ": " + s
}
