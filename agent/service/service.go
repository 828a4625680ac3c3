// Package service installs the agent as a system service and runs it under
// the service manager: a systemd unit on Linux, a Windows service (through
// golang.org/x/sys/windows/svc) on Windows. Either way the service runs
// "restic-manager-agent run --config <absolute path>", restarts it when it
// fails, and stops it gracefully (the agent interrupts restic and reports
// the jobs it was running before it exits).
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultName is the service's name: the systemd unit
// restic-manager-agent.service, or the Windows service restic-manager-agent.
const DefaultName = "restic-manager-agent"

// DefaultUser is the account the Linux unit runs as. root reads every file
// it backs up and restores files with their owners, modes and attributes;
// see docs/agent.md for running as another user.
const DefaultUser = "root"

// DefaultUnitDir is where Install writes the systemd unit.
const DefaultUnitDir = "/etc/systemd/system"

var (
	// ErrUnsupported means this system has no service manager the agent
	// knows.
	ErrUnsupported = errors.New("service installation is supported on Linux (systemd) and Windows only")
	// ErrInvalid means an option cannot go into a service definition.
	ErrInvalid = errors.New("invalid service option")
)

// Options say what to install or remove.
type Options struct {
	// Name is the service's name (DefaultName).
	Name string
	// Binary is the agent executable the service runs; empty means this
	// process's own executable. It is made absolute.
	Binary string
	// ConfigPath is the agent's configuration file; it is made absolute.
	ConfigPath string
	// User is the Linux account the unit runs as (DefaultUser). The Windows
	// service runs as LocalSystem.
	User string
	// DryRun prints what would be installed (the unit file) and changes
	// nothing.
	DryRun bool
	// Out receives what the commands tell the user (os.Stdout when nil).
	Out io.Writer

	// UnitDir is where the systemd unit goes (DefaultUnitDir).
	UnitDir string
	// Systemctl is the systemctl to run; empty means "systemctl" in PATH.
	// When none is found the unit is written and the commands to run are
	// printed instead.
	Systemctl string
}

// withDefaults resolves the defaults and absolute paths, and checks what
// will be written into the service definition.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.UnitDir == "" {
		o.UnitDir = DefaultUnitDir
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("find the agent executable: %w", err)
		}
		o.Binary = exe
	}
	if resolved, err := filepath.EvalSymlinks(o.Binary); err == nil {
		o.Binary = resolved
	}
	var err error
	if o.Binary, err = filepath.Abs(o.Binary); err != nil {
		return o, fmt.Errorf("agent executable: %w", err)
	}
	if o.ConfigPath == "" {
		return o, fmt.Errorf("%w: no configuration file", ErrInvalid)
	}
	if o.ConfigPath, err = filepath.Abs(o.ConfigPath); err != nil {
		return o, fmt.Errorf("configuration file: %w", err)
	}
	var errs []error
	if !validName(o.Name) {
		errs = append(errs, fmt.Errorf("%w: service name %q: use letters, digits, '-', '_' and '.'", ErrInvalid, o.Name))
	}
	if !validName(o.User) {
		errs = append(errs, fmt.Errorf("%w: user %q", ErrInvalid, o.User))
	}
	for _, p := range []string{o.Binary, o.ConfigPath} {
		if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("%w: path %q holds control characters", ErrInvalid, p))
		}
	}
	return o, errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// Install installs and starts the service. With DryRun it only prints
// what it would install.
func Install(ctx context.Context, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	return install(ctx, o)
}

// Uninstall stops and removes the service. With DryRun it only says what it
// would do.
func Uninstall(ctx context.Context, o Options) error {
	if o.ConfigPath == "" {
		o.ConfigPath = "unused"
	}
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	return uninstall(ctx, o)
}
