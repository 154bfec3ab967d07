-- Granules per collection and UTC day of their start, kept by triggers on `granules`, so a
-- timeline by day or month reads a few rows per day instead of every granule
-- (`GranuleIndex::granule_timeline`). `day` = floor(start_time / 86400); untimed granules
-- (start_time = -2^53) are not counted. Rows whose count drops to 0 are deleted.
CREATE TABLE granule_days (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    day            INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (collection_key, day)
) WITHOUT ROWID;

INSERT INTO granule_days (collection_key, day, n)
    SELECT collection_key,
           CAST(start_time / 86400.0 AS INTEGER)
               - (start_time / 86400.0 < CAST(start_time / 86400.0 AS INTEGER)) AS d,
           count(*)
    FROM granules WHERE start_time <> -9007199254740992
    GROUP BY collection_key, d;

CREATE TRIGGER granule_days_insert AFTER INSERT ON granules
WHEN NEW.start_time <> -9007199254740992
BEGIN
    INSERT INTO granule_days (collection_key, day, n)
    VALUES (NEW.collection_key,
            CAST(NEW.start_time / 86400.0 AS INTEGER)
                - (NEW.start_time / 86400.0 < CAST(NEW.start_time / 86400.0 AS INTEGER)),
            1)
    ON CONFLICT (collection_key, day) DO UPDATE SET n = n + 1;
END;

-- Only updates (never inserts): the collection of a granule deleted with it may be gone.
CREATE TRIGGER granule_days_delete AFTER DELETE ON granules
WHEN OLD.start_time <> -9007199254740992
BEGIN
    UPDATE granule_days SET n = n - 1
    WHERE collection_key = OLD.collection_key
      AND day = CAST(OLD.start_time / 86400.0 AS INTEGER)
                - (OLD.start_time / 86400.0 < CAST(OLD.start_time / 86400.0 AS INTEGER));
    DELETE FROM granule_days
    WHERE collection_key = OLD.collection_key
      AND day = CAST(OLD.start_time / 86400.0 AS INTEGER)
                - (OLD.start_time / 86400.0 < CAST(OLD.start_time / 86400.0 AS INTEGER))
      AND n <= 0;
END;

CREATE TRIGGER granule_days_update AFTER UPDATE OF start_time, collection_key ON granules
WHEN OLD.start_time IS NOT NEW.start_time OR OLD.collection_key IS NOT NEW.collection_key
BEGIN
    UPDATE granule_days SET n = n - 1
    WHERE OLD.start_time <> -9007199254740992
      AND collection_key = OLD.collection_key
      AND day = CAST(OLD.start_time / 86400.0 AS INTEGER)
                - (OLD.start_time / 86400.0 < CAST(OLD.start_time / 86400.0 AS INTEGER));
    DELETE FROM granule_days
    WHERE collection_key = OLD.collection_key
      AND day = CAST(OLD.start_time / 86400.0 AS INTEGER)
                - (OLD.start_time / 86400.0 < CAST(OLD.start_time / 86400.0 AS INTEGER))
      AND n <= 0;
    INSERT INTO granule_days (collection_key, day, n)
    SELECT NEW.collection_key,
           CAST(NEW.start_time / 86400.0 AS INTEGER)
               - (NEW.start_time / 86400.0 < CAST(NEW.start_time / 86400.0 AS INTEGER)),
           1
    WHERE NEW.start_time <> -9007199254740992
    ON CONFLICT (collection_key, day) DO UPDATE SET n = n + 1;
END;
