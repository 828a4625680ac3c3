package wire

import (
	"errors"
	"fmt"
)

// MaxJobDataBytes bounds the bytes of one job_data message (the SDK's
// MaxDataBytes): base64 in JSON, they stay well inside a frame.
const MaxJobDataBytes = 256 << 10

// JobDataWindow is how many job_data messages of one job an agent may
// have sent beyond the last job_data_ack. The server holds at most that
// many per job while the download's reader is slow, and an agent waits
// for an acknowledgement before it sends more, so neither side buffers a
// large download and restic is held back instead.
const JobDataWindow = 16

// JobData is a piece of a job's raw output (a dump's stdout), live only:
// the agent does not spool it, the server does not store it, and a
// dropped connection fails the job. Seq numbers a job's job_data messages
// from 1, apart from its job_event seqs. The last one of a job that
// completed has EOF set (and may carry no data); a job that ends without
// one did not deliver all of its output.
type JobData struct {
	JobID string `json:"job_id"`
	Seq   uint64 `json:"seq"`
	Data  []byte `json:"data,omitempty"`
	EOF   bool   `json:"eof,omitempty"`
}

// JobDataAck says the server has passed on a job's job_data up to and
// including UpToSeq (cumulative); the agent may send that many more.
type JobDataAck struct {
	JobID   string `json:"job_id"`
	UpToSeq uint64 `json:"up_to_seq"`
}

func (JobData) MessageType() Type    { return TypeJobData }
func (JobDataAck) MessageType() Type { return TypeJobDataAck }

func (d JobData) Validate() error {
	var errs []error
	if d.Seq == 0 {
		errs = append(errs, errors.New("seq must start at 1"))
	}
	if len(d.Data) > MaxJobDataBytes {
		errs = append(errs, fmt.Errorf("data is longer than %d bytes", MaxJobDataBytes))
	}
	return errors.Join(append(errs, checkIdent("job_id", d.JobID, true))...)
}

func (a JobDataAck) Validate() error {
	var err error
	if a.UpToSeq == 0 {
		err = errors.New("up_to_seq must be at least 1")
	}
	return errors.Join(checkIdent("job_id", a.JobID, true), err)
}
