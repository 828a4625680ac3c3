package restic

import (
	"encoding/json"
	"time"
)

// Event is one thing a restic run reported, in the order it was reported.
// The concrete types are the pointer types below; switch on them.
type Event interface {
	// EventSeq is the event's position in its run: 1, 2, 3 … with no gaps.
	EventSeq() uint64
	meta() *Meta
}

// Meta is embedded in every event.
type Meta struct {
	// Seq is assigned by the runner just before the event is emitted.
	Seq uint64 `json:"seq"`
}

// EventSeq implements Event.
func (m Meta) EventSeq() uint64 { return m.Seq }

func (m *Meta) meta() *Meta { return m }

// Stream names the output stream a line came from.
type Stream string

// Streams of a restic child.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Progress is a `status` message of backup or restore.
type Progress struct {
	Meta
	PercentDone      float64  `json:"percent_done"` // 0 … 1
	FilesDone        uint64   `json:"files_done"`   // restore: files restored
	TotalFiles       uint64   `json:"total_files"`
	BytesDone        uint64   `json:"bytes_done"` // restore: bytes restored
	TotalBytes       uint64   `json:"total_bytes"`
	SecondsElapsed   uint64   `json:"seconds_elapsed"`
	SecondsRemaining uint64   `json:"seconds_remaining,omitempty"` // backup only
	ErrorCount       uint64   `json:"error_count,omitempty"`       // backup only
	CurrentFiles     []string `json:"current_files,omitempty"`     // backup only
	FilesSkipped     uint64   `json:"files_skipped,omitempty"`     // restore only
	BytesSkipped     uint64   `json:"bytes_skipped,omitempty"`     // restore only
	FilesDeleted     uint64   `json:"files_deleted,omitempty"`     // restore --delete only
}

// LogLine is a line restic printed as text, a JSON message this package
// does not model (Text is then the raw JSON and MessageType its type), or a
// line that was cut because it was too long.
type LogLine struct {
	Meta
	Stream      Stream `json:"stream"`
	Text        string `json:"text"`
	MessageType string `json:"message_type,omitempty"`
	Truncated   bool   `json:"truncated,omitempty"`
}

// Error is an error restic reported and went on from (an unreadable file,
// a check finding), or its final exit_error (During "exit").
type Error struct {
	Meta
	Message string `json:"message"`
	Item    string `json:"item,omitempty"`
	During  string `json:"during,omitempty"` // "scan", "archival", "restore", "check", "exit"
	Code    int    `json:"code,omitempty"`   // exit_error only
}

// Summary is the final report of a run. Exactly one of the typed fields is
// set, by job kind; Raw is restic's JSON as printed (scrubbed).
type Summary struct {
	Meta
	Kind    Kind            `json:"kind"`
	Raw     json.RawMessage `json:"raw"`
	Backup  *BackupSummary  `json:"backup,omitempty"`
	Restore *RestoreSummary `json:"restore,omitempty"`
	Check   *CheckSummary   `json:"check,omitempty"`
	Diff    *DiffStatistics `json:"diff,omitempty"`
	Init    *InitInfo       `json:"init,omitempty"`
}

// BackupSummary is the summary of `backup --json`, also stored in each
// snapshot by restic >= 0.17 (without TotalDuration, SnapshotID and DryRun).
type BackupSummary struct {
	SnapshotID          string    `json:"snapshot_id,omitempty"` // empty for a dry run
	FilesNew            uint64    `json:"files_new"`
	FilesChanged        uint64    `json:"files_changed"`
	FilesUnmodified     uint64    `json:"files_unmodified"`
	DirsNew             uint64    `json:"dirs_new"`
	DirsChanged         uint64    `json:"dirs_changed"`
	DirsUnmodified      uint64    `json:"dirs_unmodified"`
	DataBlobs           int64     `json:"data_blobs"`
	TreeBlobs           int64     `json:"tree_blobs"`
	DataAdded           uint64    `json:"data_added"`
	DataAddedPacked     uint64    `json:"data_added_packed,omitempty"` // restic >= 0.17
	TotalFilesProcessed uint64    `json:"total_files_processed"`
	TotalBytesProcessed uint64    `json:"total_bytes_processed"`
	TotalDuration       float64   `json:"total_duration"`        // seconds
	BackupStart         time.Time `json:"backup_start,omitzero"` // restic >= 0.18
	BackupEnd           time.Time `json:"backup_end,omitzero"`   // restic >= 0.18
	DryRun              bool      `json:"dry_run,omitempty"`
}

