//! Planner statistics that keep up with a growing granule table.
//!
//! Postgres analyzes a table in the background once enough of it changed, but only after its
//! autovacuum nap, and it never analyzes a partitioned table's parent. A first harvest into
//! empty tables is therefore planned for empty tables for minutes: the write statements'
//! cached plans then scan every partition, and each batch costs more than the one before.
//! The store counts the granules it inserts and runs `ANALYZE granules` in the background
//! whenever they reach the number the statistics last counted (the table has doubled since),
//! at least [`MIN_GROWTH`]: a handful of times over a load of any size, none on a table that
//! grows slowly. These analyses take a coarse sample (statistics target 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::PgPool;

/// Granules inserted before the first analysis.
pub(crate) const MIN_GROWTH: u64 = 50_000;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct GrowthAnalyze {
    /// Granules inserted by this store since the statistics were last known to count them.
    since: AtomicU64,
    /// The granules the statistics count (read from the catalog when first needed).
    known: AtomicU64,
    /// An analysis (or the check before it) is running.
    running: AtomicBool,
    /// Analyses run (for tests and logs).
    runs: AtomicU64,
}

impl GrowthAnalyze {
    /// Record `inserted` new granules; start an analysis when the table has doubled since the
    /// statistics were taken.
    pub(crate) fn record(self: &Arc<Self>, pool: &PgPool, inserted: u64) {
        if inserted == 0 {
            return;
        }
        let since = self.since.fetch_add(inserted, Ordering::Relaxed) + inserted;
        if since < MIN_GROWTH.max(self.known.load(Ordering::Relaxed)) {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Err(e) = this.analyze_if_grown(&pool).await {
                tracing::warn!(error = %e, "cannot update the granule table's statistics");
            }
            this.running.store(false, Ordering::Release);
        });
    }

    async fn analyze_if_grown(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let since = self.since.load(Ordering::Relaxed);
        // What the statistics count now (autovacuum may have analyzed meanwhile).
        let counted: f64 = sqlx::query_scalar(
            "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 FROM pg_class c \
             WHERE c.oid IN (SELECT relid FROM pg_partition_tree('granules') WHERE isleaf)",
        )
        .fetch_one(pool)
        .await?;
        let counted = if counted.is_finite() && counted > 0.0 {
            counted as u64
        } else {
            0
        };
        if since < MIN_GROWTH.max(counted) {
            self.known.store(counted, Ordering::Relaxed);
            return Ok(());
        }
        let started = std::time::Instant::now();
        // A coarse sample (statistics target 10: 3,000 rows per partition, not 30,000): these
        // statistics only need to tell the planner how large the table has grown, a later
        // analysis (the end of a large harvest, autovacuum) takes the full sample, and the
        // full one cost 2.0 s of the database's CPU over a 1,000,000-granule harvest, beside
        // its writes.
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL default_statistics_target = 10")
            .execute(&mut *tx)
            .await?;
        sqlx::query("ANALYZE granules").execute(&mut *tx).await?;
        tx.commit().await?;
        self.since.fetch_sub(since, Ordering::Relaxed);
        self.known.store(counted + since, Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            inserted = since,
            counted_before = counted,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "granule table statistics updated as it grew"
        );
        Ok(())
    }

    /// Analyses run so far.
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}
