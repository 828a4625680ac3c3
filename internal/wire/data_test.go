package wire_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

func TestJobDataCarriesAnyBytes(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat(all, wire.MaxJobDataBytes/len(all))
	for name, data := range map[string][]byte{"every byte value": all, "at the bound": big, "empty eof": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := wire.JobData{JobID: "job-1", Seq: 7, Data: data, EOF: data == nil}
			var out wire.JobData
			frame := roundTrip(t, wire.TypeJobData, in, &out)
			if len(frame) > wire.DefaultMaxFrameSize {
				t.Fatalf("a %d-byte job_data is a %d-byte frame, over the %d cap", len(data), len(frame), wire.DefaultMaxFrameSize)
			}
			if !bytes.Equal(out.Data, data) || out.Seq != 7 || out.JobID != "job-1" || out.EOF != in.EOF {
				t.Fatalf("job_data changed on the wire: %d bytes in, %d out, %+v", len(data), len(out.Data), out.EOF)
			}
		})
	}
}

func TestJobDataRefusesBadPayloads(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		typ     wire.Type
		payload any
		want    string
	}{
		"over the bound": {wire.TypeJobData, wire.JobData{JobID: "j", Seq: 1, Data: make([]byte, wire.MaxJobDataBytes+1)}, "data is longer"},
		"seq zero":       {wire.TypeJobData, wire.JobData{JobID: "j", Data: []byte("x")}, "seq must start at 1"},
		"no job id":      {wire.TypeJobData, wire.JobData{Seq: 1}, "job_id is required"},
		"ack zero":       {wire.TypeJobDataAck, wire.JobDataAck{JobID: "j"}, "up_to_seq"},
		"ack spaces":     {wire.TypeJobDataAck, wire.JobDataAck{JobID: "a b", UpToSeq: 1}, "spaces"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, err := wire.NewEnvelope(tc.typ, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			frame, err := wire.Encode(env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			err = got.DecodePayload(wire.NewPayload(tc.typ))
			if !errors.Is(err, wire.ErrInvalidPayload) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodePayload = %v, want ErrInvalidPayload mentioning %q", err, tc.want)
			}
		})
	}
}

func TestJobDataDirections(t *testing.T) {
	t.Parallel()
	if !wire.TypeJobData.SentBy(wire.RoleAgent) || wire.TypeJobData.SentBy(wire.RoleServer) {
		t.Error("job_data must be sent by the agent only")
	}
	if !wire.TypeJobDataAck.SentBy(wire.RoleServer) || wire.TypeJobDataAck.SentBy(wire.RoleAgent) {
		t.Error("job_data_ack must be sent by the server only")
	}
	if wire.TypeJobData.Kind() != wire.KindNotification || wire.TypeJobDataAck.Kind() != wire.KindNotification {
		t.Error("job_data and job_data_ack are notifications")
	}
}
