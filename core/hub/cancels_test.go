package hub_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// restart stops the server's hub and API the way a server process ends
// (its agent connections close) and starts new ones on the same database,
// which is all a new process would have. Repository secrets are not
// carried over: the tests that restart need none afterwards.
func (s *testServer) restart(t *testing.T) {
	t.Helper()
	s.hub.Close()
	s.srv.Close()
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Trace, Output: s.log})
	opts := fastOptions()
	opts.Store, opts.Logger = s.db, logger
	ctx, cancel := context.WithCancel(context.Background())
	h := hub.New(ctx, opts)
	srv := httptest.NewServer(api.New(api.Options{
		Store: s.db, Logger: logger, PasswordParams: auth.TestingParams, Sealer: kr, Agents: h, OnHostRevoked: h.Revoke,
	}))
	s.hub, s.srv = h, srv
	t.Cleanup(func() {
		cancel()
		h.Close()
		srv.Close()
	})
}

// A cancel asked for while the job's host is offline survives a server
// restart: the agent gets it when it connects to the new process, once,
// and the job ends as cancelled when the agent reports it.
func TestCancelForAnOfflineHostSurvivesARestart(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	hostID, cred := s.enroll(t, "sleepy")
	s.addRepo(t, "main", "pw-sleepy-1", nil)
	a := s.connect(t, cred)
	j := s.run(t, "sleepy", map[string]any{"kind": "check", "repository": "main"}, http.StatusCreated)
	a.waitDispatch()
	a.event(j.ID, 1, wire.EventStatus, wire.StatusData{Status: "running"})
	a.waitAck(j.ID, 1)
	_ = a.c.Close("going to sleep")
	eventually(t, "the host to go offline", func() bool { return !s.hub.Online(hostID) })

	var got job
	s.call(t, "POST", "/api/v1/jobs/"+j.ID+"/cancel", s.admin, nil, http.StatusAccepted, &got)
	if got.Status != "running" {
		t.Fatalf("job right after cancel = %+v", got)
	}

	s.restart(t)
	a = s.connect(t, cred, j.ID)
	select {
	case c := <-a.cancels:
		if c.JobID != j.ID || c.Reason != "cancelled by root" {
			t.Fatalf("job_cancel = %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancel asked for before the restart never reached the agent")
	}
	a.finish(j.ID, 2, wire.StatusCancelled, 130, nil)
	a.waitAck(j.ID, 2)
	if got := s.job(t, j.ID); got.Status != "cancelled" {
		t.Fatalf("job = %+v", got)
	}

	// Delivered once: the next process has nothing to send.
	s.restart(t)
	a = s.connect(t, cred)
	select {
	case c := <-a.cancels:
		t.Fatalf("a delivered cancel was sent again: %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
	if left, err := s.db.PendingCancels(context.Background(), hostID); err != nil || len(left) != 0 {
		t.Fatalf("pending cancels left: %+v, %v", left, err)
	}
}
