package restic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults for Config fields left zero.
const (
	DefaultKillGrace        = 10 * time.Second
	DefaultMaxLineBytes     = 1 << 20
	DefaultMaxDocumentBytes = 64 << 20
	DefaultProgressFPS      = 1.0
)

// Config configures a Runner.
type Config struct {
	// Binary is the restic to run: a path or a command name. Empty means
	// "restic" from $PATH.
	Binary string
	// Logger receives debug and warning logs; nil logs nothing.
	Logger hclog.Logger
	// KillGrace is how long a cancelled restic gets between SIGINT (it then
	// removes its lock) and SIGKILL.
	KillGrace time.Duration
	// MaxLineBytes bounds one line of output; longer lines are cut and
	// marked Truncated.
	MaxLineBytes int
	// MaxDocumentBytes bounds one element of the plain JSON that snapshots,
	// forget, stats and cat config print.
	MaxDocumentBytes int64
	// ProgressFPS is how many status messages per second restic prints
	// (RESTIC_PROGRESS_FPS); a repository's Env may override it.
	ProgressFPS float64
	// PassEnv names further variables of the agent's environment that
	// restic may inherit (e.g. HTTPS_PROXY); see childEnv for the defaults.
	PassEnv []string
}

// Runner runs restic jobs. It is safe for concurrent use.
type Runner struct {
	binary string
	cfg    Config
	log    hclog.Logger

	mu      sync.Mutex
	version *Version
	stamp   binStamp // of the binary the cached version came from
}

// binStamp notices a restic binary replaced under a running agent (a
// package upgrade), so its version is asked again.
type binStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) binStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return binStamp{}
	}
	return binStamp{size: fi.Size(), mod: fi.ModTime()}
}

// Result is how a run ended.
type Result struct {
	// ExitCode is restic's exit code, -1 when it was killed by a signal.
	ExitCode int
	// Incomplete is set for a backup that exited with code 3: the snapshot
	// was created but some source files could not be read. The job
	// succeeded with a warning; the Error events name the files.
	Incomplete bool
	// SnapshotID is the snapshot a backup created (empty for a dry run).
	SnapshotID string
	// Summary is the last Summary event, if any.
	Summary *Summary
	// Events is the number of events emitted (the Seq of the last one).
	Events uint64
	// Duration is the wall time of the restic process.
	Duration time.Duration
}

// New finds restic (see Find) and returns a Runner for it. It does not run
// restic; Version does, once, on first use.
func New(cfg Config) (*Runner, error) {
	bin, err := Find(cfg.Binary)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.MaxDocumentBytes <= 0 {
		cfg.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	if cfg.ProgressFPS <= 0 {
		cfg.ProgressFPS = DefaultProgressFPS
	}
	return &Runner{binary: bin, cfg: cfg, log: cfg.Logger.With("restic", bin)}, nil
}

// Binary is the absolute path of the restic being run.
func (r *Runner) Binary() string { return r.binary }

// Version runs `restic version` on first use and remembers the answer. A
// restic older than MinVersion yields the version and an *ErrTooOld.
func (r *Runner) Version(ctx context.Context) (Version, error) {
	stamp := stampOf(r.binary)
	r.mu.Lock()
	cached := r.version
	if cached != nil && r.stamp != stamp {
		cached = nil
	}
	r.mu.Unlock()
	if cached != nil {
		return *cached, CheckSupported(*cached)
	}
	var got *VersionInfo
	_, err := r.exec(ctx, Repository{}, nil, KindVersion, []string{"version"}, false, func(ev Event) error {
		if vi, ok := ev.(*VersionInfo); ok && got == nil {
			got = vi
		}
		return nil
	})
	if err != nil {
		return Version{}, fmt.Errorf("restic version: %w", err)
	}
	if got == nil {
		return Version{}, fmt.Errorf("restic version: %w: no version line", ErrUnknownVersion)
	}
	v := got.Version
	r.mu.Lock()
	r.version, r.stamp = &v, stamp
	r.mu.Unlock()
	r.log.Debug("found restic", "version", v.String())
	return v, CheckSupported(v)
}

// Run runs job against repo and calls emit for every event, in order, from
// one goroutine at a time. emit applies backpressure: restic is paused
// while emit blocks, so it should honour ctx. If emit returns an error the
// run is stopped and that error returned. emit may be nil.
//
// A nil error means restic succeeded; for a backup with exit code 3 that
// includes Result.Incomplete. A failed run returns an *ExitError; a
// cancelled one ctx's error, wrapped; a job refused before running
// ErrInvalidJob, *ErrUnsupported or *ErrTooOld.
func (r *Runner) Run(ctx context.Context, repo Repository, job Job, emit func(Event) error) (Result, error) {
	if job == nil {
		return Result{}, fmt.Errorf("%w: no job", ErrInvalidJob)
	}
	kind := job.Kind()
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("restic %s cancelled: %w", kind, err)
	}
	v, err := r.Version(ctx)
	if kind == KindVersion {
		if v.IsZero() {
			return Result{}, err
		}
		seq := uint64(1)
		ev := &VersionInfo{Meta: Meta{Seq: seq}, Version: v, Text: "restic " + v.String()}
		if emit != nil {
			if eerr := emit(ev); eerr != nil {
				return Result{Events: seq}, fmt.Errorf("restic version: emit: %w", eerr)
			}
		}
		return Result{Events: seq}, err
	}
	if err != nil {
		return Result{}, err
	}
	args, err := job.args(v)
	if err != nil {
		return Result{}, fmt.Errorf("restic %s: %w", kind, err)
	}
	if err := repo.validate(); err != nil {
		return Result{}, fmt.Errorf("restic %s: %w", kind, err)
	}
	dry := false
	var from *Repository
	switch j := job.(type) {
	case KeyAddJob:
		return r.addKey(ctx, repo, j, args, emit) // keys.go
	case KeyRemoveJob:
		return r.removeKey(ctx, repo, j, args, emit)
	case ForgetJob:
		dry = j.DryRun
	case CopyJob:
		if err := j.From.validate(); err != nil {
			return Result{}, fmt.Errorf("restic copy: source: %w", err)
		}
		from = &j.From
	}
	return r.exec(ctx, repo, from, kind, args, dry, emit)
}

