-- 0002: which enrollment token enrolled each host, so the add-host page can show the hosts a
-- token brought in as they connect. Hosts enrolled before this migration have none.

ALTER TABLE hosts ADD COLUMN enrollment_token_id TEXT REFERENCES enrollment_tokens (id) ON DELETE SET NULL;
CREATE INDEX hosts_enrollment_token ON hosts (enrollment_token_id);
