-- 0009: one-job repository keys for cross-host restores (core/hub/scoped.go).
-- A restore of host A's snapshot onto host B runs with a key made for that
-- one job (restic key add on a host that holds the repository's password)
-- and removed when the restore ends. The row outlives a server restart so a
-- removal that could not be sent yet is never lost.
-- state: adding (key_add queued or running), ready (the key exists, the
-- restore may run), removing (the restore ended; key_remove pending, queued
-- or running), removed, failed (key_add failed: there is no key).
-- credential_id is the sealed one-job password while it is needed; it is
-- deleted with the key. No foreign key to jobs or repositories: a pending
-- removal must survive their deletion.
CREATE TABLE scoped_keys (
    job_id          TEXT PRIMARY KEY,
    repository_id   TEXT NOT NULL,
    source_host_id  TEXT NOT NULL,
    credential_id   TEXT REFERENCES credentials (id) ON DELETE SET NULL,
    add_job_id      TEXT NOT NULL,
    remove_job_id   TEXT NOT NULL DEFAULT '',
    key_id          TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('adding', 'ready', 'removing', 'removed', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    retry_at        INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX scoped_keys_add_job ON scoped_keys (add_job_id);
CREATE INDEX scoped_keys_remove_job ON scoped_keys (remove_job_id) WHERE remove_job_id != '';
CREATE INDEX scoped_keys_open ON scoped_keys (state) WHERE state IN ('adding', 'ready', 'removing');
