package pluginhost

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// TestBuiltinReexecsTheHostBinary runs testdata/builtinhost, a host binary
// with one built-in notifier: it must start the built-in by re-executing
// itself as "plugin serve echo", pinned to its own SHA-256.
func TestBuiltinReexecsTheHostBinary(t *testing.T) {
	t.Parallel()
	bin := program(t, "builtinhost")
	out := filepath.Join(t.TempDir(), "echo.log")
	cmd := exec.Command(bin, "run", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("builtinhost run: %v\n%s", err, stderr.String())
	}
	var st []Status
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("status %q: %v", stdout.String(), err)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	resolved, _ := filepath.EvalSymlinks(bin)
	if len(st) != 1 {
		t.Fatalf("status %+v", st)
	}
	got := st[0]
	if got.Name != "echo" || got.Source != SourceBuiltin || got.Kind != plugin.KindNotify || got.Path != resolved ||
		got.SHA256 != hex.EncodeToString(sum[:]) || got.State != StateRunning || got.PluginVersion != "0.0.1" {
		t.Fatalf("status %+v; want the running built-in pinned to %s", got, bin)
	}

	// The notification was written by another process: the re-executed
	// binary.
	line := lines(t, out)
	if len(line) != 1 || !strings.HasPrefix(line[0], "hello pid=") {
		t.Fatalf("echo wrote %q", line)
	}
	pid, _ := strconv.Atoi(strings.TrimPrefix(line[0], "hello pid="))
	if pid == cmd.Process.Pid || pid != got.Instances[0].PID {
		t.Fatalf("written by pid %d; host pid %d, plugin pid %d", pid, cmd.Process.Pid, got.Instances[0].PID)
	}
	// Its stderr log is re-logged under plugin.echo.
	if !strings.Contains(stderr.String(), "builtinhost.plugin.echo: echoing") {
		t.Errorf("the built-in's log is not under plugin.echo:\n%s", stderr.String())
	}
}

func TestBuiltinServeByHand(t *testing.T) {
	t.Parallel()
	bin := program(t, "builtinhost")
	out, err := exec.Command(bin, "plugin", "serve", "echo").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "This binary is a plugin") {
		t.Fatalf("plugin serve by hand: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "plugin", "serve", "nope").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown plugin "nope": the built-in plugins are echo`) {
		t.Fatalf("plugin serve nope: %v\n%s", err, out)
	}
}

func TestServeBuiltinUnknown(t *testing.T) {
	t.Parallel()
	if err := ServeBuiltin(nil, "x"); !errors.Is(err, ErrUnknownPlugin) || !strings.Contains(err.Error(), "no built-in plugins") {
		t.Fatalf("ServeBuiltin: %v", err)
	}
	served := false
	if err := ServeBuiltin([]Builtin{{Name: "x", Kind: plugin.KindNotify, Serve: func() { served = true }}}, "x"); err != nil || !served {
		t.Fatalf("ServeBuiltin: %v, served %v", err, served)
	}
}

// TestImportsNothingServerOnly keeps the package fit for the agent, which
// builds without cgo and must not link the server's store.
func TestImportsNothingServerOnly(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/restic-manager/restic-manager/core") || strings.Contains(dep, "sqlite") {
			t.Errorf("pluginhost depends on %s", dep)
		}
	}
}
