-- When a catalog's listing is expected to change next (unix seconds), read from the cadence of
-- the times it lists (model runs every 6 h, images every 15 min). It caps the adaptive revisit
-- interval, also across 304 answers, so a regular feed is never read late. NULL: unknown.
ALTER TABLE catalogs ADD COLUMN next_change INTEGER;
