-- 0005: cancels the server could not deliver because the job's host was
-- offline (core/hub). They are sent when the host's agent next connects, also
-- after a server restart; a row goes once its cancel is delivered or its job
-- has ended.
CREATE TABLE job_cancels (
    job_id       TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    host_id      TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL DEFAULT '',
    requested_at INTEGER NOT NULL
);
CREATE INDEX job_cancels_host ON job_cancels (host_id, requested_at);