// RestoreSummary is the summary of `restore --json` (restic >= 0.16).
type RestoreSummary struct {
	SecondsElapsed uint64 `json:"seconds_elapsed"`
	TotalFiles     uint64 `json:"total_files"`
	FilesRestored  uint64 `json:"files_restored"`
	FilesSkipped   uint64 `json:"files_skipped"`
	FilesDeleted   uint64 `json:"files_deleted"`
	TotalBytes     uint64 `json:"total_bytes"`
	BytesRestored  uint64 `json:"bytes_restored"`
	BytesSkipped   uint64 `json:"bytes_skipped"`
}

// CheckSummary is the summary of `check --json` (restic >= 0.18).
type CheckSummary struct {
	NumErrors          int      `json:"num_errors"`
	BrokenPacks        []string `json:"broken_packs"`
	SuggestRepairIndex bool     `json:"suggest_repair_index"`
	SuggestPrune       bool     `json:"suggest_prune"`
}

// DiffStatistics is the `statistics` message of `diff --json`.
type DiffStatistics struct {
	SourceSnapshot string   `json:"source_snapshot"`
	TargetSnapshot string   `json:"target_snapshot"`
	ChangedFiles   int      `json:"changed_files"`
	Added          DiffStat `json:"added"`
	Removed        DiffStat `json:"removed"`
}

// DiffStat counts one side of a diff.
type DiffStat struct {
	Files     int    `json:"files"`
	Dirs      int    `json:"dirs"`
	Others    int    `json:"others"`
	DataBlobs int    `json:"data_blobs"`
	TreeBlobs int    `json:"tree_blobs"`
	Bytes     uint64 `json:"bytes"`
}

// InitInfo is the `initialized` message of `init --json` (restic >= 0.15).
type InitInfo struct {
	ID         string `json:"id"`
	Repository string `json:"repository"`
}

// Node is one entry of `ls --json`.
type Node struct {
	Meta
	Name        string    `json:"name"`
	Type        string    `json:"type"` // file, dir, symlink, dev, chardev, fifo, socket, irregular
	Path        string    `json:"path"`
	UID         uint32    `json:"uid"`
	GID         uint32    `json:"gid"`
	Size        uint64    `json:"size"` // files only
	Mode        uint32    `json:"mode"` // Go os.FileMode bits
	Permissions string    `json:"permissions,omitempty"`
	MTime       time.Time `json:"mtime"`
	ATime       time.Time `json:"atime"`
	CTime       time.Time `json:"ctime"`
	Inode       uint64    `json:"inode,omitempty"`
}

// Change is one `change` message of `diff --json`. Modifier is restic's
// one-letter code: "+" added, "-" removed, "M" content changed,
// "U" metadata changed, "T" type changed, "?" bitrot.
type Change struct {
	Meta
	Path     string `json:"path"`
	Modifier string `json:"modifier"`
}

// SnapshotInfo describes a snapshot as restic prints it in JSON.
type SnapshotInfo struct {
	ID             string         `json:"id"`
	ShortID        string         `json:"short_id"`
	Time           time.Time      `json:"time"`
	Parent         string         `json:"parent,omitempty"`
	Tree           string         `json:"tree"`
	Paths          []string       `json:"paths"`
	Hostname       string         `json:"hostname,omitempty"`
	Username       string         `json:"username,omitempty"`
	UID            uint32         `json:"uid,omitempty"`
	GID            uint32         `json:"gid,omitempty"`
	Excludes       []string       `json:"excludes,omitempty"`
	Tags           []string       `json:"tags,omitempty"`
	Original       string         `json:"original,omitempty"`
	ProgramVersion string         `json:"program_version,omitempty"` // restic >= 0.17
	Summary        *BackupSummary `json:"summary,omitempty"`         // restic >= 0.17
}

