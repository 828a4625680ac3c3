package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook receiver on an httptest server, written the way
// docs/notifications.md tells users to write one: it checks the signature
// over the raw body with hmac.Equal before looking at anything else, and
// records every request. answer, if set, writes the response to request
// number i (from 0); otherwise every request gets 204.
type receiver struct {
	*httptest.Server

	secret []byte
	answer func(w http.ResponseWriter, r *http.Request, i int)

	mu   sync.Mutex
	reqs []received
}

// received is one request the receiver got.
type received struct {
	Method      string
	Path        string // with the query
	Header      http.Header
	Body        []byte
	SignatureOK bool // the signature header matched the body under secret
	At          time.Time
}

// newReceiver starts a receiver, closed when t ends.
func newReceiver(t testing.TB, secret string, answer func(w http.ResponseWriter, r *http.Request, i int)) *receiver {
	t.Helper()
	rc := &receiver{secret: []byte(secret), answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	got := received{
		Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body,
		SignatureOK: verify(rc.secret, body, r.Header.Get("X-Restic-Manager-Signature")),
		At:          time.Now(),
	}
	rc.mu.Lock()
	i := len(rc.reqs)
	rc.reqs = append(rc.reqs, got)
	rc.mu.Unlock()
	if rc.answer != nil {
		rc.answer(w, r, i)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify is the receiver's side of the signature, independent of Sign.
func verify(secret, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// requests returns what the receiver got so far.
func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// last returns the last request the receiver got.
func (rc *receiver) last(t testing.TB) received {
	t.Helper()
	reqs := rc.requests()
	if len(reqs) == 0 {
		t.Fatal("the receiver got no request")
	}
	return reqs[len(reqs)-1]
}
