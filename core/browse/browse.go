// Package browse is the snapshot browser's server side: the first time a
// snapshot is opened it runs one `restic ls` of the whole snapshot on the
// host's agent and streams the entries, batch by batch as the agent hub
// stores the job's events, into a per-snapshot cache in the store.
// Snapshots are immutable, so every folder opens from the cache after
// that. The cache is bounded: past MaxSnapshots listings the least
// recently browsed is evicted, and a snapshot's listing goes with the
// snapshot (forget, prune). docs/browse.md describes it for users.
package browse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/store"
)

// Defaults for Options' zero fields.
const (
	DefaultMaxSnapshots = 20
	DefaultListDeadline = time.Hour
	// DefaultRetryAfter is how long a failed listing is reported before
	// the next request starts a new one.
	DefaultRetryAfter = time.Minute
)

// CreatedBy is the created_by of listing jobs: the server's own requests.
const CreatedBy = "browse"

// Limits of the API's requests.
const (
	DefaultPageSize = 200
	MaxPageSize     = 1000
	DefaultHits     = 100
	MaxHits         = 1000
	MaxPathLen      = 4096
	MaxQueryLen     = 200
)

// touchEvery bounds how often browsing one listing writes browsed_at.
const touchEvery = time.Minute

var (
	// ErrHostOffline means the snapshot has no listing and its host's agent
	// is not connected to run one.
	ErrHostOffline = errors.New("host is offline")
	// ErrNotFolder means the path names no folder of the snapshot.
	ErrNotFolder = errors.New("no such folder in the snapshot")
	// ErrListingFailed means the snapshot's listing job failed; the error
	// says why, and a request after RetryAfter starts a new one.
	ErrListingFailed = errors.New("listing the snapshot failed")
	// ErrBadPath means a path is not an absolute, clean path.
	ErrBadPath = errors.New("bad path")
)

// Store is what the browser needs of the store.
type Store interface {
	FindHostSnapshot(ctx context.Context, hostID, ref string) (store.Snapshot, error)
	GetJob(ctx context.Context, id string) (store.Job, error)
	GetSnapshotListing(ctx context.Context, repositoryID, snapshotID string) (store.SnapshotListing, error)
	RunningSnapshotListings(ctx context.Context) ([]store.SnapshotListing, error)
	StartSnapshotListing(ctx context.Context, j store.Job, repositoryID, snapshotID string, now time.Time) (store.SnapshotListing, error)
	AddSnapshotNodes(ctx context.Context, listingID int64, nodes []store.SnapshotNode) (int64, error)
	FinishSnapshotListing(ctx context.Context, listingID int64, status, errText string, now time.Time) error
	TouchSnapshotListing(ctx context.Context, listingID int64, now time.Time) error
	SnapshotNodes(ctx context.Context, listingID int64, parent, after string, limit int) ([]store.SnapshotNode, error)
	CountSnapshotNodes(ctx context.Context, listingID int64, parent string) (int64, error)
	GetSnapshotNode(ctx context.Context, listingID int64, parent, name string) (store.SnapshotNode, error)
	SearchSnapshotNodes(ctx context.Context, listingID int64, q string, limit int) ([]store.SnapshotNode, error)
	EvictSnapshotListings(ctx context.Context, keep int) (int, error)
}

// Agents is what the browser needs of the agent hub.
type Agents interface {
	Online(hostID string) bool
	Dispatch(ctx context.Context, jobID string) error
}

// Options configure a Service.
type Options struct {
	Store  Store
	Agents Agents
	Logger hclog.Logger
	Now    func() time.Time
	// MaxSnapshots bounds the cached listings (running ones included);
	// the least recently browsed are evicted. 0: DefaultMaxSnapshots.
	MaxSnapshots int
	// ListDeadline is the listing job's deadline. 0: DefaultListDeadline.
	ListDeadline time.Duration
	// RetryAfter: see DefaultRetryAfter.
	RetryAfter time.Duration
}

// Service fills and reads the snapshot listing cache. It is the hub's tap
// for its listing jobs.
type Service struct {
	opts  Options
	store Store
	log   hclog.Logger
	now   func() time.Time
	ctx   context.Context

	mu   sync.Mutex
	jobs map[string]int64 // listing job id → listing id, while it runs

	evicting atomic.Bool
	wg       sync.WaitGroup
}

var _ hub.Tap = (*Service)(nil)

// New makes the service and learns the listings that were running when
// the server last stopped, so that their jobs' entries keep arriving in
// the cache. Background work (dispatch, eviction) stops with ctx.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSnapshots <= 0 {
		opts.MaxSnapshots = DefaultMaxSnapshots
	}
	if opts.ListDeadline <= 0 {
		opts.ListDeadline = DefaultListDeadline
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	s := &Service{
		opts: opts, store: opts.Store, log: opts.Logger.Named("browse"), now: opts.Now, ctx: ctx,
		jobs: map[string]int64{},
	}
	running, err := s.store.RunningSnapshotListings(ctx)
	if err != nil {
		return nil, fmt.Errorf("read running snapshot listings: %w", err)
	}
	for _, l := range running {
		if l.JobID != "" {
			s.jobs[l.JobID] = l.ID
		}
	}
	return s, nil
}

