package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func unitPath(o Options) string { return filepath.Join(o.UnitDir, o.Name+".service") }

// systemctl finds systemctl; "" when there is none.
func systemctl(o Options) string {
	name := o.Systemctl
	if name == "" {
		name = "systemctl"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return path
}

func runSystemctl(ctx context.Context, bin string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // G204: systemctl with fixed verbs and a checked unit name
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			return fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
		}
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}

func install(ctx context.Context, o Options) error {
	unit := SystemdUnit(o)
	path := unitPath(o)
	if o.DryRun {
		fmt.Fprintf(o.Out, "# %s\n%s", path, unit)
		return nil
	}
	if _, err := os.Stat(o.ConfigPath); err != nil {
		return fmt.Errorf("configuration file %s: %w (run \"restic-manager-agent enroll\" first, or pass --config)", o.ConfigPath, err)
	}
	if err := writeFile(path, []byte(unit)); err != nil {
		return fmt.Errorf("write the unit: %w", err)
	}
	fmt.Fprintf(o.Out, "Wrote %s\n", path)
	bin := systemctl(o)
	if bin == "" {
		fmt.Fprintf(o.Out, "systemctl was not found; to start the agent, run:\n  systemctl daemon-reload\n  systemctl enable --now %s.service\n", o.Name)
		return nil
	}
	if err := runSystemctl(ctx, bin, "daemon-reload"); err != nil {
		return err
	}
	if err := runSystemctl(ctx, bin, "enable", "--now", o.Name+".service"); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "Enabled and started %s.service; follow it with: journalctl -u %s -f\n", o.Name, o.Name)
	return nil
}

func uninstall(ctx context.Context, o Options) error {
	path := unitPath(o)
	bin := systemctl(o)
	if o.DryRun {
		fmt.Fprintf(o.Out, "Would run: systemctl disable --now %s.service\nWould remove %s\nWould run: systemctl daemon-reload\n", o.Name, path)
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(o.Out, "%s is not installed (no %s)\n", o.Name, path)
		return nil
	}
	if bin != "" {
		// A unit that is not loaded cannot be disabled; removing its file is
		// what matters.
		if err := runSystemctl(ctx, bin, "disable", "--now", o.Name+".service"); err != nil {
			fmt.Fprintf(o.Out, "Warning: %v\n", err)
		}
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove the unit: %w", err)
	}
	fmt.Fprintf(o.Out, "Removed %s\n", path)
	if bin == "" {
		fmt.Fprintf(o.Out, "systemctl was not found; run \"systemctl daemon-reload\" if systemd is in use\n")
		return nil
	}
	return runSystemctl(ctx, bin, "daemon-reload")
}

// writeFile replaces path atomically with data, mode 0644 (a unit holds no
// secrets; the configuration file it names does).
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".unit-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
