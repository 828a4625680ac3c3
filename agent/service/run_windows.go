package service

import (
	"context"
	"errors"

	"golang.org/x/sys/windows/svc"
)

// stopHint is how long the service manager is told a stop may take.
const stopHint = 90_000 // milliseconds

// RunIfService runs run under the Windows service manager when the process
// was started by it, and reports handled = true; run's context ends when
// the service is told to stop or the machine shuts down. Started any other
// way it does nothing and returns handled = false.
func RunIfService(name string, run func(ctx context.Context) error) (handled bool, err error) {
	isService, err := svc.IsWindowsService()
	if err != nil || !isService {
		return false, err
	}
	h := &handler{run: run}
	if err := svc.Run(name, h); err != nil {
		return true, errors.Join(err, h.err)
	}
	return true, h.err
}

// handler is the agent as a Windows service.
type handler struct {
	run func(ctx context.Context) error
	err error
}

// Execute implements svc.Handler.
func (h *handler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			h.err = err
			status <- svc.Status{State: svc.StopPending}
			if err != nil {
				return true, 1
			}
			return false, 0
		case req := <-requests:
			switch req.Cmd {
			case svc.Interrogate:
				status <- req.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: stopHint}
				cancel()
			}
		}
	}
}
