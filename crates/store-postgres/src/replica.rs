//! Search reads from a streaming replica: how far the replica has replayed the primary.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use threddex_store::{StoreError, Timestamp};

use crate::convert::db_err;

/// How long a replay position is reused before the replica is asked again. A reused value is
/// older than the current one, so it only ever understates how far the replica has replayed.
const AS_OF_TTL: Duration = Duration::from_millis(250);

/// A streaming replica that search reads go to.
#[derive(Debug)]
pub(crate) struct Replica {
    pool: PgPool,
    /// The last answer of [`Replica::as_of`] and when it was read.
    last: Mutex<Option<(Instant, Option<Timestamp>)>>,
}

impl Replica {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            last: Mutex::new(None),
        }
    }

    /// The primary's commit time of the last transaction the replica has replayed (everything
    /// committed on the primary up to then is visible in reads), or, before the replica has
    /// replayed any transaction, the time of the checkpoint it started from. None when the
    /// read database is not in recovery (not a replica: it has everything).
    pub(crate) async fn as_of(&self) -> Result<Option<Timestamp>, StoreError> {
        let cached = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, value)) = cached
            && at.elapsed() < AS_OF_TTL
        {
            return Ok(value);
        }
        let asked = Instant::now();
        let value: Option<Timestamp> = sqlx::query_scalar(
            "SELECT CASE WHEN pg_is_in_recovery() THEN \
             COALESCE(pg_last_xact_replay_timestamp(), (pg_control_checkpoint()).checkpoint_time) \
             END",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((asked, value));
        Ok(value)
    }
}
