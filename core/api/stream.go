package api

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/core/store"
)

// Job stream timing.
const (
	streamWriteTimeout = 10 * time.Second
	streamPingInterval = 25 * time.Second
	streamReadTimeout  = 60 * time.Second
	// streamPoll is how often a stream re-reads the store when no hub
	// tells it about new events.
	streamPoll = time.Second
	streamPage = 1000
)

// streamUpgrader accepts job streams. The origin is checked before the
// upgrade by checkStreamOrigin, which knows the configured public URL;
// the upgrader's own check (Origin host = Host) would refuse a page served
// through a TLS-terminating proxy.
var streamUpgrader = websocket.Upgrader{
	HandshakeTimeout: 10 * time.Second, WriteBufferSize: 16 << 10,
	CheckOrigin: func(*http.Request) bool { return true },
}

// streamFrame is one text frame of the job stream: "event" frames carry
// one stored event (the fields of a /logs item); the last frame is
// "status", with the job as it ended. docs/jobs.md describes it.
type streamFrame struct {
	Frame  string    `json:"frame"`
	Seq    int64     `json:"seq,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	Stream string    `json:"stream,omitempty"`
	Type   string    `json:"type,omitempty"`
	Line   string    `json:"line,omitempty"`
	Status string    `json:"status,omitempty"`
	Job    *jobJSON  `json:"job,omitempty"`
}

// streamJob upgrades to a WebSocket that replays the job's stored events
// after ?after_seq, follows new ones as they are stored, and ends with a
// status frame and a normal close once the job has ended.
func (a *API) streamJob(w http.ResponseWriter, r *http.Request) error {
	if err := a.checkStreamOrigin(r); err != nil {
		return err
	}
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	after, err := afterSeq(r, "")
	if err != nil {
		return err
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return errorf(http.StatusBadRequest, "websocket_required", "this endpoint is a WebSocket: connect with a WebSocket client, or page through /api/v1/jobs/%s/logs", j.ID)
	}
	ws, err := streamUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered the request
	}
	defer ws.Close()
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	go func() {
		// The client sends nothing but pongs and its close frame; reading
		// notices both, and a client gone silent.
		_ = ws.SetReadDeadline(time.Now().Add(streamReadTimeout))
		ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(streamReadTimeout)) })
		for {
			if _, _, err := ws.NextReader(); err != nil {
				cancel()
				return
			}
		}
	}()
	s := &jobStream{a: a, ws: ws, jobID: j.ID, last: after}
	if err := s.run(ctx); err != nil {
		a.logger.Debug("job stream ended", "job_id", j.ID, "error", err)
	}
	return nil
}

// checkStreamOrigin refuses cross-site WebSocket hijacking. WebSockets are
// not bound by CORS, so a page on any site could open the stream and the
// browser would send the session cookie along; a request that carries an
// Origin (every browser sends one) must therefore come from this server's
// own pages: the request's scheme and host, or the public_url's. Clients
// that send no Origin (the CLI, scripts, with a token or a cookie) are not
// a browser acting for someone else and pass.
func (a *API) checkStreamOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	got := originKey(origin)
	own := []string{originKey(scheme + "://" + r.Host)}
	if a.opts.PublicURL != "" {
		own = append(own, originKey(a.opts.PublicURL))
	}
	for _, o := range own {
		if got != "" && got == o {
			return nil
		}
	}
	a.logger.Warn("refused a job stream opened from another site", "origin", truncateText(origin, 200), "path", r.URL.Path)
	return errorf(http.StatusForbidden, "bad_origin",
		"a page of another site (Origin %q) may not open this stream; open the job from this server's own pages, or connect without an Origin header using an API token",
		truncateText(origin, 100))
}

// originKey reduces a URL to the scheme://host[:port] it names, lower-case
// and without a default port, or "" when it names no http(s) origin
// (such as the Origin "null" of a sandboxed page).
func originKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

type jobStream struct {
	a     *API
	ws    *websocket.Conn
	jobID string
	last  int64
}

func (s *jobStream) run(ctx context.Context) error {
	ping := time.NewTicker(streamPingInterval)
	defer ping.Stop()
	for {
		var live <-chan store.JobLog
		unsubscribe := func() {}
		if s.a.opts.Agents != nil {
			live, unsubscribe = s.a.opts.Agents.Subscribe(s.jobID)
		}
		// Subscribed first, then the store: nothing stored in between is
		// missed, and seqs already sent are skipped.
		if err := s.replay(ctx); err != nil {
			unsubscribe()
			return err
		}
		j, err := s.a.store.GetJob(ctx, s.jobID)
		if err != nil {
			unsubscribe()
			return err
		}
		if store.Terminal(j.Status) {
			unsubscribe()
			if err := s.replay(ctx); err != nil {
				return err
			}
			return s.end(ctx, j)
		}
		err = s.follow(ctx, live, ping.C)
		unsubscribe()
		if err != nil {
			return err
		}
	}
}

// follow sends live events until the subscription closes (the job ended
// or this stream fell behind; run then re-reads the store) or, without a
// hub, for one poll interval.
func (s *jobStream) follow(ctx context.Context, live <-chan store.JobLog, ping <-chan time.Time) error {
	var poll <-chan time.Time
	if live == nil {
		t := time.NewTimer(streamPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case l, ok := <-live:
			if !ok {
				return nil
			}
			if l.Seq <= s.last {
				continue
			}
			if err := s.send(l); err != nil {
				return err
			}
		case <-poll:
			return nil
		case <-ping:
			if err := s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(streamWriteTimeout)); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// replay sends what the store holds after the last seq sent.
func (s *jobStream) replay(ctx context.Context) error {
	for {
		rows, err := s.a.store.JobLogs(ctx, s.jobID, s.last, streamPage)
		if err != nil {
			return err
		}
		for _, l := range rows {
			if err := s.send(l); err != nil {
				return err
			}
		}
		if len(rows) < streamPage {
			return nil
		}
	}
}

func (s *jobStream) send(l store.JobLog) error {
	s.last = l.Seq
	_ = s.ws.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	return s.ws.WriteJSON(streamFrame{Frame: "event", Seq: l.Seq, Time: l.Time, Stream: l.Stream, Type: l.Type, Line: l.Line})
}

// end sends the status frame and closes normally.
func (s *jobStream) end(ctx context.Context, j store.Job) error {
	jj := s.a.newNames(ctx).job(j)
	_ = s.ws.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if err := s.ws.WriteJSON(streamFrame{Frame: "status", Status: j.Status, Job: &jj}); err != nil {
		return err
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "job "+j.Status)
	if err := s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(streamWriteTimeout)); err != nil {
		return err
	}
	// Give the client a moment to answer the close frame.
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}
