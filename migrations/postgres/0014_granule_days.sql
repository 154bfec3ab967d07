-- Granules per collection and UTC day of their start, kept by triggers on `granules`, so a
-- timeline by day or month reads a few rows per day instead of every granule
-- (`GranuleIndex::granule_timeline`). Untimed granules are not counted. Inserts and deletes
-- are counted once per statement from its transition table (a batch is one statement); the
-- rare update that moves a granule's start, per row. Rows whose count drops to 0 are deleted.
CREATE TABLE granule_days (
    collection_key bigint NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    day            date   NOT NULL,
    n              bigint NOT NULL,
    PRIMARY KEY (collection_key, day)
);

INSERT INTO granule_days (collection_key, day, n)
    SELECT collection_key, (start_time AT TIME ZONE 'UTC')::date, count(*)
    FROM granules WHERE start_time IS NOT NULL
    GROUP BY 1, 2;

-- Adds `n` granules to (collection, day) rows; rows are locked in key order.
CREATE FUNCTION granule_days_add(keys bigint[], days date[], ns bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO granule_days (collection_key, day, n)
    SELECT k, d, n FROM UNNEST(keys, days, ns) AS u(k, d, n) ORDER BY k, d
    ON CONFLICT (collection_key, day) DO UPDATE SET n = granule_days.n + EXCLUDED.n;
$$;

-- Removes `n` granules from (collection, day) rows (only updates: the collection of granules
-- deleted with it may be gone).
CREATE FUNCTION granule_days_remove(keys bigint[], days date[], ns bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE granule_days g SET n = g.n - u.n
    FROM (SELECT k, d, n FROM UNNEST(keys, days, ns) AS x(k, d, n) ORDER BY k, d) AS u
    WHERE g.collection_key = u.k AND g.day = u.d;
    DELETE FROM granule_days g USING UNNEST(keys, days) AS u(k, d)
    WHERE g.collection_key = u.k AND g.day = u.d AND g.n <= 0;
$$;

CREATE FUNCTION granule_days_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM granule_days_add(array_agg(k), array_agg(d), array_agg(c))
    FROM (SELECT collection_key::int8 AS k, (start_time AT TIME ZONE 'UTC')::date AS d,
                 count(*) AS c
          FROM new_granules WHERE start_time IS NOT NULL GROUP BY 1, 2) AS t
    HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE FUNCTION granule_days_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM granule_days_remove(array_agg(k), array_agg(d), array_agg(c))
    FROM (SELECT collection_key::int8 AS k, (start_time AT TIME ZONE 'UTC')::date AS d,
                 count(*) AS c
          FROM old_granules WHERE start_time IS NOT NULL GROUP BY 1, 2) AS t
    HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE FUNCTION granule_days_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.start_time IS NOT NULL THEN
        PERFORM granule_days_remove(ARRAY[OLD.collection_key::int8],
                                    ARRAY[(OLD.start_time AT TIME ZONE 'UTC')::date],
                                    ARRAY[1::int8]);
    END IF;
    IF NEW.start_time IS NOT NULL THEN
        PERFORM granule_days_add(ARRAY[NEW.collection_key::int8],
                                 ARRAY[(NEW.start_time AT TIME ZONE 'UTC')::date],
                                 ARRAY[1::int8]);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER granule_days_insert AFTER INSERT ON granules
    REFERENCING NEW TABLE AS new_granules
    FOR EACH STATEMENT EXECUTE FUNCTION granule_days_inserted();
CREATE TRIGGER granule_days_delete AFTER DELETE ON granules
    REFERENCING OLD TABLE AS old_granules
    FOR EACH STATEMENT EXECUTE FUNCTION granule_days_deleted();
CREATE TRIGGER granule_days_update AFTER UPDATE OF start_time, collection_key ON granules
    FOR EACH ROW
    WHEN (OLD.start_time IS DISTINCT FROM NEW.start_time
          OR OLD.collection_key IS DISTINCT FROM NEW.collection_key)
    EXECUTE FUNCTION granule_days_moved();
