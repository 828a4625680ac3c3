// Package restic drives the restic binary for the backend-restic plugin.
// It knows nothing of the plugin SDK; the plugin wraps a Runner.
//
// A Runner finds restic (Find: an explicit path, else $PATH), asks its
// version once (and again if the binary changes), runs one Job per Run
// with --json, and turns restic's output into typed events that carry a
// gap-free sequence number. restic's JSON is uneven, so:
//
//   - backup, restore, ls, diff, check and init print one JSON message per
//     line (status, summary, error, snapshot, node, change, statistics,
//     initialized); errors and exit_error go to stderr;
//   - snapshots, forget, stats and cat config print one plain JSON
//     document, streamed element by element; forget --prune's log follows
//     its array as text;
//   - key add and key remove print text only; their KeyResult (the key's
//     id, from restic's "saved new key with ID" or, before 0.17, from the
//     keys the new password opens) ends the run;
//   - prune and unlock print text only; so does copy, whose report
//     ("snapshot … saved", "skipping source snapshot …") becomes a
//     CopyResult at its end.
//
// Text lines and JSON messages of unknown type become LogLine events;
// nothing is dropped. Lines are cut at Config.MaxLineBytes and documents
// bounded by Config.MaxDocumentBytes, and emit's backpressure pauses
// restic, so memory stays bounded.
//
// Secrets reach restic only through its environment (RESTIC_PASSWORD or
// RESTIC_PASSWORD_COMMAND, backend credentials; a copy's source as
// RESTIC_FROM_REPOSITORY and RESTIC_FROM_PASSWORD; a key add's new password
// through a 0600 file in a private temporary directory, removed when restic
// has ended), never argv. The child's
// environment holds only an allow-list of the agent's own variables. The
// password and the values of secret-looking variables (*KEY*, *SECRET*,
// *PASSWORD*, *TOKEN*, *SAS*, *CREDENTIAL*) are replaced by [redacted] in
// every LogLine, Error, raw summary and ExitError.
//
// Exit codes: 0 success; 1 fatal (*ExitError); 3 from backup means the
// snapshot was created but some files could not be read: Run returns no
// error and Result.Incomplete, so the job succeeds with a warning and the
// Error events name the files; 10 no repository, 11 locked, 12 wrong
// password, 130 interrupted (*ExitError matching ErrRepositoryNotFound,
// ErrRepositoryLocked, ErrWrongPassword, ErrInterrupted; restic before
// 0.17 exits 1 for these, and the message decides).
//
// Cancelling ctx sends SIGINT to restic's process group (restic removes
// its lock), then SIGKILL after Config.KillGrace. On Windows restic runs in
// a new process group and a job object: CTRL_BREAK when the agent has a
// console, then the job object is terminated.
//
// Versions: restic 0.14.0 (Debian bookworm's) is the oldest supported.
// Newer restic brings, per its CHANGELOG: init --json (0.15.0), restore
// --sparse (0.15.0), restore progress JSON (0.16.0), restore --overwrite,
// --delete and --dry-run, backup --skip-if-unchanged, ls message_type,
// snapshot summaries, exit codes 10 and 11 (0.17.0), exit code 12 and
// JSON restore errors (0.17.1), check --json summary, exit_error JSON and
// backup_start/backup_end (0.18.0). Options an older restic lacks are
// refused with *ErrUnsupported before anything runs.
package restic
