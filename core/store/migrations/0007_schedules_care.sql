-- 0007: schedules-core. A host's default pre/post hooks (admin-only), sealed in credentials
-- (kind 'hook') like a schedule's own (schedules.hooks_credential_id). A
-- schedule without a hook of its own runs its host's default.
ALTER TABLE hosts ADD COLUMN hooks_credential_id TEXT REFERENCES credentials (id) ON DELETE SET NULL;

-- A scheduled check's --read-data-subset ("10%", "1/5", "500M"; '' reads
-- no data): schedules of kind check, prune, forget, unlock and stats are
-- repository maintenance the agent fires like backups.
ALTER TABLE schedules ADD COLUMN read_data_subset TEXT NOT NULL DEFAULT '';
