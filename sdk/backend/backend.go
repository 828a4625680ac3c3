// Package backend is the SDK for backup backend plugins: the Backend
// interface a plugin implements to run restic (or something like it) for the
// agent, the Job it receives, the typed Events it streams back, Serve for the
// plugin's main, and the go-plugin glue the agent uses to call one.
//
// Run is a server-streamed call: the plugin calls emit for every event as it
// happens and the host's emit callback receives them in order, one at a
// time, while Run is still going. gRPC flow control carries back-pressure: a
// host that is slow to take events makes the plugin's emit block, so neither
// side buffers without bound. Cancelling Run's context (the job was
// cancelled, the agent shuts down) cancels the plugin's context.
package backend

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Backend runs backup jobs.
//
// The host calls Run concurrently, for different jobs, and only after a
// successful Configure.
type Backend interface {
	plugin.Base

	// Run runs job, calling emit for each event in the order they happen,
	// and returns the job's result.
	//
	// emit is safe for concurrent use (stdout and stderr readers may both
	// call it); it numbers events (Seq) and stamps those without a Time. It
	// blocks while the host is busy and fails once the host is gone, ctx is
	// done or Run has returned; Run then stops and returns that error.
	//
	// A job that fails returns an error. A job that got as far as a result
	// (restic ran and exited with a code) returns it as well, even with an
	// error: the host sees both. A kind the backend does not run is an error
	// wrapping plugin.ErrUnsupported. When ctx is done Run stops the work
	// (killing restic) and returns promptly with an error wrapping
	// ctx.Err().
	Run(ctx context.Context, job Job, emit func(Event) error) (Result, error)
}

// JobKind is what a job does; each is the restic command of the same name.
type JobKind string

// The job kinds.
const (
	JobBackup    JobKind = "backup"
	JobForget    JobKind = "forget"
	JobPrune     JobKind = "prune"
	JobCheck     JobKind = "check"
	JobUnlock    JobKind = "unlock"
	JobSnapshots JobKind = "snapshots"
	JobLs        JobKind = "ls"
	JobRestore   JobKind = "restore"
	JobDiff      JobKind = "diff"
	JobStats     JobKind = "stats"
	JobVersion   JobKind = "version"
	JobInit      JobKind = "init"
	// JobCopy copies snapshots from the job's Repository to its
	// ToRepository (restic copy).
	JobCopy JobKind = "copy"
	// JobDump writes a file's bytes, or a folder as a tar or zip archive,
	// from a snapshot (restic dump) as Data events.
	JobDump JobKind = "dump"
	// JobKeyAdd adds a key to the repository (restic key add) whose
	// password is the job's NewPassword; its result is the new key's id.
	// The server gives a short-lived key to an agent that must open
	// another host's repository for one job (cross-host restore).
	JobKeyAdd JobKind = "key_add"
	// JobKeyRemove removes the key Args.Extra {"key_id"} names (restic key
	// remove); a key that is gone already is a success.
	JobKeyRemove JobKind = "key_remove"
)

// JobKinds lists every job kind.
var JobKinds = []JobKind{
	JobBackup, JobForget, JobPrune, JobCheck, JobUnlock, JobSnapshots,
	JobLs, JobRestore, JobDiff, JobStats, JobVersion, JobInit, JobCopy, JobDump,
	JobKeyAdd, JobKeyRemove,
}

// Valid reports whether k is one of the job kinds.
func (k JobKind) Valid() bool {
	for _, j := range JobKinds {
		if k == j {
			return true
		}
	}
	return false
}

// Job is one run of one restic command against one repository.
type Job struct {
	// ID is the job's id, unique across the fleet; events are keyed by
	// (ID, Seq).
	ID   string  `json:"id"`
	Kind JobKind `json:"kind"`
	// Repository is where the job runs; JobVersion needs none.
	Repository Repository `json:"repository"`
	// ToRepository is where a copy writes, with its credentials; the
	// other kinds have none. Like Repository's, its secrets reach restic
	// only through its environment.
	ToRepository *Repository `json:"to_repository,omitempty"`
	Args         Args        `json:"args"`
	// NewPassword is the password of the key a key_add creates; the other
	// kinds have none. It is a secret like Repository.Password: a backend
	// hands it to restic through a private file or its environment, never
	// its arguments, and scrubs it from every event. String and GoString
	// leave it out.
	NewPassword string `json:"new_password,omitempty"`
}

// String describes j without its secrets.
func (j Job) String() string {
	return fmt.Sprintf("%s job %s on %s", j.Kind, j.ID, j.Repository)
}

// GoString describes j without its secrets, for %#v.
func (j Job) GoString() string {
	pw := ""
	if j.NewPassword != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("backend.Job{ID:%q, Kind:%q, Repository:%#v, NewPassword:%q}", j.ID, j.Kind, j.Repository, pw)
}

