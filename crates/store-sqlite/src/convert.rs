//! Conversions at the database boundary: times, JSON columns, compact granule fields, errors.

use chrono::DateTime;
use threddex_store::{StoreError, Timestamp};

/// A time as stored: unix seconds, whole seconds as an integral value (which SQLite's INTEGER
/// affinity stores as a compact integer), otherwise with a microsecond fraction.
pub(crate) fn ts_to_db(t: Timestamp) -> f64 {
    let secs = t.timestamp() as f64;
    let micros = t.timestamp_subsec_micros();
    if micros == 0 {
        secs
    } else {
        secs + f64::from(micros) / 1e6
    }
}

/// [`ts_to_db`] for optional times.
pub(crate) fn opt_ts_to_db(t: Option<Timestamp>) -> Option<f64> {
    t.map(ts_to_db)
}

/// The inverse of [`ts_to_db`] (microsecond precision).
pub(crate) fn ts_from_db(x: f64) -> Result<Timestamp, StoreError> {
    if !x.is_finite() {
        return Err(corrupt("time"));
    }
    let whole = x.floor();
    let mut micros = ((x - whole) * 1e6).round() as i64;
    let mut secs = whole as i64;
    if micros >= 1_000_000 {
        secs = secs.saturating_add(1);
        micros -= 1_000_000;
    }
    let nanos = u32::try_from(micros.clamp(0, 999_999) * 1000).map_err(|_| corrupt("time"))?;
    DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt("time"))
}

/// [`ts_from_db`] for optional times.
pub(crate) fn opt_ts_from_db(x: Option<f64>) -> Result<Option<Timestamp>, StoreError> {
    x.map(ts_from_db).transpose()
}

/// The error for a stored value this code cannot read back.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("unreadable stored {what}"))
}

/// Serialise a JSON column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    v: &T,
    what: &str,
) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("{what}: {e}")))
}

/// Parse a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
}

/// The last `/`-separated segment of a granule ID.
pub(crate) fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Flag bit: `url_path` holds a prefix; the urlPath is prefix + name.
pub(crate) const URL_PATH_ENDS_WITH_NAME: i64 = 1;

/// Flag bit: the urlPath equals the granule ID (the usual case: TDS dataset IDs are often the
/// urlPath); `url_path` is NULL.
pub(crate) const URL_PATH_IS_ID: i64 = 2;

/// Flag bit: the row is still in the form of migration 0006 (rewritten after migrating).
pub(crate) const LEGACY: i64 = 8;

/// Flag bit: the urlPath is rendered from the collection's path template; `url_path` is NULL.
pub(crate) const URL_PATH_RENDERED: i64 = 16;

/// Flag bit: the `modified` time equals the start time; `modified` is NULL.
pub(crate) const MODIFIED_IS_START: i64 = 32;

/// Flag bits stored inverted (`flags` column = logical flags XOR this), so that the usual
/// compact row (urlPath rendered, `modified` = start) stores `flags` = 0, which SQLite
/// encodes in no payload byte.
pub(crate) const INVERTED_FLAGS: i64 = URL_PATH_RENDERED | MODIFIED_IS_START;

/// The stored `start_time` of a granule without a start (a primary key column cannot be
/// NULL): -2^53, before any time chrono represents, exact as an integer and as a double.
pub(crate) const NO_START: f64 = -9_007_199_254_740_992.0;

/// The stored `start_time` of a granule.
pub(crate) fn start_key(t: Option<Timestamp>) -> f64 {
    t.map_or(NO_START, ts_to_db)
}

/// The inverse of [`start_key`].
pub(crate) fn start_from_key(x: f64) -> Result<Option<Timestamp>, StoreError> {
    if x <= NO_START {
        Ok(None)
    } else {
        ts_from_db(x).map(Some)
    }
}

