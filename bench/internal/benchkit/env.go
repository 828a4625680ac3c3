package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Environment is what the measurements ran with.
type Environment struct {
	Server, Agent, Restic string
	ResticVersion         string
	GoVersion             string
	CPU                   string
	Cores                 int
	MemTotalKB            int64 // 0 when unknown
	Kernel                string
	Built                 bool   // the benchmark built the server and agent
	Source                string // the git commit built, when the benchmark built it
	ServerSize, AgentSize int64
}

// Binaries are the programs a benchmark runs: empty server or agent are
// built from the module, empty restic is looked up (FindRestic).
type Binaries struct {
	Server, Agent, Restic string
}

// Prepare finds restic and the binaries, building into work/bin those not
// given, and describes the machine.
func Prepare(ctx context.Context, bins Binaries, work string, progress func(string, ...any)) (Environment, error) {
	var env Environment
	restic, err := FindRestic(ctx, bins.Restic)
	if err != nil {
		return env, err
	}
	env.Restic = restic
	out, err := exec.CommandContext(ctx, restic, "version").Output() //nolint:gosec // G204: the restic binary the user chose
	if err != nil {
		return env, fmt.Errorf("%s version: %w", restic, err)
	}
	env.ResticVersion = strings.TrimSpace(string(out))

	env.Server, env.Agent = bins.Server, bins.Agent
	if env.Server == "" || env.Agent == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return env, err
		}
		bin := filepath.Join(work, "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil { //nolint:gosec // G703: inside the benchmark's own work directory
			return env, err
		}
		if env.Server == "" {
			env.Server = filepath.Join(bin, "restic-manager")
			progress("building %s", env.Server)
			if err := goBuild(ctx, root, "1", env.Server, "./core/cmd/restic-manager"); err != nil {
				return env, err
			}
		}
		if env.Agent == "" {
			env.Agent = filepath.Join(bin, "restic-manager-agent")
			progress("building %s", env.Agent)
			if err := goBuild(ctx, root, "0", env.Agent, "./agent/cmd/restic-manager-agent"); err != nil {
				return env, err
			}
		}
		env.Built = true
		env.Source = gitSource(ctx, root)
	}
	for _, b := range []struct {
		path *string
		size *int64
	}{{&env.Server, &env.ServerSize}, {&env.Agent, &env.AgentSize}} {
		abs, err := filepath.Abs(*b.path)
		if err != nil {
			return env, err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return env, err
		}
		*b.path, *b.size = abs, fi.Size()
	}

	env.GoVersion = runtime.Version()
	env.Cores = runtime.NumCPU()
	env.CPU = cpuModel()
	env.MemTotalKB, _ = StatusField("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.Kernel = strings.TrimSpace(string(b))
	}
	return env, nil
}

// FindRestic: flagValue, $RESTIC_BINARY, restic on PATH, then GOPATH/bin.
func FindRestic(ctx context.Context, flagValue string) (string, error) {
	for _, c := range []string{flagValue, os.Getenv("RESTIC_BINARY"), "restic"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return filepath.Abs(p)
		}
		if c == flagValue {
			return "", fmt.Errorf("--restic %s: not an executable", c)
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "restic")
			if _, err := exec.LookPath(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("no restic found: set RESTIC_BINARY, pass --restic, or run scripts/install-restic.sh")
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the restic-manager module: run from the repository, or pass --server and --agent")
	}
	return filepath.Dir(mod), nil
}

// goBuild builds a package as the Makefile does (the server with cgo, the
// agent without).
func goBuild(ctx context.Context, root, cgo, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg) //nolint:gosec // G204: fixed packages, our own temp path
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, buf.String())
	}
	return nil
}

// gitSource names the commit the binaries were built from, and whether the
// working tree had changes on top of it.
func gitSource(ctx context.Context, root string) string {
	git := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", args...) //nolint:gosec // G204: git in the module's own directory
		cmd.Dir = root
		return cmd.Output()
	}
	out, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	src := "commit " + strings.TrimSpace(string(out))
	if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && len(bytes.TrimSpace(st)) > 0 {
		src += " with uncommitted changes"
	}
	return src
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// LoadAverage is /proc/loadavg's first three fields.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// RandomString is n random letters and digits.
func RandomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i := range buf {
		buf[i] = alphabet[int(buf[i])%len(alphabet)]
	}
	return string(buf)
}

// Sleep waits d, or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
