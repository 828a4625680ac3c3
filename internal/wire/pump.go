package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/gorilla/websocket"
)

// touch pushes the read deadline out: anything from the peer proves it is
// alive. Only the reader goroutine calls it (directly, or through the ping
// and pong handlers, which gorilla runs inside ReadMessage).
func (c *Conn) touch() {
	if c.cfg.ReadTimeout < 0 || c.ctx.Err() != nil {
		return
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout))
}

// readLoop is the only goroutine that reads from ws.
func (c *Conn) readLoop() {
	defer c.exit()
	defer close(c.readerDone)
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.ctx.Err() != nil {
			continue // closing: discard until the peer's close frame or the socket closes
		}
		c.touch()
		if mt != websocket.TextMessage {
			c.violation(websocket.CloseUnsupportedData, "binary frames are not supported", ErrMalformed)
			c.drain(true)
			return
		}
		env, err := c.codec.Decode(data)
		if err == nil {
			err = c.admit(env)
		}
		if err != nil {
			code := websocket.ClosePolicyViolation
			if errors.Is(err, ErrFrameTooLarge) {
				code = websocket.CloseMessageTooBig
			}
			c.violation(code, closeReason(err), err)
			c.drain(true)
			return
		}
		if env.IsReply() {
			if err := c.deliver(env); err != nil {
				c.violation(websocket.ClosePolicyViolation, closeReason(err), err)
				c.drain(true)
				return
			}
			continue
		}
		select {
		case c.dispatchq <- env:
			c.touch() // time spent waiting for handlers is not the peer's fault
			if c.dispatching.CompareAndSwap(false, true) {
				c.live.Add(1)
				go c.dispatchLoop()
			}
		case <-c.ctx.Done():
		}
	}
}

// readFailed turns a read error into the connection's close reason.
func (c *Conn) readFailed(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		// gorilla's default close handler has already echoed the close frame.
		c.closeWith(&CloseError{Code: ce.Code, Reason: ce.Text, Remote: true})
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent 1009; read the rest so the peer sees it.
		c.closeWith(&CloseError{
			Code: websocket.CloseMessageTooBig, Reason: "frame too large", discard: true,
			Err: fmt.Errorf("%w: over %d bytes", ErrFrameTooLarge, c.cfg.MaxFrameSize),
		})
		c.drain(false)
	case c.ctx.Err() != nil:
		// closing locally; the writer closed the socket
	case errors.As(err, &ne) && ne.Timeout():
		c.closeWith(&CloseError{
			Code: websocket.CloseGoingAway, Reason: "read timeout", sendFrame: true,
			Err: fmt.Errorf("%w: nothing from peer for %s", ErrTimeout, c.cfg.ReadTimeout),
		})
	default:
		c.closeWith(&CloseError{Code: websocket.CloseAbnormalClosure, Reason: "connection lost", Remote: true, Err: err})
	}
}

// violation closes the connection because the peer broke the protocol.
func (c *Conn) violation(code int, reason string, err error) {
	c.closeWith(&CloseError{Code: code, Reason: reason, Err: err, sendFrame: true, discard: true})
}

// drain reads and discards what the peer still sends, for at most
// CloseGrace, so that the close frame reaches it instead of a TCP reset.
// usable says whether gorilla can still parse frames; if not the raw socket
// is drained.
func (c *Conn) drain(usable bool) {
	deadline := time.Now().Add(c.cfg.CloseGrace)
	if usable {
		_ = c.ws.SetReadDeadline(deadline)
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
		}
	}
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(deadline)
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 4*int64(c.cfg.MaxFrameSize)))
}

// admit applies the rules that depend on the connection: direction, and
// hello first.
func (c *Conn) admit(env Envelope) error {
	if !env.Type.SentBy(c.cfg.Role.peer()) {
		return fmt.Errorf("%w: %s from %s", ErrWrongDirection, env.Type, c.cfg.Role.peer())
	}
	first := !c.gotFirst
	c.gotFirst = true
	switch {
	case c.cfg.Role == RoleServer && first && env.Type != TypeHello:
		return fmt.Errorf("%w: first message is %s, want hello", ErrUnexpectedMessage, env.Type)
	case c.cfg.Role == RoleServer && !first && env.Type == TypeHello:
		return fmt.Errorf("%w: second hello", ErrUnexpectedMessage)
	case c.cfg.Role == RoleAgent && first && !env.IsReply() && env.Type != TypeError:
		return fmt.Errorf("%w: first message is %s, want the reply to hello", ErrUnexpectedMessage, env.Type)
	}
	return nil
}

// deliver hands a reply to the Request waiting for it.
func (c *Conn) deliver(env Envelope) error {
	c.mu.Lock()
	p, ok := c.pending[env.ReplyTo]
	if ok {
		delete(c.pending, env.ReplyTo)
	}
	late := !ok && c.expired.has(env.ReplyTo)
	c.mu.Unlock()
	switch {
	case late:
		c.log.Debug("dropping reply that came after its request timed out", "type", env.Type, "reply_to", env.ReplyTo)
		return nil
	case !ok:
		return fmt.Errorf("%w: %s reply_to %s", ErrUnsolicitedReply, env.Type, env.ReplyTo)
	case !p.typ.acceptsReply(env.Type):
		return fmt.Errorf("%w: %s cannot answer %s", ErrUnexpectedMessage, env.Type, p.typ)
	}
	p.ch <- env
	return nil
}

