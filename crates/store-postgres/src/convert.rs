//! Conversions between the row models and Postgres values: error mapping, NUL sanitising
//! and row decoding.

use chrono::NaiveDate;
use sqlx::Row;
use sqlx::postgres::PgRow;
use threddex_store::{
    AccessService, BBox, CatalogState, CatalogStatus, ClassRule, Collection, CollectionUpsert,
    NewSource, NodeClass, Source, StoreError, Timestamp,
};

/// Map a driver error to a [`StoreError`].
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        // 23505 unique_violation
        if db.code().as_deref() == Some("23505") {
            return StoreError::Conflict(db.message().to_string());
        }
        // 23503 foreign_key_violation (e.g. an unknown source), 23514 check_violation,
        // 22xxx data exceptions (out-of-range timestamps, bad encodings, ...).
        if db
            .code()
            .is_some_and(|c| c == "23503" || c == "23514" || c.starts_with("22"))
        {
            return StoreError::Invalid(db.message().to_string());
        }
    }
    if unreachable(&err) || server_going_away(&err) {
        return StoreError::connect("the database is unreachable", err);
    }
    StoreError::Database(Box::new(err))
}

/// Whether Postgres aborted the transaction because of another one: 40P01 (deadlock
/// detected) or 40001 (serialization failure). Nothing of it was written; it can run again.
pub(crate) fn concurrency_abort(err: &StoreError) -> bool {
    let StoreError::Database(source) = err else {
        return false;
    };
    match source.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
        }
        _ => false,
    }
}

/// Whether a driver error means no connection to the database could be had or kept.
fn unreachable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Configuration(_)
    )
}

/// Whether the server ended the session or cannot take one: class 08 (connection exception),
/// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or
/// shutting down).
fn server_going_away(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    db.code()
        .is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
}

/// Map a migration error to a [`StoreError`].
pub(crate) fn migrate_err(err: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::connect("migration failed", err)
}

/// Postgres rejects NUL characters in `text` and `jsonb`; hostile catalogs may contain them
/// (e.g. as `&#0;`). They are replaced by U+FFFD rather than failing the whole batch.
pub(crate) fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// [`clean`] for an optional string.
pub(crate) fn clean_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(|v| clean(v).into_owned())
}

/// [`clean`] applied to every string (and object key) of a JSON value.
pub(crate) fn clean_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(clean(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(clean_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (clean(k).into_owned(), clean_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a JSON value holds a NUL character anywhere (cheap pre-check for [`clean_json`]).
fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

/// A JSON value ready to be stored as `jsonb`.
pub(crate) fn to_jsonb(value: &serde_json::Value) -> sqlx::types::Json<serde_json::Value> {
    if json_has_nul(value) {
        sqlx::types::Json(clean_json(value))
    } else {
        sqlx::types::Json(value.clone())
    }
}

/// Serialise a value to `jsonb`.
pub(crate) fn ser_jsonb<T: serde::Serialize>(
    value: &T,
) -> Result<sqlx::types::Json<serde_json::Value>, StoreError> {
    let v = serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(to_jsonb(&v))
}

/// Microseconds in `end - start` (0 when negative or unknown), saturating.
pub(crate) fn span_us(start: Option<Timestamp>, end: Option<Timestamp>) -> i64 {
    match (start, end) {
        (Some(s), Some(e)) if e > s => (e - s).num_microseconds().unwrap_or(i64::MAX),
        _ => 0,
    }
}

/// The earliest instant Postgres `timestamptz` holds comfortably (year 4000 BC).
fn pg_floor() -> Option<Timestamp> {
    NaiveDate::from_ymd_opt(-3999, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// How many microseconds can be subtracted from `t` and stay comfortably inside what Postgres
/// `timestamptz` holds (-1 when `t` itself is earlier than that).
pub(crate) fn room_us(t: Timestamp) -> i64 {
    match pg_floor() {
        Some(floor) if t >= floor => (t - floor).num_microseconds().unwrap_or(i64::MAX),
        _ => -1,
    }
}

fn parse_class(s: &str) -> NodeClass {
    NodeClass::parse(s).unwrap_or_default()
}

fn parse_status(s: &str) -> CatalogStatus {
    CatalogStatus::parse(s).unwrap_or_default()
}

/// Columns read by [`source_from_row`].
pub(crate) const SOURCE_COLUMNS: &str = "id, name, url, authority, every_secs, select_json, \
     skip_json, rules_json, created_at, last_sync_at, last_success_at";

/// Decode a `sources` row.
pub(crate) fn source_from_row(row: &PgRow) -> Result<Source, StoreError> {
    let select: sqlx::types::Json<Vec<String>> = row.try_get("select_json").map_err(db_err)?;
    let skip: sqlx::types::Json<Vec<String>> = row.try_get("skip_json").map_err(db_err)?;
    let rules: sqlx::types::Json<Vec<ClassRule>> = row.try_get("rules_json").map_err(db_err)?;
    Ok(Source {
        id: row.try_get("id").map_err(db_err)?,
        settings: NewSource {
            name: row.try_get("name").map_err(db_err)?,
            url: row.try_get("url").map_err(db_err)?,
            authority: row.try_get("authority").map_err(db_err)?,
            every_secs: row.try_get("every_secs").map_err(db_err)?,
            select: select.0,
            skip: skip.0,
            rules: rules.0,
        },
        created_at: row.try_get("created_at").map_err(db_err)?,
        last_sync_at: row.try_get("last_sync_at").map_err(db_err)?,
        last_success_at: row.try_get("last_success_at").map_err(db_err)?,
    })
}

/// Columns read by [`catalog_from_row`].
pub(crate) const CATALOG_COLUMNS: &str = "url, source_id, parent_url, depth, class, status, \
     last_fetch, etag, last_modified, content_hash, last_changed, granule_count, error, \
     next_visit, expires, next_change";

/// Decode a `catalogs` row.
pub(crate) fn catalog_from_row(row: &PgRow) -> Result<CatalogState, StoreError> {
    let class: String = row.try_get("class").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    Ok(CatalogState {
        url: row.try_get("url").map_err(db_err)?,
        source_id: row.try_get("source_id").map_err(db_err)?,
        parent_url: row.try_get("parent_url").map_err(db_err)?,
        depth: row.try_get("depth").map_err(db_err)?,
        class: parse_class(&class),
        status: parse_status(&status),
        last_fetch: row.try_get("last_fetch").map_err(db_err)?,
        etag: row.try_get("etag").map_err(db_err)?,
        last_modified: row.try_get("last_modified").map_err(db_err)?,
        content_hash: row.try_get("content_hash").map_err(db_err)?,
        last_changed: row.try_get("last_changed").map_err(db_err)?,
        granule_count: row.try_get("granule_count").map_err(db_err)?,
        error: row.try_get("error").map_err(db_err)?,
        next_visit: row.try_get("next_visit").map_err(db_err)?,
        expires: row.try_get("expires").map_err(db_err)?,
        next_change: row.try_get("next_change").map_err(db_err)?,
    })
}

/// The columns [`collection_from_row`] reads (table alias `c`), with `$iso` for the ISO record.
macro_rules! collection_columns {
    ($iso:literal) => {
        concat!(
            "c.id, c.source_id, c.title, c.template, c.catalog_url, c.services, c.metadata, ",
            "c.summary, c.keywords, c.west, c.south, c.east, c.north, c.granule_count, ",
            "c.start_time, c.end_time, ",
            $iso,
            ", c.updated_at, c.views_version"
        )
    };
}

/// Columns read by [`collection_from_row`] (table alias `c`).
pub(crate) const COLLECTION_COLUMNS: &str = collection_columns!("c.iso_record");

/// [`COLLECTION_COLUMNS`] with the ISO record left unread (read back as `None`).
pub(crate) const COLLECTION_COLUMNS_WITHOUT_ISO: &str =
    collection_columns!("NULL::text AS iso_record");

/// A collection's bbox from its four corner columns (west, south, east, north): None unless
/// all four are set.
pub(crate) fn row_bbox<I: sqlx::ColumnIndex<PgRow>>(
    row: &PgRow,
    [west, south, east, north]: [I; 4],
) -> Result<Option<BBox>, StoreError> {
    let corners: [Option<f64>; 4] = [
        row.try_get(west).map_err(db_err)?,
        row.try_get(south).map_err(db_err)?,
        row.try_get(east).map_err(db_err)?,
        row.try_get(north).map_err(db_err)?,
    ];
    Ok(match corners {
        [Some(west), Some(south), Some(east), Some(north)] => Some(BBox {
            west,
            south,
            east,
            north,
        }),
        _ => None,
    })
}

/// Decode a `collections` row.
pub(crate) fn collection_from_row(row: &PgRow) -> Result<Collection, StoreError> {
    let services: sqlx::types::Json<Vec<AccessService>> =
        row.try_get("services").map_err(db_err)?;
    let metadata: sqlx::types::Json<serde_json::Value> = row.try_get("metadata").map_err(db_err)?;
    let keywords: sqlx::types::Json<Vec<String>> = row.try_get("keywords").map_err(db_err)?;
    let bbox = row_bbox(row, ["west", "south", "east", "north"])?;
    Ok(Collection {
        info: CollectionUpsert {
            id: row.try_get("id").map_err(db_err)?,
            source_id: row.try_get("source_id").map_err(db_err)?,
            title: row.try_get("title").map_err(db_err)?,
            template: row.try_get("template").map_err(db_err)?,
            catalog_url: row.try_get("catalog_url").map_err(db_err)?,
            services: services.0,
            metadata: metadata.0,
            summary: row.try_get("summary").map_err(db_err)?,
            keywords: keywords.0,
            bbox,
        },
        granule_count: row.try_get("granule_count").map_err(db_err)?,
        start: row.try_get("start_time").map_err(db_err)?,
        end: row.try_get("end_time").map_err(db_err)?,
        iso_record: row.try_get("iso_record").map_err(db_err)?,
        updated_at: row.try_get("updated_at").map_err(db_err)?,
        views_version: row.try_get("views_version").map_err(db_err)?,
    })
}

/// A bbox worth storing or querying: every coordinate finite (None otherwise).
pub(crate) fn usable_bbox(b: Option<BBox>) -> Option<BBox> {
    b.filter(|b| {
        [b.west, b.south, b.east, b.north]
            .iter()
            .all(|v| v.is_finite())
    })
}

/// Escape `%`, `_` and `\` for a `LIKE`/`ILIKE` pattern with the default escape character.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn driver_errors_keep_their_source() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for (e, connect) in [
            (db_err(sqlx::Error::Protocol("bad frame".into())), false),
            (db_err(sqlx::Error::Io(io)), true),
            (
                migrate_err(sqlx::migrate::MigrateError::VersionMissing(3)),
                true,
            ),
        ] {
            assert_eq!(e.is_connect(), connect, "{e:?}");
            assert!(std::error::Error::source(&e).is_some(), "{e:?}");
        }
    }

    #[test]
    fn nul_is_replaced() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        let v = serde_json::json!({"k\0": ["x\0", 1, {"y": "z\0"}]});
        let c = to_jsonb(&v).0;
        assert_eq!(
            c,
            serde_json::json!({"k\u{FFFD}": ["x\u{FFFD}", 1, {"y": "z\u{FFFD}"}]})
        );
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn span_bounds() {
        let t = Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap();
        let u = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(span_us(Some(u), Some(t)), 86_400_000_000);
        assert_eq!(span_us(Some(t), Some(u)), 0);
        assert_eq!(span_us(None, Some(u)), 0);
        let floor = pg_floor().unwrap();
        assert_eq!(room_us(floor + TimeDelta::seconds(1)), 1_000_000);
        assert_eq!(room_us(floor - TimeDelta::seconds(1)), -1);
        assert!(room_us(t) > 86_400_000_000);
    }

    use chrono::{TimeDelta, Utc};
}
