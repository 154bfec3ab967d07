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

use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};
use threddex_store::{Batch, CollectionView, MAX_VIEWS_PER_CATALOG, Result, StoreError, View};

use crate::convert::{db_err, from_json, to_json};

/// Values per `IN (…)` list / multi-row insert.
const CHUNK: usize = 500;

/// `(?, ?, …)` with `n` placeholders.
fn in_list(n: usize) -> String {
    let mut s = String::with_capacity(n * 2 + 2);
    s.push('(');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s.push(')');
    s
}

/// What the earlier steps of a batch tell the views step.
#[derive(Default)]
pub(crate) struct ViewChanges {
    /// `(collection key, catalog key)` of every granule the batch wrote.
    pub written: BTreeSet<(i64, i64)>,
    /// Catalogs (URLs) that lost granules through a complete listing.
    pub shrunk: Vec<String>,
    /// Catalogs (URLs) that lost a child catalog with a deleted subtree.
    pub lost_child: Vec<String>,
    /// Collections whose views went with a deleted subtree.
    pub bump: BTreeSet<i64>,
}

/// Whether any catalog has views (the views step is skipped while none has and the batch
/// brings none).
async fn any_views(conn: &mut SqliteConnection) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM catalog_views)")
        .fetch_one(conn)
        .await
        .map_err(db_err)
}

/// Step 1 add-on: before the subtree of `url` is deleted, the collections linked to views in
/// it (their views go) and the parent of its root (it loses a child).
pub(crate) async fn before_tree_delete(
    conn: &mut SqliteConnection,
    tree_cte: &str,
    url: &str,
    changes: &mut ViewChanges,
) -> Result<()> {
    let parent: Option<Option<String>> =
        sqlx::query_scalar("SELECT parent_url FROM catalogs WHERE url = ?1")
            .bind(url)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if let Some(Some(p)) = parent {
        changes.lost_child.push(p);
    }
    if !any_views(conn).await? {
        return Ok(());
    }
    let keys: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "{tree_cte}SELECT DISTINCT l.collection_key FROM collection_views l \
         JOIN catalogs c ON c.key = l.catalog_key WHERE c.url IN (SELECT url FROM tree)"
    )))
    .bind(url)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    changes.bump.extend(keys);
    Ok(())
}