// Wait waits for the service's background work after its context ended.
func (s *Service) Wait() { s.wg.Wait() }

// Snapshot returns host hostID's snapshot by full or short id:
// store.ErrNotFound when it has none, store.ErrConflict when a short id
// is ambiguous.
func (s *Service) Snapshot(ctx context.Context, hostID, ref string) (store.Snapshot, error) {
	return s.store.FindHostSnapshot(ctx, hostID, ref)
}

// Listing is a snapshot's cache as the API reports it.
type Listing = store.SnapshotListing

// Open returns the snapshot's listing. When there is none (or its last
// attempt failed more than RetryAfter ago) it starts one on the host's
// agent and returns it running, with started set; ErrHostOffline when the
// agent is not connected. A listing whose job ended is brought up to date
// first. A failed listing is returned with ErrListingFailed.
func (s *Service) Open(ctx context.Context, snap store.Snapshot, hostID string) (l Listing, started bool, err error) {
	l, err = s.store.GetSnapshotListing(ctx, snap.RepositoryID, snap.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Listing{}, false, err
	default:
		if l, err = s.settle(ctx, l); err != nil {
			return Listing{}, false, err
		}
		switch l.Status {
		case store.ListingComplete:
			s.touch(ctx, l)
			return l, false, nil
		case store.ListingRunning:
			return l, false, nil
		}
		if l.FinishedAt != nil && s.now().Sub(*l.FinishedAt) < s.opts.RetryAfter {
			return l, false, fmt.Errorf("%w: %s (job %s)", ErrListingFailed, l.Error, l.JobID)
		}
	}
	if !s.opts.Agents.Online(hostID) {
		return Listing{}, false, ErrHostOffline
	}
	now := s.now()
	params, err := json.Marshal(struct {
		Snapshots []string `json:"snapshots"`
	}{[]string{snap.ID}})
	if err != nil {
		return Listing{}, false, err
	}
	deadline := now.Add(s.opts.ListDeadline)
	j := store.Job{
		ID: auth.NewID(), HostID: hostID, Kind: "ls", Status: store.JobQueued, RepositoryID: snap.RepositoryID,
		Params: params, CreatedBy: CreatedBy, CreatedAt: now, DeadlineAt: &deadline,
	}
	l, err = s.store.StartSnapshotListing(ctx, j, snap.RepositoryID, snap.ID, now)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Another request started it a moment ago.
			l, err = s.store.GetSnapshotListing(ctx, snap.RepositoryID, snap.ID)
			return l, false, err
		}
		return Listing{}, false, fmt.Errorf("start snapshot listing: %w", err)
	}
	// The job is dispatched only now, so its first event finds it tapped.
	s.mu.Lock()
	s.jobs[j.ID] = l.ID
	s.mu.Unlock()
	s.log.Info("listing a snapshot for the browser", "snapshot_id", snap.ID, "repository_id", snap.RepositoryID, "host_id", hostID, "job_id", j.ID)
	s.background(func(ctx context.Context) {
		dctx, cancel := context.WithTimeout(ctx, 35*time.Second)
		defer cancel()
		if err := s.opts.Agents.Dispatch(dctx, j.ID); err != nil {
			s.log.Debug("listing job stays queued", "job_id", j.ID, "error", err)
		}
	})
	s.evict()
	return l, true, nil
}

// settle brings a running listing up to date with its job: complete when
// the job succeeded (its entries were stored before its end was), failed
// when it ended otherwise.
func (s *Service) settle(ctx context.Context, l Listing) (Listing, error) {
	if l.Status != store.ListingRunning {
		return l, nil
	}
	status, reason := "", ""
	if l.JobID == "" {
		status, reason = store.ListingFailed, "the listing job was removed"
	} else {
		j, err := s.store.GetJob(ctx, l.JobID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			status, reason = store.ListingFailed, "the listing job was removed"
		case err != nil:
			return l, err
		case j.Status == store.JobSucceeded:
			status = store.ListingComplete
		case store.Terminal(j.Status):
			status, reason = store.ListingFailed, j.Error
			if reason == "" {
				reason = "the listing job " + j.Status
			}
		default:
			return l, nil
		}
	}
	if err := s.store.FinishSnapshotListing(ctx, l.ID, status, reason, s.now()); err != nil {
		return l, fmt.Errorf("finish snapshot listing: %w", err)
	}
	s.mu.Lock()
	delete(s.jobs, l.JobID)
	s.mu.Unlock()
	if status == store.ListingComplete {
		s.log.Info("snapshot listing complete", "snapshot_id", l.SnapshotID, "entries", l.Entries, "job_id", l.JobID)
		s.evict()
	} else {
		s.log.Warn("snapshot listing failed", "snapshot_id", l.SnapshotID, "job_id", l.JobID, "reason", reason)
	}
	return s.store.GetSnapshotListing(ctx, l.RepositoryID, l.SnapshotID)
}

