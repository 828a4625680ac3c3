// Package rpcerr converts between Go errors and gRPC status errors for the
// SDK's adapters. It is the one place that knows how an error crosses the
// plugin boundary: the server adapters call ToGRPC on what an implementation
// returns, the client adapters call FromGRPC on what the transport returns,
// and errors.Is keeps working across the process boundary for the SDK's
// sentinel errors and for context cancellation.
package rpcerr

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The sentinel errors that survive the trip through gRPC. sdk/plugin exports
// them; they live here so the adapters of every package can map them.
var (
	ErrInvalidConfig = errors.New("invalid plugin configuration")
	ErrNotConfigured = errors.New("plugin is not configured")
	ErrUnsupported   = errors.New("not supported by this plugin")
	ErrDenied        = errors.New("denied")
	ErrUnavailable   = errors.New("plugin unavailable")
)

// mapping pairs each sentinel with the status code that carries it. Order
// matters in ToGRPC: the first sentinel an error matches wins.
var mapping = []struct {
	err  error
	code codes.Code
}{
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{ErrInvalidConfig, codes.InvalidArgument},
	{ErrNotConfigured, codes.FailedPrecondition},
	{ErrUnsupported, codes.Unimplemented},
	{ErrDenied, codes.PermissionDenied},
	{ErrUnavailable, codes.Unavailable},
}

// ToGRPC turns an implementation's error into a gRPC status error whose code
// tells the client which sentinel it wraps. nil stays nil; an error that
// already is a status is passed through.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	for _, m := range mapping {
		if errors.Is(err, m.err) {
			code = m.code
			break
		}
	}
	return status.Error(code, err.Error())
}

// FromGRPC turns an error returned by a gRPC call into a Go error: its
// message is the plugin's message, and errors.Is matches the sentinel that
// the status code stands for. Errors that are no status are returned as they
// are.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var sentinel error
	for _, m := range mapping {
		if st.Code() == m.code {
			sentinel = m.err
			break
		}
	}
	return &remoteError{code: st.Code(), msg: st.Message(), sentinel: sentinel}
}

// remoteError is an error that came back from a plugin.
type remoteError struct {
	code     codes.Code
	msg      string
	sentinel error
}

func (e *remoteError) Error() string {
	switch {
	case e.sentinel == nil && e.msg == "":
		return "plugin error: " + e.code.String()
	case e.sentinel == nil:
		return e.msg
	case e.msg == "":
		return e.sentinel.Error()
	case strings.Contains(e.msg, e.sentinel.Error()):
		return e.msg
	default:
		return e.sentinel.Error() + ": " + e.msg
	}
}

func (e *remoteError) Unwrap() error { return e.sentinel }

// GRPCStatus lets a remote error be passed on through another gRPC hop
// unchanged.
func (e *remoteError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }
