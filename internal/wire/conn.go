package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"
)

// Application close codes (RFC 6455 leaves 4000–4999 to applications).
const (
	// CloseReplaced: the server accepted a newer connection from the same host.
	CloseReplaced = 4000
	// CloseRevoked: the agent's credential was revoked; reconnecting is futile
	// until the host is enrolled again.
	CloseRevoked = 4001
)

// Defaults for Config's zero fields.
const (
	DefaultSendQueue      = 64
	DefaultDispatchQueue  = 64
	DefaultRequestTimeout = 30 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPingInterval   = 25 * time.Second
	DefaultReadTimeout    = 60 * time.Second
	DefaultCloseGrace     = time.Second
)

// HandlerFunc handles one incoming request or notification. Handlers of a
// connection run one at a time, in arrival order, on a goroutine of their own
// (not the reader). Their context ends when the connection closes, except
// that after an orderly close (a close frame, Close, a network loss) the
// messages that arrived before it are still handled, for up to CloseGrace;
// after a protocol violation they are dropped.
//
// For a request, a handler either replies with c.Reply and returns nil, or
// returns an error and the peer gets an error message: an *Error as is, an
// error wrapping ErrInvalidPayload as CodeInvalid, anything else as
// CodeInternal with a generic message (the detail is logged, not sent). An
// error wrapping ErrPolicyViolation closes the connection with 1008 instead.
// A handler must not block on a Request to the same peer; start a goroutine
// for that.
type HandlerFunc func(ctx context.Context, c *Conn, env Envelope) error

// Config tunes a connection. Zero fields take the defaults.
type Config struct {
	// Role is this end of the connection. Dial and Upgrade set it.
	Role Role
	// Logger receives the connection's log lines, named "wire".
	Logger hclog.Logger
	// Handlers maps incoming request and notification types to handlers.
	// A request without a handler is answered with CodeUnsupported; a
	// notification without one is logged and dropped.
	Handlers map[Type]HandlerFunc
	// MaxFrameSize caps incoming and outgoing frames (DefaultMaxFrameSize).
	MaxFrameSize int
	// SendQueue is how many encoded frames may wait for the writer; when it
	// is full, Send, Request and Reply block until there is room or their
	// context ends (DefaultSendQueue).
	SendQueue int
	// DispatchQueue is how many incoming messages may wait for handlers;
	// when it is full the reader stops reading, and TCP pushes back on the
	// peer (DefaultDispatchQueue).
	DispatchQueue int
	// RequestTimeout bounds Request when its context has no earlier deadline
	// (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// WriteTimeout bounds each frame write; a peer that does not read for
	// this long is dropped (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// PingInterval is how often to ping the peer; negative disables pinging
	// (DefaultPingInterval).
	PingInterval time.Duration
	// ReadTimeout drops the connection when nothing at all (message, ping
	// or pong) arrives for this long; negative disables it
	// (DefaultReadTimeout). Keep it above the peer's PingInterval.
	ReadTimeout time.Duration
	// CloseGrace is how long a closing side waits for the peer to answer its
	// close frame before dropping the TCP connection (DefaultCloseGrace).
	CloseGrace time.Duration
}

func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.DispatchQueue <= 0 {
		cfg.DispatchQueue = DefaultDispatchQueue
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.CloseGrace <= 0 {
		cfg.CloseGrace = DefaultCloseGrace
	}
	return cfg
}

// CloseError says why a connection ended; Conn.Err returns it and ErrClosed
// errors wrap it.
type CloseError struct {
	// Code is the WebSocket close code sent or received (1006 when the
	// connection was lost without one).
	Code int
	// Reason is the close frame's text.
	Reason string
	// Remote is true when the peer closed or the network failed.
	Remote bool
	// Err is the local cause, if any (ErrMalformed, ErrTimeout, …).
	Err error

	sendFrame bool // write a close frame
	drain     bool // flush queued frames first
	discard   bool // drop received messages not yet handled (the peer is not trusted)
}

func (e *CloseError) Error() string {
	who := "closed"
	if e.Remote {
		who = "closed by peer"
	}
	s := fmt.Sprintf("wire: connection %s (%d %s)", who, e.Code, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CloseError) Unwrap() error { return e.Err }

// Conn is one agent connection, on either side. It owns the *websocket.Conn:
// one goroutine writes (frames from a bounded queue, and pings), one reads
// (and answers pings), and handlers run on a third that exists only while
// messages wait. All of them end when the connection closes, which happens
// on Close, on the context given to NewConn ending, on a network error, on a
// ping timeout, or on any frame that breaks the protocol; none of that
// affects other connections.
type Conn struct {
	ws    *websocket.Conn
	cfg   Config
	log   hclog.Logger
	codec Codec

	ctx        context.Context // ends when the connection closes
	cancel     context.CancelFunc
	hctx       context.Context // handlers' context, see HandlerFunc
	hcancel    context.CancelFunc
	stopParent func() bool

	sendq       chan []byte
	dispatchq   chan Envelope
	dispatching atomic.Bool

	mu       sync.Mutex
	closeErr *CloseError
	pending  map[string]*pendingRequest
	expired  expiredIDs
	handling string // id of the request a handler is working on
	replied  bool   // whether that request has been answered

	// reader-goroutine state
	gotFirst bool

	readerDone chan struct{}
	writerDone chan struct{}
	done       chan struct{}
	live       atomic.Int32
}

type pendingRequest struct {
	typ Type
	ch  chan Envelope
}

// NewConn takes over ws and starts the connection's goroutines. ctx bounds
// the connection: when it ends, the connection closes with 1001 (going
// away). Dial and Upgrade call NewConn and set cfg.Role; call it directly
// only with a *websocket.Conn obtained some other way, and with cfg.Role set
// (without one the connection closes at once).
func NewConn(ctx context.Context, ws *websocket.Conn, cfg Config) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		ws:         ws,
		cfg:        cfg,
		codec:      Codec{MaxFrameSize: cfg.MaxFrameSize},
		sendq:      make(chan []byte, cfg.SendQueue),
		dispatchq:  make(chan Envelope, cfg.DispatchQueue),
		pending:    map[string]*pendingRequest{},
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.log = cfg.Logger.Named("wire").With("role", cfg.Role.String(), "remote_addr", addrString(ws.RemoteAddr()))
	// The connection's context keeps ctx's values but not its cancellation,
	// so that a CloseError is always recorded before c.ctx ends.
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.hctx, c.hcancel = context.WithCancel(context.WithoutCancel(ctx))
	c.stopParent = context.AfterFunc(ctx, func() {
		c.closeWith(&CloseError{Code: websocket.CloseGoingAway, Reason: "shutting down", Err: context.Cause(ctx), sendFrame: true, drain: true})
	})

	ws.SetReadLimit(int64(cfg.MaxFrameSize))
	ping := ws.PingHandler()
	ws.SetPingHandler(func(data string) error {
		c.touch()
		return ping(data)
	})
	ws.SetPongHandler(func(string) error {
		c.touch()
		return nil
	})
	c.touch()

	c.live.Add(2)
	go c.readLoop()
	go c.writeLoop()
	if cfg.Role != RoleAgent && cfg.Role != RoleServer {
		c.closeWith(&CloseError{
			Code: websocket.CloseInternalServerErr, Reason: "internal error", sendFrame: true, discard: true,
			Err: fmt.Errorf("%w: Config.Role must be RoleAgent or RoleServer", ErrUnexpectedMessage),
		})
	}
	return c
}

// Role is this end of the connection.
func (c *Conn) Role() Role { return c.cfg.Role }

// RemoteAddr is the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// Context ends when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// Done is closed once every goroutine of the connection, handlers included,
// has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is open, then the *CloseError that says
// why it closed.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return c.closeErr
}

// Close closes the connection normally (1000) with reason, after sending the
// frames already queued. It returns once the network connection is gone
// (at most about WriteTimeout+CloseGrace); handlers may still be returning,
// see Done. Closing a closed connection does nothing.
func (c *Conn) Close(reason string) error {
	return c.CloseWithCode(websocket.CloseNormalClosure, reason)
}

// CloseWithCode is Close with a close code: 1000, 1001, 1008, 1011 or an
// application code such as CloseRevoked.
func (c *Conn) CloseWithCode(code int, reason string) error {
	c.closeWith(&CloseError{Code: code, Reason: reason, sendFrame: true, drain: true})
	<-c.writerDone
	return nil
}

// Send sends a notification (job_event, job_event_ack, job_finished, or an
// error without reply_to). It returns once the frame is queued; when the
// queue is full it waits, up to ctx.
func (c *Conn) Send(ctx context.Context, typ Type, payload any) error {
	if typ.Kind() != KindNotification && typ != TypeError {
		return fmt.Errorf("%w: %s is not a notification", ErrUnexpectedMessage, typ)
	}
	env, err := c.envelope(typ, payload)
	if err != nil {
		return err
	}
	return c.sendEnvelope(ctx, env)
}

// Reply answers req with a message of type typ, which must be one of the
// request's reply types or error.
func (c *Conn) Reply(ctx context.Context, req Envelope, typ Type, payload any) error {
	if req.Type.Kind() != KindRequest {
		return fmt.Errorf("%w: %s is not a request", ErrUnexpectedMessage, req.Type)
	}
	if !req.Type.acceptsReply(typ) {
		return fmt.Errorf("%w: %s cannot answer %s", ErrUnexpectedMessage, typ, req.Type)
	}
	env, err := c.envelope(typ, payload)
	if err != nil {
		return err
	}
	env.ReplyTo = req.ID
	if err := c.sendEnvelope(ctx, env); err != nil {
		return err
	}
	c.mu.Lock()
	if c.handling == req.ID {
		c.replied = true
	}
	c.mu.Unlock()
	return nil
}

