-- 0011: a diff job's change counts, counted once from its log when it is
-- first read (core/api/diff.go); NULL until then. Counts an earlier build
-- kept in the settings table move here.
ALTER TABLE jobs ADD COLUMN diff_counts TEXT;
UPDATE jobs SET diff_counts = (SELECT value FROM settings WHERE key = 'diff_counts/' || jobs.id)
    WHERE kind = 'diff';
DELETE FROM settings WHERE key LIKE 'diff_counts/%';
