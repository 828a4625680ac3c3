package backend

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestRunDataEvents sends raw bytes over gRPC: every byte value arrives as
// it was, in order, and a piece over MaxDataBytes is refused.
func TestRunDataEvents(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat(all, MaxDataBytes/len(all))
	tooBig := make(chan error, 1)
	mock := &Mock{RunFunc: func(_ context.Context, _ Job, emit func(Event) error) (Result, error) {
		for _, b := range [][]byte{all, big, {}} {
			if err := emit(Event{Data: &Data{Bytes: b}}); err != nil {
				return Result{}, err
			}
		}
		tooBig <- emit(Event{Data: &Data{Bytes: make([]byte, MaxDataBytes+1)}})
		return Result{}, nil
	}}
	b := configured(t, mock)
	var got []Event
	if _, err := b.Run(context.Background(), Job{Kind: JobDump}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Kind() != EventData || !bytes.Equal(got[0].Data.Bytes, all) ||
		!bytes.Equal(got[1].Data.Bytes, big) || got[2].Data == nil || len(got[2].Data.Bytes) != 0 {
		t.Fatalf("data events did not arrive as sent: %d events", len(got))
	}
	if err := <-tooBig; !errors.Is(err, errDataTooLarge) {
		t.Errorf("emit of %d bytes = %v, want errDataTooLarge", MaxDataBytes+1, err)
	}
}
