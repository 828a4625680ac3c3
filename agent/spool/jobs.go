package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// JobStatus is a job's state as far as the agent is concerned; the server
// keeps the authoritative job status.
type JobStatus string

const (
	// JobRunning jobs take events.
	JobRunning JobStatus = "running"
	// JobFinished jobs take none; their id stays known for
	// Options.JobRetention after the last event is acknowledged.
	JobFinished JobStatus = "finished"
)

// ReasonAgentRestarted is the failure reason the agent reports for jobs that
// were running when it died (Job.Orphaned).
const ReasonAgentRestarted = "agent restarted mid-job"

// maxJobIDLen bounds job ids (bbolt keys).
const maxJobIDLen = 256

// gcInterval is how often BeginJob runs garbage collection on the side.
const gcInterval = time.Hour

// JobMeta is what the agent keeps about an accepted job besides its events:
// enough to report it after a restart. It must not hold credentials.
type JobMeta struct {
	Kind       string `json:"kind,omitempty"`
	Repository string `json:"repository,omitempty"`
	ScheduleID string `json:"schedule_id,omitempty"`
	// Data is opaque to the spool.
	Data []byte `json:"data,omitempty"`
}

// Job is a job as the spool knows it.
type Job struct {
	ID         string
	Meta       JobMeta
	Status     JobStatus
	AcceptedAt time.Time
	FinishedAt time.Time
	// LastSeq is the highest seq assigned, AckedSeq the highest acknowledged.
	LastSeq  uint64
	AckedSeq uint64
	// PendingEvents and PendingBytes count what waits for acknowledgement.
	PendingEvents int64
	PendingBytes  int64
	// DroppedLogLines and DroppedProgress count events dropped because the
	// spool was full.
	DroppedLogLines uint64
	DroppedProgress uint64
	// Orphaned is set on a running job begun before this Spool was opened:
	// the agent process that ran it is gone, so the job must be reported as
	// failed with ReasonAgentRestarted.
	Orphaned bool
}

// jobRecord is a job as stored (JSON in the jobs bucket).
type jobRecord struct {
	ID         string    `json:"id"`
	Meta       JobMeta   `json:"meta"`
	Status     JobStatus `json:"status"`
	Order      uint64    `json:"order"` // acceptance order, for oldest-first iteration
	Epoch      uint64    `json:"epoch"` // the Open that accepted it
	AcceptedAt time.Time `json:"accepted_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`

	LastSeq     uint64 `json:"last_seq"`
	AckedSeq    uint64 `json:"acked_seq"`
	ProgressSeq uint64 `json:"progress_seq,omitempty"` // the stored, unacknowledged progress event

	PendingCount    int64  `json:"pending_count"`
	PendingBytes    int64  `json:"pending_bytes"`
	DroppedLogs     uint64 `json:"dropped_logs,omitempty"`
	DroppedProgress uint64 `json:"dropped_progress,omitempty"`
}

func encodeJob(r *jobRecord) ([]byte, error) { return json.Marshal(r) }

func decodeJob(v []byte) (*jobRecord, error) {
	r := new(jobRecord)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *jobRecord) public(epoch uint64) Job {
	return Job{
		ID:              r.ID,
		Meta:            r.Meta,
		Status:          r.Status,
		AcceptedAt:      r.AcceptedAt,
		FinishedAt:      r.FinishedAt,
		LastSeq:         r.LastSeq,
		AckedSeq:        r.AckedSeq,
		PendingEvents:   r.PendingCount,
		PendingBytes:    r.PendingBytes,
		DroppedLogLines: r.DroppedLogs,
		DroppedProgress: r.DroppedProgress,
		Orphaned:        r.Status == JobRunning && r.Epoch < epoch,
	}
}

func validJobID(id string) bool {
	if id == "" || len(id) > maxJobIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7f {
			return false
		}
	}
	return true
}

