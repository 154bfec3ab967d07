-- Who holds a sync lease: host name and process ID (shown to a sync that finds the lease busy)
-- and, where the platform tells, the holder's scope (kernel boot and PID namespace) and its
-- process start time in clock ticks since boot. A sync in the same scope that finds the holder
-- process gone (its PID missing, or reused by a later process) takes the lease over at once
-- instead of waiting for it to expire. NULL when unknown, as in rows written before this
-- migration: such leases are waited out as before.
ALTER TABLE sync_leases ADD COLUMN holder_host  TEXT;
ALTER TABLE sync_leases ADD COLUMN holder_pid   INTEGER;
ALTER TABLE sync_leases ADD COLUMN holder_scope TEXT;
ALTER TABLE sync_leases ADD COLUMN holder_start INTEGER;
