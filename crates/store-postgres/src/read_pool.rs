//! Connections for the hot read statements (`/index` granule listings, `/collections`
//! searches), without sqlx's test round trip on release.
//!
//! sqlx's `Pool` tests every connection it takes back: a `Sync` message and a wait for
//! `ReadyForQuery`, in a task spawned per release. For a one-statement request that is a
//! second round trip to Postgres (two more process wake-ups), measured at about a third of
//! the request's Postgres traffic (`strace`: two `sendto` per `/index` request). It exists
//! because a connection whose statement was cancelled mid-way may be in an unknown protocol
//! state. Here that case is excluded instead of tested for: a connection goes back to the pool
//! only when its statement ran to completion ([`ReadConn::done`]); one dropped earlier
//! (cancelled request, error) is closed, and a new one is opened on demand.
//!
//! Their statements are planned once per connection (`plan_cache_mode =
//! force_generic_plan`). Each names one collection (`collection_key = $n`) of the 64-way
//! partitioned `granules`; a plan made for its parameters prunes the other partitions while
//! planning, and Postgres judged that cheaper than a generic plan (which prunes them when it
//! starts executing), so it planned every execution anew: 0.19 ms of planning beside
//! 0.07 ms of execution for a one-day listing of 24 granules, three quarters of Postgres's
//! CPU per `/index` or `/stac/search` request. The statements' shapes do not depend on their
//! parameters (an index range scan of one collection; the free-text forms are chosen by the
//! store, see `read.rs`), so the generic plan is the plan they would get anyway.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use threddex_store::StoreError;
use tokio::sync::{Semaphore, SemaphorePermit};

/// A bounded set of connections for read statements.
#[derive(Debug)]
pub(crate) struct ReadPool {
    options: PgConnectOptions,
    /// Connections not in use, with when they were last used (most recent last).
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    /// One permit per connection that may exist (idle or in use); FIFO, so waiting requests
    /// are served in arrival order.
    permits: Semaphore,
    acquire_timeout: Duration,
    /// An idle connection older than this is pinged before it is handed out.
    ping_idle_after: Duration,
}

/// A connection taken from a [`ReadPool`]; returned to it only after [`ReadConn::done`].
pub(crate) struct ReadConn<'a> {
    pool: &'a ReadPool,
    conn: PgConnection,
    _permit: SemaphorePermit<'a>,
}

impl ReadPool {
    pub(crate) fn new(
        options: PgConnectOptions,
        size: u32,
        acquire_timeout: Duration,
        ping_idle_after: Duration,
    ) -> Self {
        Self {
            options: options.options([("plan_cache_mode", "force_generic_plan")]),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(usize::try_from(size).unwrap_or(usize::MAX)),
            acquire_timeout,
            ping_idle_after,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection: the most recently used idle one (pinged first when it sat idle longer
    /// than `ping_idle_after`; replaced when the ping fails), or a new one.
    pub(crate) async fn acquire(&self) -> Result<ReadConn<'_>, StoreError> {
        let permit = match tokio::time::timeout(self.acquire_timeout, self.permits.acquire()).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(StoreError::connect("the store is closed", e)),
            Err(e) => {
                return Err(StoreError::connect(
                    format!(
                        "no Postgres connection free within {:?}",
                        self.acquire_timeout
                    ),
                    e,
                ));
            }
        };
        let reused = self.idle().pop();
        let conn = match reused {
            Some((mut conn, since)) => {
                if since.elapsed() <= self.ping_idle_after || conn.ping().await.is_ok() {
                    conn
                } else {
                    self.connect().await?
                }
            }
            None => self.connect().await?,
        };
        Ok(ReadConn {
            pool: self,
            conn,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<PgConnection, StoreError> {
        tokio::time::timeout(self.acquire_timeout, self.options.connect())
            .await
            .map_err(|e| StoreError::connect("timed out connecting to Postgres", e))?
            .map_err(|e| StoreError::connect("cannot connect to Postgres", e))
    }

    /// Refuse new acquisitions and close the idle connections (ones in use are closed when
    /// dropped).
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle: Vec<_> = std::mem::take(&mut *self.idle());
        for (conn, _) in idle {
            let _ = conn.close().await;
        }
    }

    /// Connections currently idle.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle().len()
    }
}

impl ReadConn<'_> {
    /// The connection, for one or more statements run to completion.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Every statement ran to completion: the connection goes back to the pool. A
    /// [`ReadConn`] dropped without this (cancelled, or after an error) is closed.
    pub(crate) fn done(self) {
        if !self.pool.permits.is_closed() {
            self.pool.idle().push((self.conn, Instant::now()));
        }
    }
}
