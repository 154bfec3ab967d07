//! Virtual views of catalogs and their links to collections (migration 0010).
//!
//! `catalog_views` holds one JSON array per catalog that lists views; `collection_views` links
//! such a catalog to every collection with a granule in it or in one of its children
//! (`catalogs.parent_url`). The links are kept current by batch writes (step 4 of
//! [`threddex_store::Batch`]):
//! - a catalog whose views appear gets its links computed from the stored granules;
//! - granules written under a view catalog, or under a child of one, add links;
//! - where granules vanished (a complete listing without them, a deleted subtree), the links
//!   of the view catalogs concerned are checked and dropped when no granule is left.
//!
//! Collections whose links or linked views change get `views_version` bumped, which makes
//! their ISO record stale.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use threddex_store::{Batch, CollectionView, MAX_VIEWS_PER_CATALOG, StoreError, View};

use crate::convert::{clean, db_err, ser_jsonb};

/// What the earlier steps of a batch tell the views step.
#[derive(Default)]
pub(crate) struct ViewChanges {
    /// `(collection key, catalog key)` of every granule the batch wrote.
    pub written: BTreeSet<(i64, i64)>,
    /// Catalogs (keys) that lost granules through a complete listing.
    pub shrunk: Vec<i64>,
    /// Catalogs (URLs) that lost a child catalog with a deleted subtree.
    pub lost_child: Vec<String>,
    /// Collections whose views went with a deleted subtree.
    pub bump: BTreeSet<i64>,
}

/// Whether any catalog has views (the views step is skipped while none has and the batch
/// brings none).
async fn any_views(conn: &mut PgConnection) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM catalog_views)")
        .fetch_one(conn)
        .await
        .map_err(db_err)
}

/// Step 1 add-on: before the subtrees of `roots` (whose catalogs are `keys`) are deleted, the
/// collections linked to views in them (their views go) and the parents of the roots (they
/// lose a child).
pub(crate) async fn before_tree_delete(
    conn: &mut PgConnection,
    roots: &[String],
    keys: &[i64],
    changes: &mut ViewChanges,
) -> Result<(), StoreError> {
    let roots: Vec<String> = roots.iter().map(|u| clean(u).into_owned()).collect();
    let parents: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT parent_url FROM catalogs \
         WHERE url = ANY($1::text[]) AND parent_url IS NOT NULL",
    )
    .bind(&roots)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    changes.lost_child.extend(parents);
    if !any_views(conn).await? {
        return Ok(());
    }
    let linked: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT collection_key FROM collection_views WHERE catalog_key = ANY($1::int8[])",
    )
    .bind(keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    changes.bump.extend(linked);
    Ok(())
}

/// Step 4: replace the views of the batch's catalogs, maintain the links, bump versions.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    batch: &Batch,
    mut changes: ViewChanges,
) -> Result<(), StoreError> {
    let brings_views = batch.catalog_views.iter().any(|c| !c.views.is_empty());
    if !brings_views && !any_views(conn).await? {
        return bump(conn, &changes.bump).await;
    }
    // (a) Replace each catalog's views (the last entry of a URL wins; URL order is a
    // consistent lock order across writers).
    let latest: BTreeMap<String, &[View]> = batch
        .catalog_views
        .iter()
        .map(|c| (clean(&c.catalog_url).into_owned(), c.views.as_slice()))
        .collect();
    let (cleared, listed): (Vec<_>, Vec<_>) = latest.into_iter().partition(|(_, v)| v.is_empty());
    // Most catalogs list no views and had none: one lookup finds those that had some.
    let cleared: Vec<String> = cleared.into_iter().map(|(u, _)| u).collect();
    if !cleared.is_empty() {
        let had: Vec<String> = sqlx::query_scalar(
            "SELECT c.url FROM catalogs c JOIN catalog_views v ON v.catalog_key = c.key \
             WHERE c.url = ANY($1::text[]) ORDER BY c.url",
        )
        .bind(&cleared)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        for url in had {
            replace(conn, &url, &[], &mut changes.bump).await?;
        }
    }
    for (url, views) in listed {
        let views = views.get(..MAX_VIEWS_PER_CATALOG).unwrap_or(views);
        replace(conn, &url, views, &mut changes.bump).await?;
    }
    // (b) Granules written under a view catalog or a child of one link their collection.
    add_links(conn, &changes.written, &mut changes.bump).await?;
    // (c) Where granules vanished, links without a granule left go.
    prune_links(
        conn,
        &changes.shrunk,
        &changes.lost_child,
        &mut changes.bump,
    )
    .await?;
    bump(conn, &changes.bump).await
}

