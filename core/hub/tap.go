package hub

import (
	"context"
	"strconv"
	"strings"

	"github.com/restic-manager/restic-manager/core/store"
)

// nodeLinePrefix starts every node line of `restic ls` as the restic
// backend writes it (plugins/backend-restic/backend/events.go).
const nodeLinePrefix = `{"message_type":"node"`

// typeNodes is the job log type of the row left where a tap took an
// event's node lines: its line is {"nodes":N}.
const typeNodes = "nodes"

// Tap takes the node lines of some `ls` jobs (the snapshot browser's
// listings) out of the job log and stores them elsewhere, so that a
// million-entry listing does not also become a million job log lines.
type Tap interface {
	// Tapped reports whether jobID's node lines go to the tap. The batcher
	// asks it once per job and batch, so it must be cheap.
	Tapped(jobID string) bool
	// Nodes stores node lines of job jobID, each one JSON object, in the
	// order they came. The batcher calls it before it writes the batch's
	// job log rows; an error drops the agents' connections so that they
	// resend, as a failed job log write does, so Nodes must accept lines
	// it has stored before.
	Nodes(ctx context.Context, jobID string, lines []string) error
}

// SetTap installs the tap; nil removes it.
func (h *Hub) SetTap(t Tap) {
	if t == nil {
		h.tap.Store(nil)
		return
	}
	h.tap.Store(&t)
}

// divert hands the node lines of tapped jobs' stdout rows to the tap. A
// row left with other lines keeps those; a row of node lines only stays,
// so that the job's sequence has no gap, as a {"nodes":N} event.
func (h *Hub) divert(ctx context.Context, rows []store.JobLog) error {
	tp := h.tap.Load()
	if tp == nil {
		return nil
	}
	tap := *tp
	tapped := map[string]bool{}
	var order []string
	lines := map[string][]string{}
	for i := range rows {
		r := &rows[i]
		if r.Stream != streamStdout || !strings.Contains(r.Line, nodeLinePrefix) {
			continue
		}
		t, asked := tapped[r.JobID]
		if !asked {
			t = tap.Tapped(r.JobID)
			tapped[r.JobID] = t
		}
		if !t {
			continue
		}
		var keep []string
		n := 0
		for l := range strings.SplitSeq(r.Line, "\n") {
			if strings.HasPrefix(l, nodeLinePrefix) {
				if lines[r.JobID] == nil {
					order = append(order, r.JobID)
				}
				lines[r.JobID] = append(lines[r.JobID], l)
				n++
				continue
			}
			keep = append(keep, l)
		}
		if len(keep) > 0 {
			r.Line = strings.Join(keep, "\n")
			continue
		}
		r.Stream, r.Type, r.Line = streamEvent, typeNodes, `{"nodes":`+strconv.Itoa(n)+`}`
	}
	for _, job := range order {
		if err := tap.Nodes(ctx, job, lines[job]); err != nil {
			return err
		}
	}
	return nil
}
