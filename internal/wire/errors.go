package wire

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the package wraps
// them with a lower-case reason.
var (
	// ErrFrameTooLarge means a frame is over the connection's size cap.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed means a frame is not a well-formed envelope.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrUnsupportedVersion means an envelope's "v" is not Version.
	ErrUnsupportedVersion = errors.New("wire: unsupported protocol version")
	// ErrUnknownType means an envelope's "type" is not in the catalogue.
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrInvalidPayload means a payload does not decode into, or does not
	// validate as, its type's struct.
	ErrInvalidPayload = errors.New("wire: invalid payload")
	// ErrWrongDirection means a message type was sent by the side that
	// never sends it (an agent sending job_dispatch, say).
	ErrWrongDirection = errors.New("wire: message not allowed in this direction")
	// ErrUnexpectedMessage means a message arrived, or was sent, where the
	// protocol does not allow it: something other than hello first, a second
	// hello, a reply through Send, a reply of the wrong type.
	ErrUnexpectedMessage = errors.New("wire: unexpected message")
	// ErrUnsolicitedReply means a reply names a request id that this side
	// never sent (or that already has its reply).
	ErrUnsolicitedReply = errors.New("wire: reply to unknown request")
	// ErrPolicyViolation, returned (wrapped) by a Handler, closes the
	// connection with close code 1008 instead of answering with an error
	// message; use it when the peer is not to be trusted any further.
	ErrPolicyViolation = errors.New("wire: policy violation")
	// ErrHandlerPanic is the cause of a connection closed because one of its
	// handlers panicked.
	ErrHandlerPanic = errors.New("wire: handler panicked")
	// ErrTimeout means a request got no reply in time, or the peer sent
	// nothing (not even a pong) within the read timeout.
	ErrTimeout = errors.New("wire: timeout")
	// ErrClosed means the connection is closed; the error also wraps the
	// *CloseError that says why.
	ErrClosed = errors.New("wire: connection closed")

	// ErrHandshake means the server did not accept the WebSocket upgrade.
	ErrHandshake = errors.New("wire: websocket handshake refused")
	// ErrUnauthorized means the server refused the agent's credential (HTTP
	// 401 or 403 on the upgrade): missing, wrong or revoked.
	ErrUnauthorized = errors.New("wire: credential refused")
	// ErrPinMismatch means the server's certificate is not the pinned one.
	ErrPinMismatch = errors.New("wire: server certificate does not match the pinned fingerprint")
	// ErrBadFingerprint means a fingerprint string is not 32 bytes of hex.
	ErrBadFingerprint = errors.New("wire: malformed certificate fingerprint")
	// ErrInsecureURL means Dial was asked to send a credential in clear text
	// (ws:// or http:// to a host that is not loopback) or to pin a
	// certificate on a URL without TLS.
	ErrInsecureURL = errors.New("wire: refusing insecure URL")
)