func (s *Service) touch(ctx context.Context, l Listing) {
	now := s.now()
	if now.Sub(l.BrowsedAt) < touchEvery {
		return
	}
	if err := s.store.TouchSnapshotListing(ctx, l.ID, now); err != nil {
		s.log.Warn("recording a snapshot browse failed", "listing_id", l.ID, "error", err)
	}
}

// evict trims the cache to MaxSnapshots in the background; one eviction
// runs at a time.
func (s *Service) evict() {
	if !s.evicting.CompareAndSwap(false, true) {
		return
	}
	s.background(func(ctx context.Context) {
		defer s.evicting.Store(false)
		n, err := s.store.EvictSnapshotListings(ctx, s.opts.MaxSnapshots)
		if err != nil {
			s.log.Error("evicting snapshot listings failed", "error", err)
			return
		}
		if n > 0 {
			s.log.Info("evicted the least recently browsed snapshot listings", "count", n, "max_snapshots", s.opts.MaxSnapshots)
		}
	})
}

func (s *Service) background(fn func(ctx context.Context)) {
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Go(func() { fn(s.ctx) })
}

// Tapped reports whether jobID is a running listing job (hub.Tap).
func (s *Service) Tapped(jobID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.jobs[jobID]
	return ok
}

// nodeLine is what the cache keeps of restic's ls node.
type nodeLine struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"`
	Path  string    `json:"path"`
	Size  int64     `json:"size"`
	Mode  uint32    `json:"mode"`
	MTime time.Time `json:"mtime"`
}

// Nodes stores a batch of a listing job's node lines (hub.Tap). Lines
// that are not nodes with an absolute path are skipped with a warning.
func (s *Service) Nodes(ctx context.Context, jobID string, lines []string) error {
	s.mu.Lock()
	id, ok := s.jobs[jobID]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	nodes := make([]store.SnapshotNode, 0, len(lines))
	skipped := 0
	for _, line := range lines {
		var n nodeLine
		if err := json.Unmarshal([]byte(line), &n); err != nil || !strings.HasPrefix(n.Path, "/") || n.Name == "" {
			skipped++
			continue
		}
		p := path.Clean(n.Path)
		nodes = append(nodes, store.SnapshotNode{
			Parent: path.Dir(p), Name: path.Base(p), Type: n.Type, Size: n.Size, MTime: n.MTime, Mode: n.Mode,
		})
	}
	if skipped > 0 {
		s.log.Warn("skipped listing lines that are no restic nodes", "job_id", jobID, "lines", skipped)
	}
	if _, err := s.store.AddSnapshotNodes(ctx, id, nodes); err != nil {
		return fmt.Errorf("store snapshot listing entries: %w", err)
	}
	return nil
}

// CleanPath checks a folder or entry path of a request: absolute, clean,
// no control characters, at most MaxPathLen bytes.
func CleanPath(p string) (string, error) {
	switch {
	case p == "":
		return "/", nil
	case len(p) > MaxPathLen:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadPath, MaxPathLen)
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%w: %q is not absolute (start it with /)", ErrBadPath, p)
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", fmt.Errorf("%w: control characters", ErrBadPath)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." || seg == "." {
			return "", fmt.Errorf("%w: %q has . or .. segments", ErrBadPath, p)
		}
	}
	c := path.Clean(p)
	return c, nil
}

// Page is one page of a folder.
type Page struct {
	Path    string
	Entries []store.SnapshotNode
	Total   int64
	Next    string // the name to continue after; "" on the last page
}

// Folder returns a page of a complete listing's folder dir (CleanPath'd),
// after the entry named after. ErrNotFolder when dir is not a folder of
// the snapshot.
func (s *Service) Folder(ctx context.Context, l Listing, dir, after string, limit int) (Page, error) {
	if dir != "/" {
		n, err := s.store.GetSnapshotNode(ctx, l.ID, path.Dir(dir), path.Base(dir))
		if errors.Is(err, store.ErrNotFound) || (err == nil && n.Type != "dir") {
			return Page{}, ErrNotFolder
		}
		if err != nil {
			return Page{}, err
		}
	}
	nodes, err := s.store.SnapshotNodes(ctx, l.ID, dir, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	total, err := s.store.CountSnapshotNodes(ctx, l.ID, dir)
	if err != nil {
		return Page{}, err
	}
	p := Page{Path: dir, Entries: nodes, Total: total}
	if len(nodes) > limit {
		p.Entries = nodes[:limit]
		p.Next = nodes[limit-1].Name
	}
	return p, nil
}

// Search returns up to limit entries of a complete listing whose path
// contains q (ASCII case ignored), and whether there were more.
func (s *Service) Search(ctx context.Context, l Listing, q string, limit int) ([]store.SnapshotNode, bool, error) {
	nodes, err := s.store.SearchSnapshotNodes(ctx, l.ID, q, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(nodes) > limit {
		return nodes[:limit], true, nil
	}
	return nodes, false, nil
}
