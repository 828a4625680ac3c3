// Package spool is the agent's durable local store: the job ids it has
// accepted, every job event until the server has acknowledged it, and a small
// key/value area for schedule state and sealed credentials.
//
// It lives in one bbolt file, <state_dir>/agent.db (mode 0600), so the agent
// stays pure Go (CGO_ENABLED=0) on every target. Every write is a bbolt
// transaction that is fsynced before the call returns: whatever a method
// reported as stored survives a crash of the agent or of the host.
//
// # Events and sequence numbers
//
// Each job's events get seq = 1, 2, 3, … in the order they were appended.
// Seqs are never reused and never move. The connection sends Pending events in
// seq order and the server acknowledges cumulatively (Ack); acknowledged
// events are deleted. Some seqs can be missing from a job's stream, by design:
//
//   - A progress event (ClassProgress) only lives until a newer progress
//     event of the same job is appended; only the latest progress matters.
//   - When the spool is full, progress is dropped first and then the oldest log
//     lines (ClassLog), replaced by one KindLogsDropped marker; see limits.go.
//
// Everything else (summaries, errors, the job's final events, markers) is
// never dropped: when such events alone fill the spool, Append fails with
// ErrSpoolFull instead. The server must therefore treat a job's stream as
// ordered but possibly gapped, and acknowledge the highest seq it stored.
//
// # Durability and throughput
//
// A bbolt commit costs two fdatasyncs (2–4 ms on this project's test
// machines), so one Append per event tops out at a few hundred events per
// second. AppendBatch stores many events in one commit (about 20,000 log
// lines/s in batches of 100, 100,000/s in batches of 1,000), and concurrent
// callers (job runners, the connection's acks) are merged into shared commits
// by a single writer goroutine (group commit). Every call still returns only
// once its data is on disk.
//
// A job runner should not pick a batch size: it writes each line to a
// JobWriter, which appends whatever accumulated while the previous commit
// was syncing, so batches grow with the rate of output (well above 100,000
// lines/s here). Lines still buffered when the agent dies are lost, like the
// output restic had not yet printed; such a job is failed as "agent restarted
// mid-job" anyway. Options.NoSync trades host-crash safety for ~10× the
// throughput and is meant for tests only.
package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrLocked means another process (usually a second agent on the same
	// state dir) holds the spool file open.
	ErrLocked = errors.New("spool is in use by another process")
	// ErrCorrupt means the spool file is not a valid database.
	ErrCorrupt = errors.New("spool file is corrupt")
	// ErrIncompatible means the spool file was written by a newer agent.
	ErrIncompatible = errors.New("spool file has an unsupported format version")
	// ErrClosed means the spool has been closed.
	ErrClosed = errors.New("spool is closed")
	// ErrJobKnown means BeginJob was called with a job id the agent has
	// already accepted; a job id never runs twice.
	ErrJobKnown = errors.New("job id already known")
	// ErrJobUnknown means no job with that id was begun (or it was removed by
	// garbage collection long after it finished).
	ErrJobUnknown = errors.New("job id unknown")
	// ErrJobFinished means the job has finished and takes no more events.
	ErrJobFinished = errors.New("job already finished")
	// ErrInvalidJobID means a job id is empty, too long or holds control
	// characters.
	ErrInvalidJobID = errors.New("invalid job id")
	// ErrInvalidEvent means an event has no kind, too long a kind, or too much
	// data.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrAckBeyondLast means an acknowledgement names a seq the job has not
	// reached: the server acknowledged something the agent never sent.
	ErrAckBeyondLast = errors.New("ack beyond the job's last seq")
	// ErrSpoolFull means the spool is at its size cap and nothing droppable
	// is left to make room; see limits.go.
	ErrSpoolFull = errors.New("spool full")
	// ErrNotFound means a state key does not exist.
	ErrNotFound = errors.New("state key not found")
	// ErrInvalidState means a state key is empty or too long, or a value too
	// large.
	ErrInvalidState = errors.New("invalid state key or value")
)

