package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		code codes.Code
		is   error
		msg  string
	}{
		"canceled":       {context.Canceled, codes.Canceled, context.Canceled, "context canceled"},
		"deadline":       {fmt.Errorf("smtp dial: %w", context.DeadlineExceeded), codes.DeadlineExceeded, context.DeadlineExceeded, "smtp dial: context deadline exceeded"},
		"invalid config": {fmt.Errorf("%w: path is required", ErrInvalidConfig), codes.InvalidArgument, ErrInvalidConfig, "invalid plugin configuration: path is required"},
		"not configured": {ErrNotConfigured, codes.FailedPrecondition, ErrNotConfigured, "plugin is not configured"},
		"unsupported":    {fmt.Errorf("kind diff: %w", ErrUnsupported), codes.Unimplemented, ErrUnsupported, "kind diff: not supported by this plugin"},
		"denied":         {fmt.Errorf("group: %w", ErrDenied), codes.PermissionDenied, ErrDenied, "group: denied"},
		"plain":          {errors.New("ntfy: 502 bad gateway"), codes.Unknown, nil, "ntfy: 502 bad gateway"},
	}
	for name, tc := range tests {
		wire := ToGRPC(tc.err)
		if got := status.Code(wire); got != tc.code {
			t.Errorf("%s: code %s, want %s", name, got, tc.code)
		}
		back := FromGRPC(wire)
		if tc.is != nil && !errors.Is(back, tc.is) {
			t.Errorf("%s: %q is not %q after the round trip", name, back, tc.is)
		}
		if back.Error() != tc.msg {
			t.Errorf("%s: message %q, want %q", name, back.Error(), tc.msg)
		}
	}
}

func TestEdges(t *testing.T) {
	t.Parallel()
	if ToGRPC(nil) != nil || FromGRPC(nil) != nil {
		t.Error("nil is not nil")
	}
	plain := errors.New("not a status")
	if FromGRPC(plain) != plain { //nolint:errorlint // the very same error must come back
		t.Error("a non-status error was changed")
	}
	// A transport failure: the plugin process is gone.
	gone := FromGRPC(status.Error(codes.Unavailable, "connection error: EOF"))
	if !errors.Is(gone, ErrUnavailable) || gone.Error() != "plugin unavailable: connection error: EOF" {
		t.Errorf("unavailable: %q", gone)
	}
	// Passed through a second hop unchanged.
	if st := status.Convert(ToGRPC(gone)); st.Code() != codes.Unavailable || st.Message() != "connection error: EOF" {
		t.Errorf("second hop: %v", st)
	}
	if e := FromGRPC(status.Error(codes.Internal, "")); e.Error() != "plugin error: Internal" {
		t.Errorf("empty message: %q", e)
	}
}