// RepositoryExists reports whether the repository exists and the password
// opens it (false, nil when restic says there is no repository).
func (r *Runner) RepositoryExists(ctx context.Context, repo Repository) (bool, error) {
	_, err := r.Run(ctx, repo, CatConfigJob{}, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrRepositoryNotFound):
		return false, nil
	default:
		return false, err
	}
}

// exec runs restic with args and streams its output through a parser.
// from is the source repository of a copy (repo is then the destination).
// extraSecrets are scrubbed from the output besides the repositories'
// (a key_add's new password).
func (r *Runner) exec(ctx context.Context, repo Repository, from *Repository, kind Kind, args []string, dryRun bool, emit func(Event) error, extraSecrets ...string) (Result, error) {
	log := r.log.With("kind", string(kind))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	defaults := map[string]string{
		"RESTIC_PROGRESS_FPS": strconv.FormatFloat(r.cfg.ProgressFPS, 'f', -1, 64),
	}
	env := childEnv(os.Environ(), r.cfg.PassEnv, repo, kind != KindVersion, defaults)
	secrets := secretsOf(repo)
	if from != nil {
		var err error
		if env, err = withSourceRepo(env, repo, *from); err != nil {
			return Result{}, fmt.Errorf("restic %s: %w", kind, err)
		}
		secrets = append(secrets, secretsOf(*from)...)
	}
	secrets = append(secrets, extraSecrets...)
	scrub := newScrubber(secrets)
	act := &activity{}
	sink := &sink{emit: emit, scrub: scrub, abort: cancel, act: act}
	p := &parser{kind: kind, dryRun: dryRun, emit: sink.send, maxLine: r.cfg.MaxLineBytes, maxDoc: r.cfg.MaxDocumentBytes}

	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("restic %s: stdout pipe: %w", kind, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(outR, outW)
		return Result{}, fmt.Errorf("restic %s: stderr pipe: %w", kind, err)
	}

	// G204: the binary is the configured restic; args come from a Job's
	// validated options, in --name=value form and after "--".
	cmd := exec.Command(r.binary, args...) //nolint:gosec
	cmd.Env = env
	cmd.Stdout = outW
	cmd.Stderr = errW
	prepareCmd(cmd)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		closeAll(outR, outW, errR, errW)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			return Result{}, fmt.Errorf("start restic %q: %w", r.binary, ErrNotFound)
		}
		return Result{}, fmt.Errorf("start restic %s: %w", kind, err)
	}
	closeAll(outW, errW) // the child holds its own copies
	group, gerr := newProcGroup(cmd)
	if gerr != nil {
		log.Warn("restic runs without a process group; cancel may leave children", "error", gerr)
	}
	defer group.close()
	log.Debug("restic started", "pid", cmd.Process.Pid, "args", args)

	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.readStdout(&countingReader{r: outR, act: act}) }()
	go func() { defer readers.Done(); p.readStderr(&countingReader{r: errR, act: act}) }()
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()

	waitCh := make(chan error, 1)
	go func() { waitCh <- cmd.Wait() }()

	var waitErr error
	stopped := false
	select {
	case waitErr = <-waitCh:
	case <-runCtx.Done():
		stopped = true
		waitErr = r.stop(log, group, waitCh)
	}
	elapsed := time.Since(start)

	if stopped {
		_ = group.kill() // whatever is left of the group
	}
	r.drain(log, group, readersDone, act, func() { closeAll(outR, errR) })
	closeAll(outR, errR)

	code := exitCode(cmd, waitErr)
	res := Result{ExitCode: code, Duration: elapsed}
	ok := code == ExitOK || (kind == KindBackup && code == ExitIncomplete)
	if !stopped {
		p.finish(ok)
	}
	res.Events, res.Summary = sink.done()
	if res.Summary != nil && res.Summary.Backup != nil {
		res.SnapshotID = res.Summary.Backup.SnapshotID
	}
	log.Debug("restic finished", "exit_code", code, "duration", elapsed, "events", res.Events)

	switch emitErr := sink.failed(); {
	case emitErr != nil:
		return res, fmt.Errorf("restic %s: emit: %w", kind, emitErr)
	case ctx.Err() != nil:
		return res, fmt.Errorf("restic %s cancelled: %w", kind, ctx.Err())
	case waitErr != nil && code == exitSignalled && !stopped:
		return res, fmt.Errorf("restic %s: %w", kind, &ExitError{Code: code, Message: scrub.str(waitErr.Error())})
	case code == ExitOK:
		return res, nil
	case kind == KindBackup && code == ExitIncomplete:
		res.Incomplete = true
		log.Warn("backup incomplete: some files could not be read", "snapshot_id", res.SnapshotID)
		return res, nil
	default:
		return res, fmt.Errorf("restic %s: %w", kind, p.exitError(code, scrub))
	}
}