// writeLoop is the only goroutine that calls ws's write methods (pongs and
// close echoes go through WriteControl, which gorilla allows concurrently).
func (c *Conn) writeLoop() {
	defer c.exit()
	defer close(c.writerDone)
	var tick <-chan time.Time
	if c.cfg.PingInterval > 0 {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
loop:
	for {
		select {
		case frame := <-c.sendq:
			if err := c.write(frame); err != nil {
				c.writeFailed(err)
				break loop
			}
		case <-tick:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				c.writeFailed(err)
				break loop
			}
		case <-c.ctx.Done():
			break loop
		}
	}
	c.shutdown()
}

func (c *Conn) write(frame []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

func (c *Conn) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.closeWith(&CloseError{
			Code: websocket.CloseGoingAway, Reason: "write timeout",
			Err: fmt.Errorf("%w: peer not reading for %s: %w", ErrTimeout, c.cfg.WriteTimeout, err),
		})
		return
	}
	c.closeWith(&CloseError{Code: websocket.CloseAbnormalClosure, Reason: "write failed", Remote: true, Err: err})
}

// shutdown runs on the writer once the connection is closing: flush what is
// queued (for a deliberate close), send the close frame, give the peer
// CloseGrace to answer it, then close the socket.
func (c *Conn) shutdown() {
	c.stopParent()
	c.mu.Lock()
	ce := c.closeErr
	c.mu.Unlock()
	if ce.drain {
	flush:
		for {
			select {
			case frame := <-c.sendq:
				if c.write(frame) != nil {
					break flush
				}
			default:
				break flush
			}
		}
	}
	if ce.sendFrame {
		wait := min(c.cfg.WriteTimeout, c.cfg.CloseGrace)
		msg := websocket.FormatCloseMessage(ce.Code, truncate(ce.Reason, 100))
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wait))
	}
	t := time.NewTimer(c.cfg.CloseGrace)
	select {
	case <-c.readerDone:
	case <-t.C:
	}
	t.Stop()
	_ = c.ws.Close()
}

// dispatchLoop runs handlers while messages wait, then exits; the reader
// starts it again when the next message comes. Once the connection has
// closed, it handles what is left (see HandlerFunc) and then ends the
// handlers' context.
func (c *Conn) dispatchLoop() {
	defer c.exit()
	for {
		select {
		case env := <-c.dispatchq:
			if c.hctx.Err() != nil {
				return
			}
			c.handle(env)
		case <-c.hctx.Done():
			return
		default:
			c.dispatching.Store(false)
			if c.ctx.Err() != nil {
				c.hcancel()
				return
			}
			if len(c.dispatchq) == 0 || !c.dispatching.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// handle runs one handler, turning its error or panic into the protocol's
// answer.
func (c *Conn) handle(env Envelope) {
	isRequest := env.Type.Kind() == KindRequest
	if isRequest {
		c.mu.Lock()
		c.handling, c.replied = env.ID, false
		c.mu.Unlock()
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panicked", "type", env.Type, "id", env.ID, "panic", r, "stack", string(debug.Stack()))
			c.closeWith(&CloseError{
				Code: websocket.CloseInternalServerErr, Reason: "internal error", sendFrame: true, discard: true,
				Err: fmt.Errorf("%w: %s: %v", ErrHandlerPanic, env.Type, r),
			})
		}
	}()

	h := c.cfg.Handlers[env.Type]
	if h == nil {
		if isRequest {
			c.log.Warn("no handler for request", "type", env.Type, "id", env.ID)
			c.replyError(env, &Error{Code: CodeUnsupported, Message: "no handler for " + string(env.Type)})
		} else {
			c.log.Warn("dropping notification without a handler", "type", env.Type, "id", env.ID)
		}
		return
	}
	err := h(c.hctx, c, env)
	if err == nil {
		return
	}
	if errors.Is(err, ErrPolicyViolation) {
		c.violation(websocket.ClosePolicyViolation, closeReason(err), err)
		return
	}
	c.log.Warn("handler failed", "type", env.Type, "id", env.ID, "error", err)
	c.mu.Lock()
	replied := c.replied && c.handling == env.ID
	c.mu.Unlock()
	if isRequest && !replied {
		c.replyError(env, errorPayload(err))
	}
}

func (c *Conn) replyError(req Envelope, perr *Error) {
	ctx, cancel := context.WithTimeout(c.hctx, c.cfg.WriteTimeout)
	defer cancel()
	if err := c.Reply(ctx, req, TypeError, perr); err != nil {
		c.log.Debug("could not send error reply", "type", req.Type, "id", req.ID, "error", err)
	}
}

// errorPayload maps a handler error to what the peer is told.
func errorPayload(err error) *Error {
	var perr *Error
	switch {
	case errors.As(err, &perr):
		return perr
	case errors.Is(err, ErrInvalidPayload):
		return &Error{Code: CodeInvalid, Message: truncate(err.Error(), maxTextLen)}
	default:
		return &Error{Code: CodeInternal, Message: "the handler failed; see the peer's log"}
	}
}

// closeReason is the short, fixed text sent in a close frame; details stay
// in the local log.
func closeReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrFrameTooLarge, "frame too large"},
		{ErrUnsupportedVersion, "unsupported protocol version"},
		{ErrUnknownType, "unknown message type"},
		{ErrMalformed, "malformed frame"},
		{ErrWrongDirection, "message not allowed in this direction"},
		{ErrUnsolicitedReply, "reply to unknown request"},
		{ErrUnexpectedMessage, "unexpected message"},
		{ErrInvalidPayload, "invalid payload"},
		{ErrPolicyViolation, "policy violation"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "protocol error"
}