// Request sends a request and waits for its reply, for at most
// RequestTimeout or until ctx ends. A reply of type error comes back as the
// envelope and an *Error; a missing reply as an error wrapping ErrTimeout;
// a reply arriving after the timeout is dropped.
func (c *Conn) Request(ctx context.Context, typ Type, payload any) (Envelope, error) {
	if typ.Kind() != KindRequest {
		return Envelope{}, fmt.Errorf("%w: %s is not a request", ErrUnexpectedMessage, typ)
	}
	env, err := c.envelope(typ, payload)
	if err != nil {
		return Envelope{}, err
	}
	frame, err := c.codec.Encode(env)
	if err != nil {
		return Envelope{}, err
	}

	p := &pendingRequest{typ: typ, ch: make(chan Envelope, 1)}
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return Envelope{}, c.closedError()
	}
	c.pending[env.ID] = p
	c.mu.Unlock()
	answered := false
	defer func() {
		if !answered {
			c.forget(env.ID)
		}
	}()

	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.RequestTimeout, ErrTimeout)
	defer cancel()
	if err := c.enqueue(ctx, frame); err != nil {
		return Envelope{}, fmt.Errorf("%s request %s: %w", typ, env.ID, err)
	}
	select {
	case reply := <-p.ch:
		answered = true
		if reply.Type == TypeError {
			var perr Error
			if err := reply.DecodePayload(&perr); err != nil {
				return reply, err
			}
			return reply, &perr
		}
		return reply, nil
	case <-ctx.Done():
		return Envelope{}, fmt.Errorf("%s request %s: %w", typ, env.ID, context.Cause(ctx))
	case <-c.ctx.Done():
		return Envelope{}, fmt.Errorf("%s request %s: %w", typ, env.ID, c.closedError())
	}
}

// envelope builds an outgoing envelope after checking direction.
func (c *Conn) envelope(typ Type, payload any) (Envelope, error) {
	if !typ.SentBy(c.cfg.Role) {
		return Envelope{}, fmt.Errorf("%w: %s %s", ErrWrongDirection, c.cfg.Role, typ)
	}
	if m, ok := payload.(interface{ MessageType() Type }); ok && m.MessageType() != typ {
		return Envelope{}, fmt.Errorf("%w: %s payload sent as %s", ErrInvalidPayload, m.MessageType(), typ)
	}
	return NewEnvelope(typ, payload)
}

func (c *Conn) sendEnvelope(ctx context.Context, env Envelope) error {
	frame, err := c.codec.Encode(env)
	if err != nil {
		return err
	}
	if err := c.enqueue(ctx, frame); err != nil {
		return fmt.Errorf("%s %s: %w", env.Type, env.ID, err)
	}
	return nil
}

// enqueue hands a frame to the writer, waiting while the queue is full.
func (c *Conn) enqueue(ctx context.Context, frame []byte) error {
	if c.ctx.Err() != nil {
		return c.closedError()
	}
	select {
	case c.sendq <- frame:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("send queue full: %w", context.Cause(ctx))
	case <-c.ctx.Done():
		return c.closedError()
	}
}

// forget drops a pending request and remembers its id, so that a late reply
// is dropped instead of being taken for an unsolicited one.
func (c *Conn) forget(id string) {
	c.mu.Lock()
	if _, ok := c.pending[id]; ok {
		delete(c.pending, id)
		c.expired.add(id)
	}
	c.mu.Unlock()
}

func (c *Conn) closedError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, c.closeErr)
}

// closeWith records why the connection closes and starts closing it; the
// first call wins.
func (c *Conn) closeWith(ce *CloseError) {
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return
	}
	c.closeErr = ce
	c.pending = map[string]*pendingRequest{}
	c.mu.Unlock()

	args := []any{"code", ce.Code, "reason", ce.Reason}
	if ce.Err != nil {
		args = append(args, "error", ce.Err)
	}
	switch {
	case ce.Code == websocket.ClosePolicyViolation || ce.Code == websocket.CloseMessageTooBig ||
		ce.Code == websocket.CloseUnsupportedData || ce.Code == websocket.CloseInternalServerErr ||
		errors.Is(ce.Err, ErrTimeout):
		c.log.Warn("closing connection", args...)
	case ce.Remote:
		c.log.Debug("connection closed by peer", args...)
	default:
		c.log.Debug("closing connection", args...)
	}
	c.cancel()
	if ce.discard || (len(c.dispatchq) == 0 && !c.dispatching.Load()) {
		c.hcancel()
	} else {
		time.AfterFunc(c.cfg.CloseGrace, c.hcancel)
	}
}

// exit is deferred by every goroutine of the connection.
func (c *Conn) exit() {
	if c.live.Add(-1) == 0 {
		close(c.done)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// expiredIDs remembers the last few timed-out request ids.
type expiredIDs struct {
	ids  [64]string
	next int
}

func (e *expiredIDs) add(id string) {
	e.ids[e.next] = id
	e.next = (e.next + 1) % len(e.ids)
}

func (e *expiredIDs) has(id string) bool {
	for _, x := range e.ids {
		if x == id {
			return true
		}
	}
	return false
}
