package wire_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// An agent's connection loop: dial with the pinned certificate, say hello,
// heartbeat, and reconnect with backoff when the connection ends.
func Example_agent() {
	ctx := context.Background()
	log := hclog.New(&hclog.LoggerOptions{Name: "agent"})
	url, _ := wire.ConnectURL("https://backup.example.com")
	var b wire.Backoff

	_ = wire.Reconnect(ctx, &b, func(ctx context.Context) error {
		c, err := wire.Dial(ctx, url, os.Getenv("AGENT_CREDENTIAL"), wire.DialOptions{
			PinSHA256: "sha256:…from the agent's config…",
			Config: wire.Config{Logger: log, Handlers: map[wire.Type]wire.HandlerFunc{
				wire.TypeJobDispatch: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
					var d wire.JobDispatch
					if err := env.DecodePayload(&d); err != nil {
						return err // answered with an "invalid" error
					}
					// d.Repository.Password.Reveal() goes to restic's environment.
					return c.Reply(ctx, env, wire.TypeJobAccept, wire.JobAccept{JobID: d.JobID})
				},
			}},
		})
		if err != nil {
			log.Warn("cannot connect", "error", err)
			return err
		}
		defer c.Close("agent stopping")
		reply, err := c.Request(ctx, wire.TypeHello, wire.Hello{Hostname: "web-1", OS: runtime.GOOS, Arch: runtime.GOARCH})
		if err != nil {
			return err
		}
		var ok wire.HelloOK
		if err := reply.DecodePayload(&ok); err != nil {
			return err
		}
		b.Connected()
		// … resend the spool here, then heartbeat until the connection ends.
		t := time.NewTicker(ok.HeartbeatInterval())
		defer t.Stop()
		for {
			select {
			case <-c.Done():
				return c.Err()
			case <-t.C:
				if _, err := c.Request(ctx, wire.TypeHeartbeat, wire.Heartbeat{Time: time.Now()}); err != nil {
					log.Warn("heartbeat failed", "error", err)
				}
			}
		}
	})
}

// The server side: authenticate, upgrade, and hold the connection until it
// ends.
func Example_server() {
	serverCtx := context.Background()
	log := hclog.New(&hclog.LoggerOptions{Name: "agent_hub"})
	http.HandleFunc(wire.ConnectPath, func(w http.ResponseWriter, r *http.Request) {
		hostID := "…looked up from the bearer credential; 401 if unknown…"
		c, err := wire.Upgrade(serverCtx, w, r, wire.Config{
			Logger: log.With("host_id", hostID),
			Handlers: map[wire.Type]wire.HandlerFunc{
				wire.TypeHello: func(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
					var h wire.Hello
					if err := env.DecodePayload(&h); err != nil {
						return err
					}
					// … upsert the host record from h …
					return c.Reply(ctx, env, wire.TypeHelloOK, wire.HelloOK{HostID: hostID, HeartbeatIntervalS: 30})
				},
			},
		})
		if err != nil {
			return
		}
		<-c.Done()
	})
}
