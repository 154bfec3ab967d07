-- Claims are handed out shallowest first and, within a depth, in the order of a hash of the
-- catalog key rather than in discovery order. Catalogs discovered together are siblings (the
-- day folders of one station) whose granules belong to the same collections, and every write
-- locks its collections' rows: taken in discovery order, the claims in flight at one moment
-- all wrote to the same collection and waited for one another whatever the number of workers.
CREATE INDEX catalogs_frontier_spread ON catalogs (depth, hashint8(key)) WHERE queued_at IS NOT NULL;
