-- 0010: a repository URL that carries a password (rest:https://user:pass@…)
-- is kept sealed like the repository password: url holds the URL with the
-- password replaced by ***, url_credential_id the whole URL sealed. The
-- server seals URLs stored before this migration at its next start.
ALTER TABLE repositories ADD COLUMN url_credential_id TEXT REFERENCES credentials (id) ON DELETE RESTRICT;
