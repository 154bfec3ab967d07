-- Virtual views (GRIB/FMRC Best, TwoD / Full Collection, FMRC run and offset catalogs,
-- latest.xml resolvers): not granules, but the access points a server computes from the files
-- of a feature collection.
--
-- `catalog_views` holds, per catalog that lists at least one view, the views it listed at its
-- last successful read: a JSON array (name, kind, id, url_path, catalog_ref, access
-- [{service, service_type, url}], start, end) in listing order, replaced as a whole at every
-- read and deleted with the catalog.
--
-- `collection_views` links a catalog's views to the collections whose granules are listed in
-- that catalog or in a catalog it references directly (catalogs.parent_url). Batch writes keep
-- it current as granules arrive and leave; a link goes with its views, catalog or collection.
--
-- `collections.views_version` moves whenever the collection's views change;
-- `iso_views_version` is the version its ISO record was built for (the record is stale while
-- they differ, like iso_start / iso_end for the time extent).
CREATE TABLE catalog_views (
    catalog_key INTEGER PRIMARY KEY REFERENCES catalogs(key) ON DELETE CASCADE,
    views       TEXT    NOT NULL
);

CREATE TABLE collection_views (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    catalog_key    INTEGER NOT NULL REFERENCES catalog_views(catalog_key) ON DELETE CASCADE,
    PRIMARY KEY (collection_key, catalog_key)
) WITHOUT ROWID;
CREATE INDEX collection_views_catalog ON collection_views(catalog_key);

ALTER TABLE collections ADD COLUMN views_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE collections ADD COLUMN iso_views_version INTEGER NOT NULL DEFAULT 0;
