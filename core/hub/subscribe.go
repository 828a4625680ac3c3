package hub

import "github.com/restic-manager/restic-manager/core/store"

// subscriberBuffer is how many stored events a live subscriber may lag
// behind before it is dropped.
const subscriberBuffer = 1024

type subscriber struct {
	ch chan store.JobLog
}

// Subscribe follows a job's events as they are stored. The channel is
// closed when the job ends, when the subscriber fell more than a buffer
// behind (ingestion never waits for a reader), or by the returned cancel
// func. Either way the subscriber reads the store for what it missed and
// whether the job has ended, and subscribes again if not: subscribe first,
// then read the store, and skip seqs already seen.
func (h *Hub) Subscribe(jobID string) (<-chan store.JobLog, func()) {
	s := &subscriber{ch: make(chan store.JobLog, subscriberBuffer)}
	h.subMu.Lock()
	if h.subs[jobID] == nil {
		h.subs[jobID] = map[*subscriber]struct{}{}
	}
	h.subs[jobID][s] = struct{}{}
	h.subMu.Unlock()
	return s.ch, func() {
		h.subMu.Lock()
		defer h.subMu.Unlock()
		if _, ok := h.subs[jobID][s]; ok {
			h.dropSubscriber(jobID, s)
		}
	}
}

// dropSubscriber closes s; subMu is held.
func (h *Hub) dropSubscriber(jobID string, s *subscriber) {
	delete(h.subs[jobID], s)
	if len(h.subs[jobID]) == 0 {
		delete(h.subs, jobID)
	}
	close(s.ch)
}

// publish hands stored events to the subscribers of their jobs without
// ever waiting: a subscriber whose buffer is full is dropped.
func (h *Hub) publish(rows []store.JobLog) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	if len(h.subs) == 0 {
		return
	}
	for _, r := range rows {
		for s := range h.subs[r.JobID] {
			select {
			case s.ch <- r:
			default:
				h.dropSubscriber(r.JobID, s)
			}
		}
	}
}

// endSubscribers closes every subscription of a job that has ended.
func (h *Hub) endSubscribers(jobID string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	for s := range h.subs[jobID] {
		h.dropSubscriber(jobID, s)
	}
}
