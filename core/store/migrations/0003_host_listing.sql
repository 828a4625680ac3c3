-- 0003: indexes for the host listing (dashboard and GET /api/v1/hosts).
-- hosts_name_id serves the default order (name, id) and its cursor without a
-- sort step; jobs_host_kind_finished finds a host's last finished job of a kind
-- (its last backup) with one seek.
CREATE INDEX hosts_name_id ON hosts (name, id);
CREATE INDEX jobs_host_kind_finished ON jobs (host_id, kind, finished_at);
