package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// stopWait bounds how long Uninstall waits for the service to stop.
const stopWait = 90 * time.Second

func install(_ context.Context, o Options) error {
	args := []string{"run", "--config", o.ConfigPath}
	if o.DryRun {
		fmt.Fprintf(o.Out, "Would register the Windows service %q (automatic start, LocalSystem, restart on failure):\n  %q run --config %q\n",
			o.Name, o.Binary, o.ConfigPath)
		return nil
	}
	if _, err := os.Stat(o.ConfigPath); err != nil {
		return fmt.Errorf("configuration file %s: %w (run \"restic-manager-agent enroll\" first, or pass --config)", o.ConfigPath, err)
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect() //nolint:errcheck // nothing to do about it
	if s, err := m.OpenService(o.Name); err == nil {
		_ = s.Close()
		return fmt.Errorf("the service %q exists already; run \"restic-manager-agent service uninstall\" first", o.Name)
	}
	s, err := m.CreateService(o.Name, o.Binary, mgr.Config{
		DisplayName:      "restic-manager agent",
		Description:      "Runs restic backups for a restic-manager server.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
	}, args...)
	if err != nil {
		return fmt.Errorf("create the service: %w", err)
	}
	defer s.Close() //nolint:errcheck // nothing to do about it
	restart := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}
	if err := s.SetRecoveryActions(restart, uint32((24 * time.Hour).Seconds())); err != nil {
		fmt.Fprintf(o.Out, "Warning: cannot set the service's restart-on-failure actions: %v\n", err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("start the service: %w", err)
	}
	fmt.Fprintf(o.Out, "Installed and started the Windows service %q\n", o.Name)
	return nil
}

func uninstall(ctx context.Context, o Options) error {
	if o.DryRun {
		fmt.Fprintf(o.Out, "Would stop and delete the Windows service %q\n", o.Name)
		return nil
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect() //nolint:errcheck // nothing to do about it
	s, err := m.OpenService(o.Name)
	if err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			fmt.Fprintf(o.Out, "The service %q is not installed\n", o.Name)
			return nil
		}
		return fmt.Errorf("open the service: %w", err)
	}
	defer s.Close() //nolint:errcheck // nothing to do about it
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil {
			fmt.Fprintf(o.Out, "Warning: cannot stop the service: %v\n", err)
		}
		deadline := time.Now().Add(stopWait)
		for time.Now().Before(deadline) {
			st, err := s.Query()
			if err != nil || st.State == svc.Stopped {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete the service: %w", err)
	}
	fmt.Fprintf(o.Out, "Removed the Windows service %q\n", o.Name)
	return nil
}