// Snapshot is one snapshot of `snapshots --json`, or the snapshot line
// that precedes the nodes of `ls --json`.
type Snapshot struct {
	Meta
	SnapshotInfo
}

// ForgetGroup is one group of the `forget --json` array.
type ForgetGroup struct {
	Meta
	Host    string         `json:"host"`
	Tags    []string       `json:"tags"`
	Paths   []string       `json:"paths"`
	Keep    []SnapshotInfo `json:"keep"`
	Remove  []SnapshotInfo `json:"remove"`
	Reasons []KeepReason   `json:"reasons"`
}

// pairReasons gives each reason the id of the snapshot it kept. restic
// 0.18 prints it; in 0.14's output a reason's snapshot has no id, but
// restic lists reasons in the order of Keep, one each (and a snapshot's
// time and tree identify it otherwise).
func (g *ForgetGroup) pairReasons() {
	for i := range g.Reasons {
		r := &g.Reasons[i].Snapshot
		if r.ID != "" {
			continue
		}
		if i < len(g.Keep) && len(g.Reasons) == len(g.Keep) && g.Keep[i].Time.Equal(r.Time) && g.Keep[i].Tree == r.Tree {
			r.ID, r.ShortID = g.Keep[i].ID, g.Keep[i].ShortID
			continue
		}
		for _, k := range g.Keep {
			if k.Time.Equal(r.Time) && k.Tree == r.Tree {
				r.ID, r.ShortID = k.ID, k.ShortID
				break
			}
		}
	}
}

// KeepReason says which rules of the policy kept a snapshot.
type KeepReason struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	Matches  []string     `json:"matches"`
}

// ForgetResult follows the ForgetGroup events of a forget run: what the
// policy kept and removed over all groups. With DryRun nothing was removed.
type ForgetResult struct {
	Meta
	DryRun  bool     `json:"dry_run"`
	Groups  int      `json:"groups"`
	Kept    []string `json:"kept"`    // snapshot IDs
	Removed []string `json:"removed"` // snapshot IDs
}

// CopyResult ends a successful copy: the snapshots restic copied (the
// source's id and the new snapshot's id in the destination) and those it
// skipped because it had copied them before (with the earlier copy's id).
// restic prints copy's report as text, with short ids; this is read from it.
type CopyResult struct {
	Meta
	Copied  []CopiedSnapshot `json:"copied"`
	Skipped []CopiedSnapshot `json:"skipped"`
}

// CopiedSnapshot pairs a source snapshot with its copy in the destination.
type CopiedSnapshot struct {
	Source   string `json:"source"`
	Snapshot string `json:"snapshot"`
}

// Stats is the output of `stats --json`.
type Stats struct {
	Meta
	Mode                   StatsMode       `json:"mode"`
	TotalSize              uint64          `json:"total_size"`
	TotalUncompressedSize  uint64          `json:"total_uncompressed_size,omitempty"`
	CompressionRatio       float64         `json:"compression_ratio,omitempty"`
	CompressionProgress    float64         `json:"compression_progress,omitempty"`
	CompressionSpaceSaving float64         `json:"compression_space_saving,omitempty"`
	TotalFileCount         uint64          `json:"total_file_count,omitempty"`
	TotalBlobCount         uint64          `json:"total_blob_count,omitempty"`
	SnapshotsCount         int             `json:"snapshots_count"`
	Raw                    json.RawMessage `json:"raw"`
}

// RepoConfig is the output of `cat config`: proof that the repository
// exists and the password opens it.
type RepoConfig struct {
	Meta
	Version           int             `json:"version"`
	ID                string          `json:"id"`
	ChunkerPolynomial string          `json:"chunker_polynomial"`
	Raw               json.RawMessage `json:"raw"`
}

// VersionInfo is the output of `restic version`.
type VersionInfo struct {
	Meta
	Version Version `json:"version"`
	Text    string  `json:"text"`
}