// BeginJob durably records that the agent accepted the job, before it runs.
// A job id the spool already knows (running, finished, or finished and
// acknowledged within Options.JobRetention) gives ErrJobKnown: a job id never
// runs twice.
func (s *Spool) BeginJob(jobID string, meta JobMeta) error {
	if !validJobID(jobID) {
		return fmt.Errorf("%w: %q", ErrInvalidJobID, jobID)
	}
	meta.Data = slices.Clone(meta.Data)
	err := s.do(func(w *wtx) error {
		if w.s.now().Sub(w.s.lastGC) >= gcInterval {
			if _, err := w.gc(); err != nil {
				return err
			}
		}
		if _, err := w.job(jobID); err == nil {
			return ErrJobKnown
		} else if !errors.Is(err, ErrJobUnknown) {
			return err
		}
		order, err := w.tx.Bucket(bucketJobs).NextSequence()
		if err != nil {
			return w.fail(err)
		}
		w.put(&jobRecord{
			ID:         jobID,
			Meta:       meta,
			Status:     JobRunning,
			Order:      order,
			Epoch:      w.s.epoch,
			AcceptedAt: w.s.now().UTC(),
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("begin job %s: %w", jobID, err)
	}
	return nil
}

// FinishJob appends the job's final events (its result, summary, error…)
// and marks it finished, in one commit, and returns the job's last seq. Doing
// both at once means a crash can never leave a job that has its final event
// but still looks running, which would make the agent report it twice.
//
// Final events are never refused for lack of room: when dropping progress
// and log lines cannot make enough, they are stored over the cap.
func (s *Spool) FinishJob(jobID string, final ...Event) (uint64, error) {
	enc, err := s.encode(final)
	if err != nil {
		return 0, fmt.Errorf("finish job %s: %w", jobID, err)
	}
	var last uint64
	err = s.do(func(w *wtx) error {
		rec, err := w.job(jobID)
		if err != nil {
			return err
		}
		if rec.Status != JobRunning {
			return ErrJobFinished
		}
		if len(enc) > 0 {
			if _, err := w.appendEvents(rec, enc, true); err != nil {
				return err
			}
		}
		rec.Status = JobFinished
		rec.FinishedAt = w.s.now().UTC()
		w.put(rec)
		last = rec.LastSeq
		if rec.AckedSeq == rec.LastSeq {
			return w.dropEventBucket(rec.ID)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("finish job %s: %w", jobID, err)
	}
	return last, nil
}

// Job returns what the spool knows about a job, or ErrJobUnknown.
func (s *Spool) Job(jobID string) (Job, error) {
	var job Job
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(jobID))
		if v == nil {
			return ErrJobUnknown
		}
		rec, err := decodeJob(v)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		job = rec.public(s.epoch)
		return nil
	})
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w", jobID, err)
	}
	return job, nil
}

// ActiveJobs lists the running jobs, oldest first. After a restart, the
// Orphaned ones are those the previous agent process was running: the agent
// reports each as failed (ReasonAgentRestarted) and calls FinishJob.
func (s *Spool) ActiveJobs() ([]Job, error) {
	recs, err := s.jobRecords(func(r *jobRecord) bool { return r.Status == JobRunning })
	if err != nil {
		return nil, fmt.Errorf("active jobs: %w", err)
	}
	jobs := make([]Job, len(recs))
	for i, r := range recs {
		jobs[i] = r.public(s.epoch)
	}
	return jobs, nil
}

// jobRecords returns the records that keep selects, in acceptance order.
func (s *Spool) jobRecords(keep func(*jobRecord) bool) ([]*jobRecord, error) {
	var out []*jobRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			rec, err := decodeJob(v)
			if err != nil {
				return fmt.Errorf("%w: job %q: %w", ErrCorrupt, k, err)
			}
			if keep(rec) {
				out = append(out, rec)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out, nil
}

// GC forgets finished jobs whose events are all acknowledged and that
// finished more than Options.JobRetention ago, and returns how many. It runs
// at Open and then at most hourly from BeginJob; finished jobs that still have
// unacknowledged events are kept, whatever their age.
func (s *Spool) GC() (int, error) {
	var n int
	err := s.do(func(w *wtx) error {
		var err error
		n, err = w.gc()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("garbage-collect jobs: %w", err)
	}
	return n, nil
}

func (w *wtx) gc() (int, error) {
	now := w.s.now()
	cutoff := now.Add(-w.s.opts.JobRetention)
	var ids []string
	if err := w.tx.Bucket(bucketJobs).ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	}); err != nil {
		return 0, w.fail(err)
	}
	removed, stale := 0, 0
	for _, id := range ids {
		rec, err := w.job(id)
		if errors.Is(err, ErrJobUnknown) {
			continue // removed earlier in this transaction
		}
		if err != nil {
			return removed, err
		}
		if rec.Status != JobFinished || !rec.FinishedAt.Before(cutoff) {
			continue
		}
		if rec.PendingCount > 0 {
			stale++
			continue
		}
		if err := w.remove(id); err != nil {
			return removed, err
		}
		removed++
	}
	if stale > 0 {
		w.s.logger.Warn("finished jobs past retention still have unacknowledged events; keeping them", "count", stale)
	}
	w.s.lastGC = now
	return removed, nil
}
