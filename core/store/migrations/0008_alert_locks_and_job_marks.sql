-- 0008: what the alert engine (core/alert) keeps for repository locks and
-- for job ends it has not evaluated yet.
-- A repository's lock as the server learnt it from restic (a job that failed
-- because the repository was locked): when the lock was created and who holds
-- it; cleared by a later successful job on the repository. 0001's locked
-- column says whether it is locked.
ALTER TABLE repositories ADD COLUMN locked_since INTEGER;
ALTER TABLE repositories ADD COLUMN lock_holder TEXT;
-- alerts_done: the alert engine has evaluated the job's end. Jobs that ended
-- before this migration count as evaluated; a server that stops between a
-- job's end and its evaluation finds the job here at its next start.
ALTER TABLE jobs ADD COLUMN alerts_done INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET alerts_done = 1;
CREATE INDEX jobs_alerts_pending ON jobs (finished_at) WHERE alerts_done = 0;