const (
	// FileName is the spool's file name inside the agent's state dir.
	FileName = "agent.db"

	// DefaultMaxBytes caps the bytes of spooled events.
	DefaultMaxBytes = 256 << 20
	// DefaultMaxEventBytes caps one event's data; it must fit one protocol frame.
	DefaultMaxEventBytes = 1 << 20
	// DefaultLockTimeout is how long Open waits for another process to
	// release the file before it gives up with ErrLocked.
	DefaultLockTimeout = 2 * time.Second
	// DefaultJobRetention is how long a finished, fully acknowledged job id
	// is remembered, so that a late duplicate dispatch is still refused.
	DefaultJobRetention = 30 * 24 * time.Hour

	// formatVersion is the layout of the buckets below; bump it (and migrate)
	// when it changes.
	formatVersion = 1
	// compactSuffix names the temporary file Compact writes next to the spool.
	compactSuffix = ".compact"
)

var (
	bucketMeta   = []byte("meta")
	bucketJobs   = []byte("jobs")
	bucketEvents = []byte("events")
	bucketState  = []byte("state")

	keyVersion = []byte("version")
	keyEpoch   = []byte("epoch")
)

// Options configure a Spool. The zero value is valid.
type Options struct {
	// Logger receives the spool's warnings (dropped events, loose file
	// modes). Nil discards them.
	Logger hclog.Logger
	// MaxBytes caps spooled event bytes (keys plus encoded events; the file
	// itself is somewhat larger). Zero means DefaultMaxBytes.
	MaxBytes int64
	// MaxEventBytes caps one event's Data. Zero means DefaultMaxEventBytes.
	MaxEventBytes int
	// LockTimeout bounds the wait for the file lock. Zero means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// JobRetention is how long finished job ids are kept. Zero means
	// DefaultJobRetention.
	JobRetention time.Duration
	// Classify maps an event kind to its drop class. Nil means
	// DefaultClassify.
	Classify func(kind string) Class
	// NoSync skips fsync on commit. A crashed agent loses nothing with it
	// (the page cache survives the process), a crashed host may lose the last
	// commits or worse. Only for tests and benchmarks.
	NoSync bool
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.JobRetention <= 0 {
		o.JobRetention = DefaultJobRetention
	}
	if o.Classify == nil {
		o.Classify = DefaultClassify
	}
	return o
}

// Spool is the agent's on-disk store. It is safe for concurrent use.
type Spool struct {
	path   string
	opts   Options
	logger hclog.Logger
	now    func() time.Time

	// mu guards db against Close and Compact: every operation holds it for
	// reading while it uses db.
	mu sync.RWMutex
	db *bolt.DB

	// ops feeds the writer goroutine, which runs every write transaction.
	ops        chan *op
	writerDone chan struct{}
	notify     chan struct{}

	// epoch counts Opens of the file; jobs begun under an earlier epoch were
	// left running by a previous agent process.
	epoch uint64
	// lastGC is touched only by the writer goroutine (and by Open before it
	// starts).
	lastGC time.Time

	pendingEvents   atomic.Int64
	pendingBytes    atomic.Int64
	droppedLogs     atomic.Uint64
	droppedProgress atomic.Uint64
}

