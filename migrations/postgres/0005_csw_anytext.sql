-- Issue 7 (CSW): the "any text" of collections (ID, title, abstract, keywords) with a trigram
-- index, so `csw:AnyText LIKE '%word%'` (ILIKE) is answered from the index, not a scan.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE collections ADD COLUMN anytext text GENERATED ALWAYS AS (
    id || ' ' || title || ' ' || COALESCE(summary, '') || ' ' || (keywords::text)
) STORED;
CREATE INDEX collections_anytext ON collections USING gin (anytext gin_trgm_ops);

-- Sorting CSW results by title or modification date.
CREATE INDEX collections_title ON collections(title);
CREATE INDEX collections_updated ON collections(updated_at);