/// Step 4: replace the views of the batch's catalogs, maintain the links, bump versions.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    batch: &Batch,
    mut changes: ViewChanges,
) -> Result<()> {
    let brings_views = batch.catalog_views.iter().any(|c| !c.views.is_empty());
    if !brings_views && !any_views(conn).await? {
        return bump(conn, &changes.bump).await;
    }
    // (a) Replace each catalog's views (the last entry of a URL wins).
    let latest: BTreeMap<&str, &[View]> = batch
        .catalog_views
        .iter()
        .map(|c| (c.catalog_url.as_str(), c.views.as_slice()))
        .collect();
    let (cleared, listed): (Vec<_>, Vec<_>) = latest.into_iter().partition(|(_, v)| v.is_empty());
    // Most catalogs list no views and had none: one lookup finds those that had some.
    let cleared: Vec<&str> = cleared.into_iter().map(|(u, _)| u).collect();
    for chunk in cleared.chunks(CHUNK) {
        let sql = format!(
            "SELECT c.url FROM catalogs c JOIN catalog_views v ON v.catalog_key = c.key \
             WHERE c.url IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
        for u in chunk {
            q = q.bind(*u);
        }
        for url in q.fetch_all(&mut *conn).await.map_err(db_err)? {
            replace(conn, &url, &[], &mut changes.bump).await?;
        }
    }
    for (url, views) in listed {
        let views = views.get(..MAX_VIEWS_PER_CATALOG).unwrap_or(views);
        replace(conn, url, views, &mut changes.bump).await?;
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

async fn linked(conn: &mut SqliteConnection, catalog_key: i64) -> Result<Vec<i64>> {
    sqlx::query_scalar("SELECT collection_key FROM collection_views WHERE catalog_key = ?1")
        .bind(catalog_key)
        .fetch_all(conn)
        .await
        .map_err(db_err)
}

async fn replace(
    conn: &mut SqliteConnection,
    url: &str,
    views: &[View],
    bumped: &mut BTreeSet<i64>,
) -> Result<()> {
    let key: Option<i64> = sqlx::query_scalar("SELECT key FROM catalogs WHERE url = ?1")
        .bind(url)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    let Some(key) = key else {
        return Err(StoreError::Invalid(format!(
            "views of catalog {url:?}, which is neither stored nor in the batch"
        )));
    };
    let old: Option<String> =
        sqlx::query_scalar("SELECT views FROM catalog_views WHERE catalog_key = ?1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if views.is_empty() {
        if old.is_some() {
            bumped.extend(linked(conn, key).await?);
            sqlx::query("DELETE FROM catalog_views WHERE catalog_key = ?1")
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        return Ok(());
    }
    let json = to_json(views, "views")?;
    match old {
        None => {
            sqlx::query("INSERT INTO catalog_views (catalog_key, views) VALUES (?1, ?2)")
                .bind(key)
                .bind(&json)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            // New view catalog: link every collection with a granule in it or in a child.
            let keys: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO collection_views (collection_key, catalog_key) \
                 SELECT DISTINCT g.collection_key, ?1 FROM granules g \
                 WHERE g.catalog_key IN (SELECT ?1 UNION ALL \
                                         SELECT key FROM catalogs WHERE parent_url = ?2) \
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
            let same = serde_json::from_str::<Vec<View>>(&old).is_ok_and(|o| o == views);
            if !same {
                sqlx::query("UPDATE catalog_views SET views = ?2 WHERE catalog_key = ?1")
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

/// The view catalogs among the given catalogs and their parents: `catalog -> [view catalog]`.
async fn view_catalogs_of(
    conn: &mut SqliteConnection,
    catalogs: &[i64],
) -> Result<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in catalogs.chunks(CHUNK) {
        let list = in_list(chunk.len());
        let sql = format!(
            "SELECT d.key, d.key FROM catalogs d JOIN catalog_views v ON v.catalog_key = d.key \
             WHERE d.key IN {list} \
             UNION ALL \
             SELECT d.key, p.key FROM catalogs d JOIN catalogs p ON p.url = d.parent_url \
             JOIN catalog_views v ON v.catalog_key = p.key WHERE d.key IN {list}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in chunk.iter().chain(chunk) {
            q = q.bind(*k);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
            let d: i64 = row.try_get(0).map_err(db_err)?;
            let v: i64 = row.try_get(1).map_err(db_err)?;
            out.entry(d).or_default().push(v);
        }
    }
    Ok(out)
}

async fn add_links(
    conn: &mut SqliteConnection,
    written: &BTreeSet<(i64, i64)>,
    bumped: &mut BTreeSet<i64>,
) -> Result<()> {
    if written.is_empty() {
        return Ok(());
    }
    let catalogs: Vec<i64> = written
        .iter()
        .map(|(_, c)| *c)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let views = view_catalogs_of(conn, &catalogs).await?;
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
    let links: Vec<(i64, i64)> = links.into_iter().collect();
    for chunk in links.chunks(CHUNK) {
        let mut values = String::with_capacity(chunk.len() * 6);
        for i in 0..chunk.len() {
            if i > 0 {
                values.push(',');
            }
            values.push_str("(?,?)");
        }
        let sql = format!(
            "INSERT INTO collection_views (collection_key, catalog_key) VALUES {values} \
             ON CONFLICT DO NOTHING RETURNING collection_key"
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for (coll, cat) in chunk {
            q = q.bind(*coll).bind(*cat);
        }
        bumped.extend(q.fetch_all(&mut *conn).await.map_err(db_err)?);
    }
    Ok(())
}

async fn prune_links(
    conn: &mut SqliteConnection,
    shrunk: &[String],
    lost_child: &[String],
    bumped: &mut BTreeSet<i64>,
) -> Result<()> {
    if shrunk.is_empty() && lost_child.is_empty() {
        return Ok(());
    }
    // A catalog that lost granules concerns its own views and its parent's; one that lost a
    // child concerns its own.
    let mut urls: BTreeSet<String> = shrunk.iter().chain(lost_child).cloned().collect();
    for chunk in shrunk.chunks(CHUNK) {
        let sql = format!(
            "SELECT parent_url FROM catalogs WHERE parent_url IS NOT NULL AND url IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
        for u in chunk {
            q = q.bind(u);
        }
        urls.extend(q.fetch_all(&mut *conn).await.map_err(db_err)?);
    }
    let urls: Vec<String> = urls.into_iter().collect();
    let mut candidates: Vec<(i64, String)> = Vec::new();
    for chunk in urls.chunks(CHUNK) {
        let sql = format!(
            "SELECT c.key, c.url FROM catalogs c JOIN catalog_views v ON v.catalog_key = c.key \
             WHERE c.url IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for u in chunk {
            q = q.bind(u);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
            candidates.push((
                row.try_get(0).map_err(db_err)?,
                row.try_get(1).map_err(db_err)?,
            ));
        }
    }
    for (key, url) in candidates {
        let gone: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM collection_views WHERE catalog_key = ?1 AND NOT EXISTS ( \
                 SELECT 1 FROM granules g \
                 WHERE g.collection_key = collection_views.collection_key \
                   AND g.catalog_key IN (SELECT ?1 UNION ALL \
                                         SELECT key FROM catalogs WHERE parent_url = ?2)) \
             RETURNING collection_key",
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

async fn bump(conn: &mut SqliteConnection, keys: &BTreeSet<i64>) -> Result<()> {
    let keys: Vec<i64> = keys.iter().copied().collect();
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "UPDATE collections SET views_version = views_version + 1 WHERE key IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in chunk {
            q = q.bind(*k);
        }
        q.execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

pub(crate) async fn catalog_views(pool: &SqlitePool, url: &str) -> Result<Vec<View>> {
    let json: Option<String> = sqlx::query_scalar(
        "SELECT v.views FROM catalog_views v JOIN catalogs c ON c.key = v.catalog_key \
         WHERE c.url = ?1",
    )
    .bind(url)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match json {
        Some(j) => from_json(&j, "catalog views"),
        None => Ok(Vec::new()),
    }
}

pub(crate) async fn collection_views(
    pool: &SqlitePool,
    collection_id: &str,
) -> Result<Vec<CollectionView>> {
    let rows = sqlx::query(
        "SELECT c.url, v.views FROM collection_views l \
         JOIN catalog_views v ON v.catalog_key = l.catalog_key \
         JOIN catalogs c ON c.key = l.catalog_key \
         WHERE l.collection_key = (SELECT key FROM collections WHERE id = ?1) \
         ORDER BY c.url",
    )
    .bind(collection_id)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let url: String = row.try_get(0).map_err(db_err)?;
        let json: String = row.try_get(1).map_err(db_err)?;
        let views: Vec<View> = from_json(&json, "catalog views")?;
        out.extend(views.into_iter().map(|view| CollectionView {
            catalog_url: url.clone(),
            view,
        }));
    }
    Ok(out)
}
