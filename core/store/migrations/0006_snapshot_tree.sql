-- snapshot_listings is the snapshot browser's cache: one row per
-- (repository, snapshot) whose whole `restic ls` the server holds or is
-- filling. Snapshots are immutable, so a complete listing never goes stale;
-- it goes with its snapshot (forget, prune, repository removed).
CREATE TABLE snapshot_listings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a late event of an old job cannot reach a new listing
    repository_id TEXT NOT NULL,
    snapshot_id   TEXT NOT NULL,
    job_id        TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    status        TEXT NOT NULL CHECK (status IN ('listing', 'complete', 'failed')),
    entries       INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    browsed_at    INTEGER NOT NULL,
    UNIQUE (repository_id, snapshot_id),
    FOREIGN KEY (repository_id, snapshot_id) REFERENCES snapshots (repository_id, id) ON DELETE CASCADE
);
CREATE INDEX snapshot_listings_job ON snapshot_listings (job_id);
CREATE INDEX snapshot_listings_browsed ON snapshot_listings (browsed_at);

-- snapshot_nodes holds one row per entry of a listing. The key orders a
-- folder's entries folders first (dir_rank 0), then by name, so a page is
-- one range scan of the key.
CREATE TABLE snapshot_nodes (
    listing_id INTEGER NOT NULL REFERENCES snapshot_listings (id) ON DELETE CASCADE,
    parent     TEXT NOT NULL,            -- the folder holding the entry: "/" or "/a/b"
    dir_rank   INTEGER NOT NULL,         -- 0 for a folder, 1 for anything else
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,            -- restic's node type: file, dir, symlink, …
    size       INTEGER NOT NULL DEFAULT 0,
    mtime      INTEGER,                  -- unix milliseconds
    mode       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (listing_id, parent, dir_rank, name)
) WITHOUT ROWID;