/// The compact stored form of a granule's name and urlPath: `(name, flags, url_path)`.
pub(crate) fn encode_name_path<'a>(
    granule_id: &str,
    name: &'a str,
    url_path: Option<&'a str>,
) -> (Option<&'a str>, i64, Option<&'a str>) {
    let stored_name = if name == last_segment(granule_id) {
        None
    } else {
        Some(name)
    };
    if url_path == Some(granule_id) {
        return (stored_name, URL_PATH_IS_ID, None);
    }
    match url_path {
        Some(p) if !name.is_empty() => match p.strip_suffix(name) {
            Some(prefix) => (stored_name, URL_PATH_ENDS_WITH_NAME, Some(prefix)),
            None => (stored_name, 0, Some(p)),
        },
        other => (stored_name, 0, other),
    }
}

/// The inverse of [`encode_name_path`]: `(name, url_path)`.
pub(crate) fn decode_name_path(
    granule_id: &str,
    name: Option<String>,
    flags: i64,
    url_path: Option<String>,
) -> (String, Option<String>) {
    let name = name.unwrap_or_else(|| last_segment(granule_id).to_owned());
    if flags & URL_PATH_IS_ID != 0 {
        return (name, Some(granule_id.to_owned()));
    }
    let url_path = match url_path {
        Some(mut p) if flags & URL_PATH_ENDS_WITH_NAME != 0 => {
            p.push_str(&name);
            Some(p)
        }
        other => other,
    };
    (name, url_path)
}

/// Map a driver error to a [`StoreError`], keeping only the database's message.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) => {
            let msg = d.message().to_owned();
            if d.is_unique_violation() {
                StoreError::Conflict(msg)
            } else if d.is_foreign_key_violation() || d.is_check_violation() {
                StoreError::Invalid(msg)
            } else {
                StoreError::Backend(msg)
            }
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
        sqlx::Error::PoolTimedOut => {
            StoreError::Backend("timed out waiting for a connection".into())
        }
        sqlx::Error::Io(e) => StoreError::Backend(format!("I/O error: {e}")),
        other => StoreError::Backend(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        for (s, us) in [
            (0i64, 0u32),
            (1_700_000_000, 0),
            (1_700_000_000, 1),
            (1_700_000_000, 999_999),
            (1_700_000_000, 500_000),
            (-86_401, 250_000),
            (4_102_444_800, 123_456),
        ] {
            let t = DateTime::from_timestamp(s, us * 1000).unwrap();
            let x = ts_to_db(t);
            let back = ts_from_db(x).unwrap();
            assert_eq!(back, t, "{s}.{us}");
            assert_eq!(ts_to_db(back).to_bits(), x.to_bits());
        }
        assert_eq!(ts_to_db(DateTime::from_timestamp(10, 0).unwrap()), 10.0);
        assert!(ts_from_db(f64::NAN).is_err());
        assert!(ts_from_db(1e300).is_err());
    }

    #[test]
    fn name_and_path_compaction_round_trips() {
        let cases: [(&str, &str, Option<&str>); 9] = [
            ("a/b/file.nc", "file.nc", Some("x/y/file.nc")),
            ("a/b/file.nc", "file.nc", Some("a/b/file.nc")),
            ("a/b/file.nc", "other", Some("a/b/file.nc")),
            ("a/b/file.nc", "Other", Some("x/y/file.nc")),
            ("file.nc", "file.nc", Some("file.nc")),
            ("a/b/", "", Some("x")),
            ("id", "name", None),
            ("a/b/file.nc", "file.nc", Some("x/y/other.nc")),
            ("é/ü", "ü", Some("pré/ü")),
        ];
        for (id, name, path) in cases {
            let (n, f, p) = encode_name_path(id, name, path);
            let (n2, p2) = decode_name_path(id, n.map(str::to_owned), f, p.map(str::to_owned));
            assert_eq!((n2.as_str(), p2.as_deref()), (name, path), "{id}");
        }
        let (n, f, p) = encode_name_path("a/b/file.nc", "file.nc", Some("x/y/file.nc"));
        assert_eq!((n, f, p), (None, URL_PATH_ENDS_WITH_NAME, Some("x/y/")));
        let (n, f, p) = encode_name_path("a/b/file.nc", "file.nc", Some("a/b/file.nc"));
        assert_eq!((n, f, p), (None, URL_PATH_IS_ID, None));
    }
}
