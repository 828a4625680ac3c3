-- 0001: the whole schema the design calls for. Later migrations add columns and
-- indexes; they never rewrite a released file. Times are Unix milliseconds (UTC).
-- Every object a user can create has a stable name and a managed_by column
-- ('user' or 'config') so HCL can declare it.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL COLLATE NOCASE UNIQUE,
    display_name    TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL DEFAULT '',
    password_hash   TEXT,                     -- NULL for users of an external auth provider
    role            TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    disabled        INTEGER NOT NULL DEFAULT 0,
    auth_provider   TEXT NOT NULL DEFAULT 'local',
    external_subject TEXT,
    managed_by      TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_login_at   INTEGER
);
CREATE UNIQUE INDEX users_external ON users (auth_provider, external_subject) WHERE external_subject IS NOT NULL;

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,        -- SHA-256 of the cookie value; the value itself is never stored
    csrf_hash    TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,            -- absolute expiry
    source_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    managed_by   TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config'))
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE webauthn_credentials (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL DEFAULT '',
    credential_id    BLOB NOT NULL UNIQUE,
    public_key       BLOB NOT NULL,
    attestation_type TEXT NOT NULL DEFAULT '',
    aaguid           BLOB,
    sign_count       INTEGER NOT NULL DEFAULT 0,
    transports       TEXT NOT NULL DEFAULT '[]',
    backup_eligible  INTEGER NOT NULL DEFAULT 0,
    backup_state     INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE hosts (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    hostname       TEXT NOT NULL DEFAULT '',
    os             TEXT NOT NULL DEFAULT '',
    arch           TEXT NOT NULL DEFAULT '',
    agent_version  TEXT NOT NULL DEFAULT '',
    restic_version TEXT NOT NULL DEFAULT '',
    backends       TEXT NOT NULL DEFAULT '[]',  -- JSON array
    tags           TEXT NOT NULL DEFAULT '[]',  -- JSON array
    status         TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline', 'revoked')),
    last_seen_at   INTEGER,
    enrolled_at    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    managed_by     TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config'))
);
CREATE INDEX hosts_name ON hosts (name);
CREATE INDEX hosts_status ON hosts (status);

CREATE TABLE enrollment_tokens (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    uses_total   INTEGER NOT NULL CHECK (uses_total > 0),
    uses_left    INTEGER NOT NULL CHECK (uses_left >= 0),
    last_used_at INTEGER,
    revoked_at   INTEGER,
    tags         TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE agent_credentials (
    id           TEXT PRIMARY KEY,
    host_id      TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX agent_credentials_host ON agent_credentials (host_id);

-- credentials holds every secret at rest, sealed with XChaCha20-Poly1305
-- (see core/secrets); the AAD is 'credentials/sealed/<id>'.
CREATE TABLE credentials (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('repository_password', 'backend_env', 'hook', 'plugin_config', 'generic')),
    key_id     TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE repositories (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    url                     TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    password_credential_id  TEXT REFERENCES credentials (id) ON DELETE RESTRICT,
    env_credential_id       TEXT REFERENCES credentials (id) ON DELETE RESTRICT,
    admin_credential_id     TEXT REFERENCES credentials (id) ON DELETE RESTRICT, -- non-append-only credential for prune
    options                 TEXT NOT NULL DEFAULT '{}',  -- JSON: restic -o options
    total_size              INTEGER,
    raw_size                INTEGER,
    snapshot_count          INTEGER,
    last_check_at           INTEGER,
    last_check_status       TEXT,
    locked                  INTEGER NOT NULL DEFAULT 0,
    stats_updated_at        INTEGER,
    managed_by              TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config')),
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);

CREATE TABLE schedules (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    host_id                 TEXT REFERENCES hosts (id) ON DELETE CASCADE,
    host_tag                TEXT,
    repository_id           TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    secondary_repository_id TEXT REFERENCES repositories (id) ON DELETE SET NULL,
    kind                    TEXT NOT NULL DEFAULT 'backup',
    paths                   TEXT NOT NULL DEFAULT '[]',
    excludes                TEXT NOT NULL DEFAULT '[]',
    exclude_options         TEXT NOT NULL DEFAULT '{}',
    tags                    TEXT NOT NULL DEFAULT '[]',
    one_file_system         INTEGER NOT NULL DEFAULT 0,
    cron                    TEXT,
    every_seconds           INTEGER,
    timezone                TEXT NOT NULL DEFAULT 'UTC',
    jitter_seconds          INTEGER NOT NULL DEFAULT 0,
    catch_up                INTEGER NOT NULL DEFAULT 1,
    retention               TEXT NOT NULL DEFAULT '{}',
    forget_prune            INTEGER NOT NULL DEFAULT 0,
    limit_upload_kib        INTEGER,
    limit_download_kib      INTEGER,
    hooks_credential_id     TEXT REFERENCES credentials (id) ON DELETE SET NULL,
    enabled                 INTEGER NOT NULL DEFAULT 1,
    managed_by              TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config')),
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    CHECK (host_id IS NOT NULL OR host_tag IS NOT NULL),
    CHECK (cron IS NOT NULL OR every_seconds IS NOT NULL)
);
CREATE INDEX schedules_host ON schedules (host_id);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    host_id       TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')),
    repository_id TEXT REFERENCES repositories (id) ON DELETE SET NULL,
    schedule_id   TEXT REFERENCES schedules (id) ON DELETE SET NULL,
    params        TEXT NOT NULL DEFAULT '{}',
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    deadline_at   INTEGER,
    exit_code     INTEGER,
    error         TEXT NOT NULL DEFAULT '',
    summary       TEXT,                       -- JSON: restic's summary
    last_seq      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_host_created ON jobs (host_id, created_at);
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_schedule ON jobs (schedule_id);

-- job_logs keeps every event once per (job_id, seq).
CREATE TABLE job_logs (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    time   INTEGER NOT NULL,
    stream TEXT NOT NULL DEFAULT 'stdout',
    type   TEXT NOT NULL DEFAULT 'log',
    line   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE snapshots (
    repository_id   TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,            -- restic's snapshot id
    short_id        TEXT NOT NULL,
    host_id         TEXT REFERENCES hosts (id) ON DELETE SET NULL,
    time            INTEGER NOT NULL,
    hostname        TEXT NOT NULL DEFAULT '',
    username        TEXT NOT NULL DEFAULT '',
    paths           TEXT NOT NULL DEFAULT '[]',
    tags            TEXT NOT NULL DEFAULT '[]',
    parent          TEXT,
    tree            TEXT,
    program_version TEXT NOT NULL DEFAULT '',
    summary         TEXT,                     -- JSON: restic's snapshot summary
    job_id          TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (repository_id, id)
);
CREATE INDEX snapshots_host_time ON snapshots (host_id, time);

CREATE TABLE notification_channels (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    plugin            TEXT NOT NULL,
    config_credential_id TEXT REFERENCES credentials (id) ON DELETE SET NULL,
    enabled           INTEGER NOT NULL DEFAULT 1,
    managed_by        TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE alert_rules (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    event        TEXT NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    min_severity TEXT NOT NULL DEFAULT 'warning',
    channels     TEXT NOT NULL DEFAULT '[]',   -- JSON array of channel names
    throttle_seconds INTEGER NOT NULL DEFAULT 3600,
    enabled      INTEGER NOT NULL DEFAULT 1,
    managed_by   TEXT NOT NULL DEFAULT 'user' CHECK (managed_by IN ('user', 'config')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    rule_id          TEXT REFERENCES alert_rules (id) ON DELETE SET NULL,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status           TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    fingerprint      TEXT NOT NULL,            -- what makes two firings the same alert
    host_id          TEXT REFERENCES hosts (id) ON DELETE CASCADE,
    job_id           TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    repository_id    TEXT REFERENCES repositories (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    body             TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    acknowledged_by  TEXT,
    acknowledged_at  INTEGER,
    resolved_at      INTEGER,
    last_notified_at INTEGER
);
CREATE INDEX alerts_status ON alerts (status, created_at);
CREATE INDEX alerts_fingerprint ON alerts (fingerprint, status);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'token', 'agent', 'system', 'anonymous')),
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    source_addr TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
