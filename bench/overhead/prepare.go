package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// environment is what the measurements ran with.
type environment struct {
	server, agent, restic string
	resticVersion         string
	goVersion             string
	cpu                   string
	cores                 int
	memTotal              string
	kernel                string
	built                 bool
	source                string // the git commit built, when the benchmark built it
	serverSize, agentSize int64
}

// prepare finds restic and the binaries, building those not given.
func prepare(ctx context.Context, o options, work string, progress func(string, ...any)) (environment, error) {
	var env environment
	restic, err := findRestic(ctx, o.restic)
	if err != nil {
		return env, err
	}
	env.restic = restic
	out, err := exec.CommandContext(ctx, restic, "version").Output() //nolint:gosec // G204: the restic binary the user chose
	if err != nil {
		return env, fmt.Errorf("%s version: %w", restic, err)
	}
	env.resticVersion = strings.TrimSpace(string(out))

	env.server, env.agent = o.server, o.agent
	if env.server == "" || env.agent == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return env, err
		}
		bin := filepath.Join(work, "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil {
			return env, err
		}
		if env.server == "" {
			env.server = filepath.Join(bin, "restic-manager")
			progress("building %s", env.server)
			if err := goBuild(ctx, root, "1", env.server, "./core/cmd/restic-manager"); err != nil {
				return env, err
			}
		}
		if env.agent == "" {
			env.agent = filepath.Join(bin, "restic-manager-agent")
			progress("building %s", env.agent)
			if err := goBuild(ctx, root, "0", env.agent, "./agent/cmd/restic-manager-agent"); err != nil {
				return env, err
			}
		}
		env.built = true
		env.source = gitSource(ctx, root)
	}
	for _, b := range []struct {
		path *string
		size *int64
	}{{&env.server, &env.serverSize}, {&env.agent, &env.agentSize}} {
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

	env.goVersion = runtime.Version()
	env.cores = runtime.NumCPU()
	env.cpu = cpuModel()
	env.memTotal = memTotal()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.kernel = strings.TrimSpace(string(b))
	}
	return env, nil
}

// findRestic: --restic, $RESTIC_BINARY, restic on PATH, then GOPATH/bin.
func findRestic(ctx context.Context, flagValue string) (string, error) {
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

func memTotal() string {
	kb, err := statusField("/proc/meminfo", "MemTotal")
	if err != nil {
		return "unknown"
	}
	return formatBytes(kb * 1024)
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
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