async fn linked(conn: &mut PgConnection, catalog_key: i64) -> Result<Vec<i64>, StoreError> {
    sqlx::query_scalar("SELECT collection_key FROM collection_views WHERE catalog_key = $1")
        .bind(catalog_key)
        .fetch_all(conn)
        .await
        .map_err(db_err)
}

async fn replace(
    conn: &mut PgConnection,
    url: &str,
    views: &[View],
    bumped: &mut BTreeSet<i64>,
) -> Result<(), StoreError> {
    let key: Option<i64> = sqlx::query_scalar("SELECT key FROM catalogs WHERE url = $1")
        .bind(url)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    let Some(key) = key else {
        return Err(StoreError::Invalid(format!(
            "views of catalog {url:?}, which is neither stored nor in the batch"
        )));
    };
    let old: Option<Json<serde_json::Value>> =
        sqlx::query_scalar("SELECT views FROM catalog_views WHERE catalog_key = $1 FOR UPDATE")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if views.is_empty() {
        if old.is_some() {
            bumped.extend(linked(conn, key).await?);
            sqlx::query("DELETE FROM catalog_views WHERE catalog_key = $1")
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        return Ok(());
    }
    // As stored (NUL characters replaced), for the comparison with the stored views.
    let json = ser_jsonb(&views)?;
    let stored_form: Option<Vec<View>> = serde_json::from_value(json.0.clone()).ok();
    match old {
        None => {
            sqlx::query(
                "INSERT INTO catalog_views (catalog_key, views) VALUES ($1, $2) \
                 ON CONFLICT (catalog_key) DO UPDATE SET views = EXCLUDED.views",
            )
            .bind(key)
            .bind(&json)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            // New view catalog: link every collection with a granule in it or in a child.
            let keys: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO collection_views (collection_key, catalog_key) \
                 SELECT DISTINCT g.collection_key, $1::int8 FROM granules g \
                 WHERE g.catalog_key = ANY(ARRAY(SELECT $1::int8 UNION ALL \
                       SELECT key FROM catalogs WHERE parent_url = $2)) \
                 ON CONFLICT DO NOTHING RETURNING collection_key",
            )
            .bind(key)
            .bind(url)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            bumped.extend(keys);
        }
        Some(old) => {
            let same = serde_json::from_value::<Vec<View>>(old.0)
                .ok()
                .is_some_and(|o| Some(&o) == stored_form.as_ref());
            if !same {
                sqlx::query("UPDATE catalog_views SET views = $2 WHERE catalog_key = $1")
                    .bind(key)
                    .bind(&json)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                bumped.extend(linked(conn, key).await?);
            }
        }
    }
    Ok(())
}

async fn add_links(
    conn: &mut PgConnection,
    written: &BTreeSet<(i64, i64)>,
    bumped: &mut BTreeSet<i64>,
) -> Result<(), StoreError> {
    if written.is_empty() {
        return Ok(());
    }
    let catalogs: Vec<i64> = written
        .iter()
        .map(|(_, c)| *c)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // The view catalogs among the written catalogs and their parents.
    let rows = sqlx::query(
        "SELECT d.key, d.key FROM catalogs d JOIN catalog_views v ON v.catalog_key = d.key \
         WHERE d.key = ANY($1::int8[]) \
         UNION ALL \
         SELECT d.key, p.key FROM catalogs d JOIN catalogs p ON p.url = d.parent_url \
         JOIN catalog_views v ON v.catalog_key = p.key WHERE d.key = ANY($1::int8[])",
    )
    .bind(&catalogs)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut views: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in rows {
        let d: i64 = row.try_get(0).map_err(db_err)?;
        let v: i64 = row.try_get(1).map_err(db_err)?;
        views.entry(d).or_default().push(v);
    }
    if views.is_empty() {
        return Ok(());
    }
    let links: BTreeSet<(i64, i64)> = written
        .iter()
        .flat_map(|(coll, cat)| {
            views
                .get(cat)
                .into_iter()
                .flatten()
                .map(move |v| (*coll, *v))
        })
        .collect();
    let (colls, cats): (Vec<i64>, Vec<i64>) = links.into_iter().unzip();
    let added: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO collection_views (collection_key, catalog_key) \
         SELECT * FROM UNNEST($1::int8[], $2::int8[]) \
         ON CONFLICT DO NOTHING RETURNING collection_key",
    )
    .bind(&colls)
    .bind(&cats)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    bumped.extend(added);
    Ok(())
}