// Open opens (creating if needed) the spool in stateDir. A second Open of the
// same file, from this or another process, fails with ErrLocked after
// Options.LockTimeout.
func Open(stateDir string, opts Options) (*Spool, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(stateDir, 0o700); err != nil { //nolint:gosec // the state dir is the agent's configuration
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	s := &Spool{
		path:       filepath.Join(stateDir, FileName),
		opts:       opts,
		logger:     opts.Logger.Named("spool"),
		now:        time.Now,
		ops:        make(chan *op, 64),
		writerDone: make(chan struct{}),
		notify:     make(chan struct{}, 1),
	}
	db, err := s.openDB()
	if err != nil {
		return nil, err
	}
	s.db = db
	// A Compact interrupted by a crash leaves its half-written copy behind.
	if err := os.Remove(s.path + compactSuffix); err == nil { //nolint:gosec // inside the state dir
		s.logger.Warn("removed an interrupted compaction", "path", s.path+compactSuffix)
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.writeLoop()
	if n, err := s.GC(); err != nil {
		s.logger.Warn("garbage collection of finished jobs failed", "error", err)
	} else if n > 0 {
		s.logger.Debug("removed finished jobs", "count", n)
	}
	return s, nil
}

// openDB opens the bbolt file and maps its errors to ours.
func (s *Spool) openDB() (*bolt.DB, error) {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:      s.opts.LockTimeout,
		NoSync:       s.opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (is another agent running with this state dir?)", ErrLocked, s.path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
	default:
		return nil, fmt.Errorf("open spool %s: %w", s.path, err)
	}
	s.tightenMode()
	return db, nil
}

// tightenMode makes sure the file is readable by the agent's user only: it
// holds sealed credentials. Windows files carry ACLs instead of mode bits.
func (s *Spool) tightenMode() {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(s.path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	s.logger.Warn("spool file was accessible by other users; restricting it", "path", s.path, "mode", fi.Mode().Perm().String())
	if err := os.Chmod(s.path, 0o600); err != nil {
		s.logger.Error("cannot restrict spool file mode", "path", s.path, "error", err)
	}
}

// init creates the buckets, checks the format version, starts a new epoch
// and loads the pending totals.
func (s *Spool) init() error {
	err := safely(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketMeta, bucketJobs, bucketEvents, bucketState} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			if v := meta.Get(keyVersion); v != nil {
				if got := decodeUint(v); got != formatVersion {
					return fmt.Errorf("%w: %d (this agent reads %d)", ErrIncompatible, got, formatVersion)
				}
			} else if err := meta.Put(keyVersion, encodeUint(formatVersion)); err != nil {
				return err
			}
			s.epoch = decodeUint(meta.Get(keyEpoch)) + 1
			if err := meta.Put(keyEpoch, encodeUint(s.epoch)); err != nil {
				return err
			}
			return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
				rec, err := decodeJob(v)
				if err != nil {
					return fmt.Errorf("%w: job %q: %w", ErrCorrupt, k, err)
				}
				s.pendingEvents.Add(rec.PendingCount)
				s.pendingBytes.Add(rec.PendingBytes)
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("initialise spool: %w", err)
	}
	return nil
}

// Path is the spool file's path.
func (s *Spool) Path() string { return s.path }

// Notify returns a channel that receives a value after a commit that stored
// new events, so the connection can wake up and send Pending ones. Signals
// coalesce; there is one channel, for one consumer.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Close waits for in-flight operations, then closes the file. Calling it again
// is a no-op.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	close(s.ops)
	<-s.writerDone
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}

// Stats are the spool's current figures, for metrics and the hello message.
type Stats struct {
	// PendingEvents and PendingBytes count events not yet acknowledged.
	PendingEvents int64
	PendingBytes  int64
	// MaxBytes is the configured cap on PendingBytes.
	MaxBytes int64
	// DroppedLogLines and DroppedProgress count events dropped to stay under
	// the cap since Open (superseded progress is not counted).
	DroppedLogLines uint64
	DroppedProgress uint64
	// FileBytes is the size of the spool file on disk.
	FileBytes int64
}

// Stats returns the current figures.
func (s *Spool) Stats() Stats {
	st := Stats{
		PendingEvents:   s.pendingEvents.Load(),
		PendingBytes:    s.pendingBytes.Load(),
		MaxBytes:        s.opts.MaxBytes,
		DroppedLogLines: s.droppedLogs.Load(),
		DroppedProgress: s.droppedProgress.Load(),
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// view runs fn in a read transaction.
func (s *Spool) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return safely(func() error { return s.db.View(fn) })
}