// Repository is a restic repository and its credentials. Password and Env
// are secrets: a backend passes them to restic through its environment (or
// --password-command), never its arguments, and scrubs them from every
// event. String and GoString leave them out, so a Job can be logged.
type Repository struct {
	// URL is restic's repository location ("/srv/restic", "sftp:host:/path",
	// "s3:…", "rest:…").
	URL string `json:"url"`
	// Password is the repository password (RESTIC_PASSWORD).
	Password string `json:"password,omitempty"`
	// Env holds the backend's credentials and options, such as
	// AWS_ACCESS_KEY_ID or B2_ACCOUNT_KEY.
	Env map[string]string `json:"env,omitempty"`
}

// String describes r without its secrets.
func (r Repository) String() string {
	return fmt.Sprintf("%s (password and %d env values redacted)", r.URL, len(r.Env))
}

// GoString describes r without its secrets, for %#v.
func (r Repository) GoString() string {
	return fmt.Sprintf("backend.Repository{URL:%q, Password:<redacted>, Env:<%d redacted>}", r.URL, len(r.Env))
}

// Args are a job's arguments. Each kind reads the fields that mean
// something to it and ignores the others:
//
//	backup     Paths, Excludes, Tags, Host, LimitUploadKiB, DryRun
//	forget     Retention, Snapshots (explicit ids), Tags, Host, Paths, Prune, DryRun
//	prune      DryRun, LimitUploadKiB, LimitDownloadKiB
//	check      ReadDataSubset
//	snapshots  Tags, Host, Paths
//	ls         Snapshots[0], Paths (directories to list)
//	restore    Snapshots[0], Target, Includes, Excludes, LimitDownloadKiB, DryRun
//	diff       Snapshots[0], Snapshots[1]
//	stats      Snapshots, Tags, Host, Paths
//	copy       Snapshots (ids or "latest"; none: all), Tags, Host, Paths, ToRepository
//	dump       Snapshots[0], Paths[0] (the file or folder), Extra {"archive": "tar"|"zip"}
//	key_add    Extra {"host": "…", "user": "…"} (both optional: the new key's labels); Job.NewPassword
//	key_remove Extra {"key_id": "…"} (the id, or a unique prefix of it)
//	unlock, version, init: none
//
// Extra carries anything else as a JSON object the backend documents.
type Args struct {
	Paths     []string `json:"paths,omitempty"`
	Excludes  []string `json:"excludes,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Host      string   `json:"host,omitempty"`
	Snapshots []string `json:"snapshots,omitempty"`
	// Target is the directory a restore writes into.
	Target string `json:"target,omitempty"`
	// Includes are the paths a restore restores (all when empty).
	Includes  []string   `json:"includes,omitempty"`
	Retention *Retention `json:"retention,omitempty"`
	// LimitUploadKiB and LimitDownloadKiB cap bandwidth in KiB/s; 0 means
	// no limit.
	LimitUploadKiB   int64 `json:"limit_upload_kib,omitempty"`
	LimitDownloadKiB int64 `json:"limit_download_kib,omitempty"`
	DryRun           bool  `json:"dry_run,omitempty"`
	// Prune makes a forget prune afterwards.
	Prune bool `json:"prune,omitempty"`
	// ReadDataSubset makes a check read that part of the data ("10%",
	// "1/5", "500M").
	ReadDataSubset string `json:"read_data_subset,omitempty"`
	// ToRepository names (by id) the repository a copy writes to, as the
	// server resolved it; its credentials travel in Job.ToRepository.
	ToRepository string          `json:"to_repository,omitempty"`
	Extra        json.RawMessage `json:"extra,omitempty"`
}

// Retention is a forget policy; zero fields are not passed on.
type Retention struct {
	KeepLast    int `json:"keep_last,omitempty"`
	KeepHourly  int `json:"keep_hourly,omitempty"`
	KeepDaily   int `json:"keep_daily,omitempty"`
	KeepWeekly  int `json:"keep_weekly,omitempty"`
	KeepMonthly int `json:"keep_monthly,omitempty"`
	KeepYearly  int `json:"keep_yearly,omitempty"`
	// KeepWithin is a restic duration such as "1y6m" or "14d".
	KeepWithin string   `json:"keep_within,omitempty"`
	KeepTags   []string `json:"keep_tags,omitempty"`
	// GroupBy is restic's --group-by ("host,paths" when empty).
	GroupBy string `json:"group_by,omitempty"`
}

// Result is how a job ended.
type Result struct {
	// ExitCode is restic's exit code: 0 ok, 1 fatal, 3 some files could not
	// be read (the snapshot was still made), 10 no repository, 11 locked,
	// 12 wrong password.
	ExitCode int `json:"exit_code"`
	// SnapshotID is the snapshot a backup made.
	SnapshotID string `json:"snapshot_id,omitempty"`
	// Output is the JSON document a kind prints as a whole (snapshots,
	// stats, version, forget), verbatim. key_add's is {"key_id": "<the new
	// key's full id>"}; key_remove's {"key_id": "…"}, with
	// "already_gone": true when there was no such key.
	Output json.RawMessage `json:"output,omitempty"`
}

func (r Result) isZero() bool {
	return r.ExitCode == 0 && r.SnapshotID == "" && len(r.Output) == 0
}
