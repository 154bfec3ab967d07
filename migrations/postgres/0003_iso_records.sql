-- Issue 5: ISO 19139 series records of collections.
--
-- `collections.iso_record` (0001) holds the record. These columns say for which time extent
-- it was built and when its content last changed: a record is stale (to be re-timed) while
-- iso_start / iso_end differ from start_time / end_time, or missing while iso_record is NULL.
ALTER TABLE collections ADD COLUMN iso_start timestamptz;
ALTER TABLE collections ADD COLUMN iso_end timestamptz;
ALTER TABLE collections ADD COLUMN iso_date_stamp timestamptz;
