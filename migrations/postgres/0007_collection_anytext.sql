-- Issues 6 and 7 (search speed). CSW: the "any text" of collections moves to a narrow side
-- table; /collections: a trigram index on the collection ID.
--
-- 0005 kept `anytext` as a generated column of the wide collections table and answered
-- `csw:AnyText LIKE '%word%'` with `ILIKE` through a trigram index. Every trigram candidate
-- is rechecked on its heap row, so an exact match count over a common word re-read thousands
-- of wide heap pages and lower-cased every candidate's text (ILIKE) on the way.
--
-- Now `collection_anytext` holds one row per collection: its key and the lower-cased any
-- text (ID, title, abstract, keywords). The trigram index is on this table, so rechecks touch
-- small pages, and the search is `anytext LIKE lower(pattern)`, which is exactly what ILIKE
-- computes (Postgres' ILIKE lower-cases both sides with the same collation, then matches) but
-- without lower-casing the stored text on every row.
--
-- Triggers keep the table in step with every insert and every change of the ID, title,
-- abstract or keywords; deleting a collection deletes its row (foreign key cascade).

CREATE TABLE collection_anytext (
    key     bigint PRIMARY KEY REFERENCES collections(key) ON DELETE CASCADE,
    anytext text NOT NULL
);

CREATE FUNCTION collection_anytext_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO collection_anytext (key, anytext)
    VALUES (NEW.key, lower((NEW.id || ' ' || NEW.title || ' ' || COALESCE(NEW.summary, '')
                            || ' ' || (NEW.keywords::text)) COLLATE "default"))
    ON CONFLICT (key) DO UPDATE SET anytext = EXCLUDED.anytext;
    RETURN NULL;
END
$$;

CREATE TRIGGER collections_anytext_insert AFTER INSERT ON collections
    FOR EACH ROW EXECUTE FUNCTION collection_anytext_sync();
CREATE TRIGGER collections_anytext_update AFTER UPDATE OF id, title, summary, keywords
    ON collections FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.title IS DISTINCT FROM NEW.title
          OR OLD.summary IS DISTINCT FROM NEW.summary OR OLD.keywords IS DISTINCT FROM NEW.keywords)
    EXECUTE FUNCTION collection_anytext_sync();

INSERT INTO collection_anytext (key, anytext)
SELECT key, lower((id || ' ' || title || ' ' || COALESCE(summary, '') || ' ' || (keywords::text))
                  COLLATE "default")
FROM collections ORDER BY key;

CREATE INDEX collection_anytext_trgm ON collection_anytext USING gin (anytext gin_trgm_ops);

-- The wide table no longer carries the text twice (drops its trigram index too).
ALTER TABLE collections DROP COLUMN anytext;

-- Issue 6 (`/collections?q=`): the free text also matches a case-insensitive substring of the
-- ID (`c.id ILIKE '%text%'`, OR-ed with the full-text match). Without an index on the ID that
-- OR forced a scan of every collection for each search; with this trigram index both halves
-- are bitmap index scans (BitmapOr).
CREATE INDEX collections_id_trgm ON collections USING gin (id gin_trgm_ops);

ANALYZE collection_anytext;
