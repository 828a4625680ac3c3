// Package wire is the agent protocol: the framed JSON envelopes that an agent
// and the server exchange over the agent's outbound WebSocket, the versioned
// catalogue of message types and payloads, the codec that decodes untrusted
// frames, and Conn, which runs one connection (one writer goroutine, one
// reader, ping/pong, request/response correlation, handler dispatch).
//
// Server and agent both import this package, so it imports nothing
// server-only and builds with CGO_ENABLED=0 on every agent target.
// docs/protocol.md describes the protocol for people; this package is the
// authority for code.
package wire