// drainIdle is how long the output may stay open, with nothing read and
// nothing emitted, after restic exited.
const drainIdle = time.Second

// drain waits until restic's output is read to the end. It never cuts
// output that is still flowing or waiting on emit (backpressure). Only when
// the pipes stay open and idle after restic exited (a child outside the
// group holds them) is the group killed, and then the pipes closed.
func (r *Runner) drain(log hclog.Logger, group *procGroup, readersDone <-chan struct{}, act *activity, closePipes func()) {
	idle := 0
	last := act.snapshot()
	t := time.NewTicker(drainIdle)
	defer t.Stop()
	for {
		select {
		case <-readersDone:
			return
		case <-t.C:
		}
		now := act.snapshot()
		if now != last || act.inEmit.Load() > 0 {
			last, idle = now, 0
			continue
		}
		idle++
		switch idle {
		case 1:
			_ = group.kill()
		case 2:
			log.Warn("restic output still open after exit; closing it")
			closePipes()
			<-readersDone
			return
		}
	}
}

// activity counts what the readers and the sink did, for drain.
type activity struct {
	n      atomic.Uint64
	inEmit atomic.Int32
}

func (a *activity) snapshot() uint64 { return a.n.Load() }

type countingReader struct {
	r   io.Reader
	act *activity
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.act.n.Add(1)
	}
	return n, err
}

// stop interrupts the group, waits up to the kill grace, then kills it.
func (r *Runner) stop(log hclog.Logger, group *procGroup, waitCh <-chan error) error {
	if err := group.interrupt(); err != nil {
		log.Warn("cannot interrupt restic; killing it", "error", err)
		_ = group.kill()
		return <-waitCh
	}
	log.Debug("restic interrupted", "grace", r.cfg.KillGrace)
	t := time.NewTimer(r.cfg.KillGrace)
	defer t.Stop()
	select {
	case err := <-waitCh:
		return err
	case <-t.C:
		log.Warn("restic ignored the interrupt; killing it", "grace", r.cfg.KillGrace)
		_ = group.kill()
		return <-waitCh
	}
}

func exitCode(cmd *exec.Cmd, waitErr error) int {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return ee.ExitCode()
	}
	return exitSignalled
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// sink numbers, scrubs and forwards events one at a time. After emit
// fails it stops forwarding (the readers keep draining restic) and aborts
// the run.
type sink struct {
	emit  func(Event) error
	scrub *scrubber
	abort func()
	act   *activity

	mu      sync.Mutex
	seq     uint64
	err     error
	summary *Summary
}

func (s *sink) send(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.scrub.event(ev)
	s.seq++
	ev.meta().Seq = s.seq
	if sum, ok := ev.(*Summary); ok {
		s.summary = sum
	}
	if s.emit == nil {
		return
	}
	if s.act != nil {
		s.act.inEmit.Add(1)
		defer s.act.n.Add(1)
		defer s.act.inEmit.Add(-1)
	}
	if err := s.emit(ev); err != nil {
		s.err = err
		s.abort()
	}
}

func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *sink) done() (uint64, *Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, s.summary
}
