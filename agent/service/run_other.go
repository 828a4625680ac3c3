//go:build !windows

package service

import "context"

// RunIfService does nothing outside Windows: systemd runs the agent as an
// ordinary process and stops it with SIGTERM.
func RunIfService(string, func(ctx context.Context) error) (handled bool, err error) {
	return false, nil
}
