// Package benchkit is what the benchmark programs under bench/ share:
// the processes they start and sample, the machine they describe, the
// server and agent they run, and a small client of the server's API.
package benchkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a server or agent process, started in a process group of its
// own so that stopping it stops its plugins too.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	// Err is how the process ended, once Exited.
	Err error
}

// StartProc starts bin with args; every line it writes to stdout or
// stderr is copied to logPath and handed to onLine (from one goroutine,
// in order).
func StartProc(name, logPath string, env []string, onLine func([]byte), bin string, args ...string) (*Proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600) //nolint:gosec // G304: our own work directory
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd := exec.Command(bin, args...) //nolint:gosec // G204: the binaries under test
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	w.Close()
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		defer logFile.Close()
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				_, _ = logFile.Write(line)
				if onLine != nil {
					onLine(bytes.TrimSpace(line))
				}
			}
			if err != nil {
				r.Close()
				return
			}
		}
	}()
	go func() {
		p.Err = cmd.Wait()
		<-lines
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process, waits up to grace for it to exit,
// then kills its whole process group.
func (p *Proc) Stop(grace time.Duration) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL) // whatever is left of its group
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// ProcInfo is one process's reading from /proc.
type ProcInfo struct {
	PID     int
	Cmdline string
	RSSKB   int64
	AnonKB  int64
	CPU     time.Duration
}

const clockTicks = 100 // USER_HZ; 100 on every Linux this runs on

// ReadProc reads pid's memory, command line and CPU time.
func ReadProc(pid int) (ProcInfo, error) {
	info := ProcInfo{PID: pid}
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	var err error
	if info.RSSKB, err = StatusField(filepath.Join(dir, "status"), "VmRSS"); err != nil {
		return info, err
	}
	info.AnonKB, _ = StatusField(filepath.Join(dir, "status"), "RssAnon")
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil { //nolint:gosec // G304: /proc
		info.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	stat, err := ReadStat(pid)
	if err != nil {
		return info, err
	}
	info.CPU = stat.CPU
	return info, nil
}

// StatusField reads "Name:   1234 kB" from a /proc status-style file.
func StatusField(path, name string) (int64, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: /proc
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("%s: no %s", path, name)
}

// ProcStat is a process's parent and CPU time.
type ProcStat struct {
	PPID int
	CPU  time.Duration // utime + stime
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")) //nolint:gosec // G304: /proc
	if err != nil {
		return ProcStat{}, err
	}
	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is the state (field 3); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return ProcStat{}, errors.New("short stat")
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ProcStat{PPID: ppid, CPU: time.Duration(ut+st) * time.Second / clockTicks}, nil
}

// Descendants lists every process below pid.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := ReadStat(n); err == nil {
			children[st.PPID] = append(children[st.PPID], n)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// ExePath is the executable a process runs, "" when it is gone.
func ExePath(pid int) string {
	p, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return ""
	}
	return p
}

// TailBuffer keeps the last n bytes written to it, for error messages.
type TailBuffer struct {
	N   int
	buf []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.N {
		t.buf = t.buf[len(t.buf)-t.N:]
	}
	return len(p), nil
}

func (t *TailBuffer) String() string { return string(t.buf) }

var _ io.Writer = (*TailBuffer)(nil)
