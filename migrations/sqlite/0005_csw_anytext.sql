-- Issue 7 (CSW): a trigram index over the "any text" of collections (ID, title, abstract,
-- keywords), so `csw:AnyText LIKE '%word%'` is answered from an index instead of a scan.
-- FTS5's trigram tokenizer answers LIKE (case-insensitive) and GLOB patterns directly.
-- The table keeps its own copy of the text (rowid = collections.key), kept in step by
-- triggers.
CREATE VIRTUAL TABLE collections_anytext USING fts5(anytext, tokenize = 'trigram');

INSERT INTO collections_anytext (rowid, anytext)
SELECT key, id || ' ' || title || ' ' || coalesce(summary, '') || ' ' || keywords FROM collections;

CREATE TRIGGER collections_anytext_insert AFTER INSERT ON collections BEGIN
    INSERT INTO collections_anytext (rowid, anytext)
    VALUES (new.key, new.id || ' ' || new.title || ' ' || coalesce(new.summary, '') || ' ' || new.keywords);
END;
CREATE TRIGGER collections_anytext_delete AFTER DELETE ON collections BEGIN
    DELETE FROM collections_anytext WHERE rowid = old.key;
END;
CREATE TRIGGER collections_anytext_update AFTER UPDATE OF id, title, summary, keywords ON collections BEGIN
    DELETE FROM collections_anytext WHERE rowid = old.key;
    INSERT INTO collections_anytext (rowid, anytext)
    VALUES (new.key, new.id || ' ' || new.title || ' ' || coalesce(new.summary, '') || ' ' || new.keywords);
END;

-- Sorting CSW results by title or modification date.
CREATE INDEX collections_title ON collections(title);
CREATE INDEX collections_updated ON collections(updated_at);
