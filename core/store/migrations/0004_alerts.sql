-- 0004: what the alert engine (core/alert) keeps beyond 0001's alerts table:
-- how often an alert's condition happened, who resolved it (a user's name, or
-- 'system' when its condition cleared), and an index for a host's alert
-- history (GET /api/v1/hosts/{id}/alerts).
ALTER TABLE alerts ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN resolved_by TEXT;
CREATE INDEX alerts_host_created ON alerts (host_id, created_at);
CREATE INDEX alerts_rule_fingerprint ON alerts (rule_id, fingerprint, created_at);
