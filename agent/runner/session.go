package runner

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/internal/version"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// defaultHeartbeat is used when hello_ok names no usable interval.
const defaultHeartbeat = 30 * time.Second

// session runs one connection: dial, hello, then heartbeats, the spool's
// sender and the server's requests until the connection ends. Reconnect
// calls it again after a backoff.
func (a *Agent) session(ctx context.Context, b *wire.Backoff) error {
	log := a.log.Named("connection")
	wcfg := a.cfg.Wire
	wcfg.Logger = a.log
	wcfg.Handlers = map[wire.Type]wire.HandlerFunc{
		wire.TypeJobDispatch:   a.handleDispatch,
		wire.TypeJobCancel:     a.handleCancel,
		wire.TypeJobEventAck:   a.handleAck,
		wire.TypeJobDataAck:    a.handleDataAck,
		wire.TypeSchedulesSync: a.handleSchedules,
		wire.TypePathCheck:     a.handlePathCheck, // pathcheck.go
	}
	c, err := wire.Dial(ctx, a.connectURL, a.cfg.Credential, wire.DialOptions{
		PinSHA256:     a.cfg.ServerFingerprint,
		AllowInsecure: a.cfg.AllowInsecure,
		UserAgent:     "restic-manager-agent/" + version.Version,
		Config:        wcfg,
	})
	if err != nil {
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, wire.ErrUnauthorized):
			log.Error("the server refused this agent's credential (revoked, or the host was removed); re-enroll the host", "error", err)
		case errors.Is(err, wire.ErrPinMismatch), errors.Is(err, wire.ErrInsecureURL), errors.Is(err, wire.ErrBadFingerprint):
			log.Error("cannot connect to the server", "error", err)
		default:
			log.Warn("cannot connect to the server; retrying", "error", err)
		}
		return err
	}

	reply, err := c.Request(ctx, wire.TypeHello, a.hello(ctx))
	var ok wire.HelloOK
	if err == nil {
		err = reply.DecodePayload(&ok)
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("the server did not accept hello", "error", err)
		}
		_ = c.Close("hello failed")
		<-c.Done()
		return err
	}
	b.Connected()
	log.Info("connected", "host_id", ok.HostID, "server_version", ok.ServerVersion)

	s := newSender(a, c)
	a.setSender(s)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.heartbeat(c, ok.HeartbeatInterval())
	}()
	go func() {
		defer wg.Done()
		s.run(c.Context())
	}()
	<-c.Done()
	a.clearSender(s)
	wg.Wait()

	err = c.Err()
	var ce *wire.CloseError
	switch {
	case ctx.Err() != nil:
		log.Debug("connection closed: agent stopping")
	case errors.As(err, &ce) && ce.Code == wire.CloseRevoked:
		log.Error("the server revoked this agent's credential; re-enroll the host", "reason", ce.Reason)
	case errors.As(err, &ce) && ce.Code == wire.CloseReplaced:
		log.Warn("the server accepted a newer connection for this host (is a second agent running with the same credential?)")
	default:
		log.Warn("connection lost; reconnecting", "error", err)
	}
	return err
}

// hello describes this host to the server.
func (a *Agent) hello(ctx context.Context) wire.Hello {
	return wire.Hello{
		Hostname:      a.hostname,
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		AgentVersion:  version.Version,
		ResticVersion: a.restic(ctx),
		Backends:      []string{BackendName},
		State:         wire.AgentState{RunningJobs: a.runningJobIDs(), ScheduleRevision: a.scheduleRevision()},
	}
}

// heartbeat tells the server every interval that the agent is alive and
// which jobs it runs, until the connection ends.
func (a *Agent) heartbeat(c *wire.Conn, every time.Duration) {
	if every <= 0 {
		every = defaultHeartbeat
	}
	ctx := c.Context()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := c.Request(ctx, wire.TypeHeartbeat, wire.Heartbeat{Time: time.Now().UTC(), RunningJobs: a.runningJobIDs()})
		if err != nil && ctx.Err() == nil {
			a.log.Named("connection").Warn("heartbeat failed", "error", err)
		}
	}
}
