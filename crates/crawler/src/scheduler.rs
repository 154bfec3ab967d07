//! The sync scheduler run by `threddex serve`: every registered source is synced on its own
//! interval (`every_secs`, default 10 minutes), the source list is re-read on every tick (new
//! sources are picked up, removed ones dropped), at most one sync per source runs in this
//! process, and the source's lease keeps other processes and machines from running it at the
//! same time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use threddex_store::{ErrorChain, Source, Store};
use tokio::task::JoinHandle;

use crate::classify::DEFAULT_MIN_INTERVAL;
use crate::sync::{SyncOptions, SyncReport, Syncer};
use crate::{CrawlConfig, CrawlError, Harvester, Progress};

/// A callback receiving the report of every finished sync.
pub type ReportHook = Arc<dyn Fn(&SyncReport) + Send + Sync>;

/// Runs syncs on schedule until shut down.
pub struct Scheduler {
    syncer: Syncer,
    tick: Duration,
    default_every: chrono::Duration,
    on_report: Option<ReportHook>,
}

impl Scheduler {
    /// A scheduler syncing into `store` with a crawler built from `cfg`.
    pub fn new(
        store: Arc<dyn Store>,
        cfg: CrawlConfig,
        opts: SyncOptions,
    ) -> Result<Self, CrawlError> {
        let harvester = Harvester::new(cfg)?;
        Ok(Self::from_syncer(Syncer::new(harvester, store, opts)))
    }

    /// A scheduler around an existing sync engine.
    pub fn from_syncer(syncer: Syncer) -> Self {
        Self {
            syncer,
            tick: Duration::from_secs(5),
            default_every: DEFAULT_MIN_INTERVAL,
            on_report: None,
        }
    }

    /// How often the source list and due times are checked (default 5 s).
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = tick.max(Duration::from_millis(10));
        self
    }

    /// Interval of sources that set none (default 10 minutes).
    pub fn with_default_every(mut self, every: chrono::Duration) -> Self {
        self.default_every = every.max(chrono::Duration::seconds(1));
        self
    }

    /// Called with the report of every finished sync (for logs, metrics, tests).
    pub fn on_report(mut self, f: ReportHook) -> Self {
        self.on_report = Some(f);
        self
    }

    /// The sync engine.
    pub fn syncer(&self) -> &Syncer {
        &self.syncer
    }

    fn due(&self, s: &Source, now: chrono::DateTime<chrono::Utc>) -> bool {
        source_due(s, now, self.default_every)
    }

    /// Run until `shutdown` completes. Syncs still running then are stopped (a stopped sync
    /// is safe: the next one resumes it) and their leases released.
    pub async fn run<F>(self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut running: HashMap<i64, JoinHandle<()>> = HashMap::new();
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            running.retain(|_, h| !h.is_finished());
            let sources = match self.syncer.store().list_sources().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "scheduler cannot list sources");
                    continue;
                }
            };
            let now = (self.syncer.options().clock)();
            for s in sources {
                if running.contains_key(&s.id) || !self.due(&s, now) {
                    continue;
                }
                let syncer = self.syncer.clone();
                let on_report = self.on_report.clone();
                let id = s.id;
                running.insert(
                    id,
                    tokio::spawn(async move {
                        match syncer.sync_source(&s, Arc::new(Progress::default())).await {
                            Ok(r) => {
                                if !r.lease_busy {
                                    tracing::info!(
                                        source = %r.source,
                                        seeds = r.seeds,
                                        catalogs = r.harvest.catalogs,
                                        inserted = r.harvest.granules_inserted,
                                        deleted = r.harvest.granules_deleted,
                                        "sync done"
                                    );
                                }
                                if let Some(f) = on_report {
                                    f(&r);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(source = %s.settings.name, error = %ErrorChain(&e), "sync failed");
                            }
                        }
                    }),
                );
            }
        }
        let holder = self.syncer.options().holder.clone();
        for (id, h) in running {
            if !h.is_finished() {
                h.abort();
                let _ = h.await;
                if let Err(e) = self.syncer.store().release_lease(id, &holder).await {
                    tracing::warn!(source = id, error = %ErrorChain(&e), "cannot release lease");
                }
            }
        }
    }
}

/// Whether a source is due for a sync at `now`: never synced, or its interval (`every_secs`,
/// else `default_every`) has passed since its last sync.
pub(crate) fn source_due(
    s: &Source,
    now: chrono::DateTime<chrono::Utc>,
    default_every: chrono::Duration,
) -> bool {
    let every = s
        .settings
        .every_secs
        .filter(|e| *e > 0)
        .map_or(default_every, chrono::Duration::seconds);
    match s.last_sync_at {
        None => true,
        Some(t) => t.checked_add_signed(every).is_none_or(|at| at <= now),
    }
}
