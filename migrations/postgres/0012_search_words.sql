-- The full-text document of a collection splits words at ASCII punctuation, as the free-text
-- syntax of collection searches (and the SQLite index) does: `GOES-16` is the words `goes` and
-- `16`, `sea_ice` is `sea` and `ice`, `v1.2` is `v1` and `2`. Postgres' own parser keeps
-- some such forms whole (signed and decimal numbers, versions, host names, file paths), which
-- a search by words could not find. Keywords are read from their JSON text, whose quotes and
-- commas become spaces, so the words of consecutive keywords follow one another as on SQLite.
ALTER TABLE collections DROP COLUMN search;
ALTER TABLE collections ADD COLUMN search tsvector GENERATED ALWAYS AS (
       setweight(to_tsvector('simple'::regconfig,
           translate(title, '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                ')), 'A')
    || setweight(to_tsvector('simple'::regconfig,
           translate(COALESCE(summary, ''), '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                ')), 'B')
    || setweight(to_tsvector('simple'::regconfig,
           translate(keywords::text, '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                ')), 'B')
) STORED;
CREATE INDEX collections_search ON collections USING gin (search);
