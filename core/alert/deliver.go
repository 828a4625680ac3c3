package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/sdk/notify"
)

// delivery is one notification for one channel.
type delivery struct {
	channel string
	alertID string
	n       notify.Notification
	since   time.Time // the event's time, for the latency
}

// dispatcher delivers notifications: one bounded queue and one worker per
// channel, so a channel that is slow or failing holds up only itself.
type dispatcher struct {
	e  *Engine
	mu sync.Mutex
	qs map[string]chan delivery
	wg sync.WaitGroup
}

func newDispatcher(e *Engine) *dispatcher {
	return &dispatcher{e: e, qs: map[string]chan delivery{}}
}

// enqueue queues d without waiting. A full queue drops it and reports the
// channel as failing.
func (d *dispatcher) enqueue(dl delivery) {
	d.mu.Lock()
	q := d.qs[dl.channel]
	if q == nil {
		q = make(chan delivery, d.e.opts.QueueSize)
		d.qs[dl.channel] = q
		d.wg.Add(1)
		go d.work(q)
	}
	d.mu.Unlock()
	select {
	case q <- dl:
	default:
		err := fmt.Errorf("its delivery queue is full (%d notifications waiting)", d.e.opts.QueueSize)
		d.e.log.Error("notification dropped", "channel", dl.channel, "alert_id", dl.alertID, "error", err)
		// enqueue runs on the engine's goroutine, which must never wait
		// for itself.
		d.report(Delivery{Channel: dl.channel, AlertID: dl.alertID, Event: dl.n.Event, Title: dl.n.Title, Err: err}, false)
	}
}

// work delivers a channel's notifications in order until the engine stops.
func (d *dispatcher) work(q chan delivery) {
	defer d.wg.Done()
	for {
		select {
		case <-d.e.ctx.Done():
			return
		case dl := <-q:
			d.deliver(dl)
		}
	}
}

// deliver tries a notification up to 1+Retries times, waiting
// RetryBackoff, doubling to MaxBackoff, less up to a fifth at random,
// between attempts.
func (d *dispatcher) deliver(dl delivery) {
	opts := d.e.opts
	var err error
	attempts := 0
	for {
		attempts++
		actx, cancel := context.WithTimeout(d.e.ctx, opts.AttemptTimeout)
		err = opts.Channels.Send(actx, dl.channel, dl.n)
		cancel()
		if err == nil || attempts > opts.Retries || errors.Is(err, ErrUnknownChannel) || d.e.ctx.Err() != nil {
			break
		}
		wait := backoff(opts.RetryBackoff, opts.MaxBackoff, attempts)
		d.e.log.Warn("notification not delivered; retrying", "channel", dl.channel, "alert_id", dl.alertID,
			"attempt", attempts, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-d.e.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if d.e.ctx.Err() != nil && err != nil {
		return
	}
	res := Delivery{
		Channel: dl.channel, AlertID: dl.alertID, Event: dl.n.Event, Title: dl.n.Title, Err: err, Attempts: attempts,
		Latency: time.Since(dl.since),
	}
	if err != nil {
		res.Err = fmt.Errorf("after %d attempts: %w", attempts, err)
		d.e.log.Error("notification not delivered", "channel", dl.channel, "alert_id", dl.alertID, "event", dl.n.Event,
			"attempts", attempts, "error", err)
	} else {
		d.e.log.Info("notification delivered", "channel", dl.channel, "alert_id", dl.alertID, "event", dl.n.Event,
			"attempts", attempts, "latency", res.Latency)
	}
	d.report(res, true)
}

// report hands a delivery's outcome to the engine's goroutine (which
// raises or clears the channel's plugin_failing alert) and to OnDelivered;
// without wait it gives up when the engine's queue is full.
func (d *dispatcher) report(res Delivery, wait bool) {
	if d.e.opts.OnDelivered != nil {
		d.e.opts.OnDelivered(res)
	}
	if !wait {
		select {
		case d.e.results <- res:
		default:
			d.e.log.Error("alert queue is full; a delivery's outcome was not evaluated", "channel", res.Channel)
		}
		return
	}
	select {
	case d.e.results <- res:
	case <-d.e.ctx.Done():
	}
}

// backoff is the wait before attempt n+1.
func backoff(base, maxWait time.Duration, n int) time.Duration {
	w := base
	for i := 1; i < n && w < maxWait; i++ {
		w *= 2
	}
	w = min(w, maxWait)
	return w - time.Duration(rand.Int64N(int64(w)/5+1)) //nolint:gosec // G404: jitter needs no cryptographic randomness
}

// wait waits for the workers to stop (after the engine's context ended).
func (d *dispatcher) wait() { d.wg.Wait() }

// pending counts the notifications still queued.
func (d *dispatcher) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, q := range d.qs {
		n += len(q)
	}
	return n
}
