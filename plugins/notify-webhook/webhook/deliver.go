package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/restic-manager/restic-manager/sdk/notify"
)

// The headers the plugin sets on every request.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body under the secret, when one is configured.
	SignatureHeader = "X-Restic-Manager-Signature"
	// EventHeader carries the notification's event kind.
	EventHeader = "X-Restic-Manager-Event"
	// DeliveryHeader carries an id that is the same for every attempt to
	// deliver one notification, so a receiver can drop duplicates.
	DeliveryHeader = "X-Restic-Manager-Delivery"
)

// Retry timing.
const (
	defaultRetryBase = time.Second
	maxBackoff       = 30 * time.Second
	// maxRetryAfter is the longest Retry-After the plugin waits for; a
	// receiver asking for more is given up on at once.
	maxRetryAfter = 2 * time.Minute
	// maxErrorBody is how much of an error response is quoted.
	maxErrorBody = 512
)

// Sign returns the value of the signature header for body under secret:
// "sha256=" and the hex-encoded HMAC-SHA256.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// attemptError is why one attempt failed.
type attemptError struct {
	err        error
	retryable  bool
	retryAfter time.Duration // the receiver's Retry-After, if any
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// deliver sends body, retrying retryable failures with exponential backoff
// (at least the receiver's Retry-After) until it succeeds, the retries are
// used up, or ctx ends.
func (n *Notifier) deliver(ctx context.Context, s *settings, note notify.Notification, body []byte) error {
	delivery := newDeliveryID()
	for attempt := 0; ; attempt++ {
		err := n.attempt(ctx, s, note, delivery, body)
		if err == nil {
			n.logger.Debug("delivered", "target", s.target, "event", note.Event, "delivery", delivery, "attempts", attempt+1)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *attemptError
		if !errors.As(err, &ae) || !ae.retryable {
			return err
		}
		if attempt >= s.retries {
			if s.retries == 0 {
				return err
			}
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
		}
		wait := backoff(n.retryBase, attempt)
		if ae.retryAfter > maxRetryAfter {
			return fmt.Errorf("%w (the receiver asks to retry after %s; not waiting that long)", err, ae.retryAfter)
		}
		wait = max(wait, ae.retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fmt.Errorf("%w (no time left to retry after %s)", err, wait.Round(time.Millisecond))
		}
		n.logger.Warn("delivery failed, retrying", "target", s.target, "event", note.Event, "delivery", delivery,
			"attempt", attempt+1, "wait", wait.Round(time.Millisecond), "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w; stopped waiting to retry: %w", err, ctx.Err())
		case <-timer.C:
		}
	}
}

// attempt sends the request once, within the configured timeout.
func (n *Notifier) attempt(ctx context.Context, s *settings, note notify.Notification, delivery string, body []byte) error {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, s.method, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request: %w", stripURL(err))
	}
	req.Header = s.headers.Clone()
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "restic-manager-"+Name+"/"+Version)
	}
	req.Header.Set(EventHeader, note.Event)
	req.Header.Set(DeliveryHeader, delivery)
	if len(s.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(s.secret, body))
	}

	resp, err := n.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if actx.Err() != nil {
			// The attempt's own timeout, not the caller's deadline: not
			// reported as context.DeadlineExceeded.
			return &attemptError{err: fmt.Errorf("no answer within %s", s.timeout), retryable: true}
		}
		return &attemptError{err: stripURL(err), retryable: true}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read the answer so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	ae := &attemptError{err: fmt.Errorf("receiver answered %s%s", resp.Status, snippet(resp.Body))}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// Location may carry a token like the URL itself: not shown.
		ae.err = fmt.Errorf("receiver answered %s, a redirect; set url to the URL it redirects to", resp.Status)
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		ae.retryable = true
		ae.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		ae.retryable = true
	}
	return ae
}

// backoff is the wait before retry number attempt+1: base doubled per
// attempt, capped at maxBackoff, less up to a fifth at random so that
// channels failing together do not retry in step.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for range attempt {
		d *= 2
		if d >= maxBackoff {
			d = maxBackoff
			break
		}
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1)) //nolint:gosec // G404: jitter needs no cryptographic randomness
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 for a missing or unreadable one.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// stripURL drops the URL that net/http puts into its errors: it may carry
// a token, and the caller names the target already.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// snippet reads the start of an error response and returns it as ": " and
// one line of printable text, or "".
func snippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
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

// newDeliveryID returns a random id for one notification's deliveries.
func newDeliveryID() string {
	return crand.Text()
}
