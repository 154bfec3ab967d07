//! Conversions at the database boundary: times, JSON columns, granule flag bits, errors.

use chrono::DateTime;
use threddex_store::granule_codec::{Codec, FlagLayout};
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
    StoreError::Corrupt(what.to_owned())
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

/// The bits of the granule codec's flags in `granules.flags`. The usual compact row (urlPath
/// rendered, `modified` = start) has both of its flags inverted, so it stores `flags` = 0,
/// which SQLite encodes in no payload byte. Bit 4 is [`crate::idhash::PROBED`], bit 8
/// [`LEGACY`].
pub(crate) const LAYOUT: FlagLayout = FlagLayout {
    url_path_ends_with_name: 1,
    url_path_is_id: 2,
    url_path_rendered: 16,
    modified_is_start: 32,
    inverted: 16 | 32,
};

/// The granule codec with `threddex_ids`' templates, rendering from the times as the time
/// columns keep them (microseconds).
pub(crate) const CODEC: Codec = Codec {
    render: threddex_ids::render,
    renders_back: threddex_ids::renders_back,
    derive_template: |p| threddex_ids::Deriver::new().derive(p, "").template,
    read_back: |t| ts_from_db(ts_to_db(t)).ok(),
};

/// Flag bit: the row is still in the form of migration 0006 (rewritten after migrating).
pub(crate) const LEGACY: i64 = 8;

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

/// Map a driver error to a [`StoreError`]: rule violations by the database's message, the
/// rest with the driver's error as the source.
/// Whether a driver error means the disk is full: `SQLITE_FULL` (13), `SQLITE_IOERR_SHMSIZE`
/// (4874: the WAL index cannot grow, the error a new connection gets on a full disk), or an
/// I/O error saying so.
pub(crate) fn disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("13" | "4874")),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if disk_full(&e) {
        return StoreError::Database(Box::new(DiskFull(e)));
    }
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() || d.is_check_violation() => {
            StoreError::Invalid(d.message().to_owned())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
        sqlx::Error::PoolTimedOut => {
            StoreError::connect("timed out waiting for a database connection", e)
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Configuration(_) => {
            StoreError::connect("the database cannot be opened", e)
        }
        other => StoreError::Database(Box::new(other)),
    }
}

/// A write refused because the disk is full: says so first, then the driver's words.
#[derive(Debug)]
struct DiskFull(sqlx::Error);

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the disk holding the SQLite database is full; the index stays readable and \
             consistent, free space and run again"
        )
    }
}

impl std::error::Error for DiskFull {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
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
    fn driver_errors_keep_their_source() {
        let e = db_err(sqlx::Error::Protocol("bad frame".into()));
        assert!(matches!(e, StoreError::Database(_)), "{e:?}");
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<sqlx::Error>().is_some());
        assert_eq!(
            threddex_store::ErrorChain(&e).to_string(),
            "database error: encountered unexpected or invalid data: bad frame"
        );
        assert!(db_err(sqlx::Error::PoolTimedOut).is_connect());
        assert!(matches!(
            db_err(sqlx::Error::RowNotFound),
            StoreError::NotFound(_)
        ));
    }

    #[test]
    fn flag_bits_are_those_on_disk() {
        use threddex_store::granule_codec::GranuleFlags as F;
        // The usual row stores 0; the backend's own bits (PROBED 4, LEGACY 8) stay free.
        assert_eq!(
            LAYOUT.encode(F::URL_PATH_RENDERED | F::MODIFIED_IS_START),
            0
        );
        assert_eq!(LAYOUT.encode(F::NONE), 16 | 32);
        assert_eq!(
            LAYOUT.encode(F::URL_PATH_IS_ID | F::MODIFIED_IS_START),
            2 | 16
        );
        assert_eq!(LAYOUT.encode(F::URL_PATH_ENDS_WITH_NAME), 1 | 16 | 32);
        assert_eq!(LAYOUT.mask() & (crate::idhash::PROBED | LEGACY), 0);
        assert_eq!(
            LAYOUT.decode(4 | 8),
            F::URL_PATH_RENDERED | F::MODIFIED_IS_START
        );
    }
}