async fn prune_links(
    conn: &mut PgConnection,
    shrunk: &[i64],
    lost_child: &[String],
    bumped: &mut BTreeSet<i64>,
) -> Result<(), StoreError> {
    if shrunk.is_empty() && lost_child.is_empty() {
        return Ok(());
    }
    // A catalog that lost granules concerns its own views and its parent's; one that lost a
    // child concerns its own.
    let lost: Vec<String> = lost_child.iter().map(|u| clean(u).into_owned()).collect();
    let rows = sqlx::query(
        "SELECT c.key, c.url FROM catalogs c JOIN catalog_views v ON v.catalog_key = c.key \
         WHERE c.key = ANY($1::int8[]) OR c.url = ANY($2::text[]) \
            OR c.url IN (SELECT parent_url FROM catalogs WHERE key = ANY($1::int8[])) \
         ORDER BY c.key",
    )
    .bind(shrunk)
    .bind(&lost)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for row in rows {
        let key: i64 = row.try_get(0).map_err(db_err)?;
        let url: String = row.try_get(1).map_err(db_err)?;
        let gone: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM collection_views l WHERE l.catalog_key = $1 AND NOT EXISTS ( \
                 SELECT 1 FROM granules g WHERE g.collection_key = l.collection_key \
                   AND g.catalog_key = ANY(ARRAY(SELECT $1::int8 UNION ALL \
                       SELECT key FROM catalogs WHERE parent_url = $2))) \
             RETURNING l.collection_key",
        )
        .bind(key)
        .bind(&url)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        bumped.extend(gone);
    }
    Ok(())
}

async fn bump(conn: &mut PgConnection, keys: &BTreeSet<i64>) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    // Sorted keys: a consistent lock order across writers.
    let keys: Vec<i64> = keys.iter().copied().collect();
    sqlx::query(
        "UPDATE collections SET views_version = views_version + 1 WHERE key IN \
         (SELECT key FROM collections WHERE key = ANY($1::int8[]) ORDER BY key FOR UPDATE)",
    )
    .bind(&keys)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

fn parse_views(v: serde_json::Value) -> Result<Vec<View>, StoreError> {
    serde_json::from_value(v).map_err(|_| StoreError::Corrupt("views".into()))
}

pub(crate) async fn catalog_views(pool: &PgPool, url: &str) -> Result<Vec<View>, StoreError> {
    let json: Option<Json<serde_json::Value>> = sqlx::query_scalar(
        "SELECT v.views FROM catalog_views v JOIN catalogs c ON c.key = v.catalog_key \
         WHERE c.url = $1",
    )
    .bind(clean(url).as_ref())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match json {
        Some(j) => parse_views(j.0),
        None => Ok(Vec::new()),
    }
}

pub(crate) async fn collection_views(
    pool: &PgPool,
    collection_id: &str,
) -> Result<Vec<CollectionView>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.url, v.views FROM collection_views l \
         JOIN catalog_views v ON v.catalog_key = l.catalog_key \
         JOIN catalogs c ON c.key = l.catalog_key \
         WHERE l.collection_key = (SELECT key FROM collections WHERE id = $1) \
         ORDER BY c.url",
    )
    .bind(clean(collection_id).as_ref())
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let url: String = row.try_get(0).map_err(db_err)?;
        let json: Json<serde_json::Value> = row.try_get(1).map_err(db_err)?;
        out.extend(parse_views(json.0)?.into_iter().map(|view| CollectionView {
            catalog_url: url.clone(),
            view,
        }));
    }
    Ok(out)
}
