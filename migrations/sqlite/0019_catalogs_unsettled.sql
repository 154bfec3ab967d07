-- Catalogs a sync must re-read whatever their class or next visit: pending (discovered, never
-- read; e.g. left by an interrupted run) and failed ones. With `catalogs_source_next_visit`
-- this lets a sync plan from what is due (`CrawlState::due_catalogs`) instead of reading every
-- catalog row of a source; the partial index holds only the unsettled few.
CREATE INDEX catalogs_unsettled ON catalogs(source_id) WHERE status IN ('pending', 'failed');
