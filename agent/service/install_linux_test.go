package service

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallDryRunPrintsTheUnit(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	dir := t.TempDir()
	err := Install(context.Background(), Options{
		ConfigPath: "/etc/restic-manager-agent/agent.hcl", DryRun: true, Out: &out, UnitDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	s := out.String()
	if !strings.HasPrefix(s, "# "+filepath.Join(dir, "restic-manager-agent.service")+"\n") ||
		!strings.Contains(s, "ExecStart="+systemdQuote(exe)+` run --config "/etc/restic-manager-agent/agent.hcl"`+"\n") {
		t.Fatalf("dry run printed:\n%s", s)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("a dry run wrote files")
	}
}

// fakeSystemctl stands in for systemctl, which cannot run without systemd
// as PID 1 (as in this test's container): it records its arguments.
func fakeSystemctl(t *testing.T) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	path = filepath.Join(dir, "systemctl")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil { //nolint:gosec // G306: an executable test script
		t.Fatal(err)
	}
	return path, log
}

func TestInstallAndUninstall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte("agent {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	systemctl, calls := fakeSystemctl(t)
	var out bytes.Buffer
	o := Options{Binary: "/usr/local/bin/restic-manager-agent", ConfigPath: cfg, Out: &out, UnitDir: dir, Systemctl: systemctl}
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "restic-manager-agent.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `ExecStart="/usr/local/bin/restic-manager-agent" run --config "`+cfg+`"`) {
		t.Fatalf("unit:\n%s", b)
	}
	if st, _ := os.Stat(unit); st.Mode().Perm() != 0o644 {
		t.Fatalf("unit mode %v", st.Mode())
	}
	if err := Uninstall(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Fatalf("the unit is still there: %v", err)
	}
	got, _ := os.ReadFile(calls)
	want := "daemon-reload\nenable --now restic-manager-agent.service\ndisable --now restic-manager-agent.service\ndaemon-reload\n"
	if string(got) != want {
		t.Fatalf("systemctl calls:\n%s\nwant:\n%s", got, want)
	}
	out.Reset()
	if err := Uninstall(context.Background(), o); err != nil || !strings.Contains(out.String(), "not installed") {
		t.Fatalf("second uninstall: %v, %q", err, out.String())
	}
}

func TestInstallWithoutSystemctl(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := Options{Binary: "/b", ConfigPath: cfg, Out: &out, UnitDir: dir, Systemctl: filepath.Join(dir, "no-systemctl")}
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "systemctl enable --now restic-manager-agent.service") {
		t.Fatalf("no instructions:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "restic-manager-agent.service")); err != nil {
		t.Fatal(err)
	}
}

func TestInstallNeedsTheConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := Install(context.Background(), Options{Binary: "/b", ConfigPath: filepath.Join(dir, "missing.hcl"), UnitDir: dir, Out: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "enroll") {
		t.Fatalf("Install without a configuration: %v", err)
	}
}
