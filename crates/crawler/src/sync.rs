//! The incremental sync engine (see `docs/crawl-model.md`).
//!
//! A sync of a source re-reads only the nodes that may have changed: every stored catalog that
//! is not archival and is due (`next_visit` passed or unset), every pending one (discovered but
//! never fetched: e.g. left by a killed run) and every failed one (a retry), plus the start
//! catalog when it was never stored. New references found in re-read catalogs are followed
//! (new subtrees are crawled fully); known children that are not due are not.
//!
//! Expiry needs no full scan: a catalog read successfully (not a 304, not a failure) that no
//! longer lists a stored child deletes that child's subtree and its granules; granules that
//! vanished from a re-read catalog are deleted by the store (complete listings). A failed
//! catalog deletes nothing.
//!
//! One sync per source at a time, across processes sharing the database: the source's lease
//! ([`SyncLeases::acquire_lease`](threddex_store::SyncLeases::acquire_lease)) is taken first (busy → [`SyncReport::lease_busy`] with the
//! holder and expiry in [`SyncReport::lease`], nothing crawled), renewed every `lease_ttl / 3`
//! while running and released at the end. A lease left by a process of this host that no
//! longer exists (killed) is taken over at once; one of another host is waited out until it
//! expires (see [`crate::holder`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use threddex_store::{
    Batch, CatalogState, CollectionQuery, ErrorChain, HolderLiveness, LeaseGrant, LeaseInfo,
    NodeClass, RunKind, Source, Store, Timestamp,
};

use crate::classify::{self, Clock, is_due, system_clock};
use crate::{CrawlError, HarvestReport, Harvester, Progress, RunOptions, Seed, StoreSink, urls};

/// Settings of the sync engine.
#[derive(Clone)]
pub struct SyncOptions {
    /// Grace period for late files in dated folders (default 6 h).
    pub grace: chrono::Duration,
    /// Lease lifetime; renewed every third of it while a sync runs (default 60 s). A killed
    /// sync of another host blocks the source for at most this long (one of this host not at
    /// all: see `liveness`).
    pub lease_ttl: Duration,
    /// Lease holder ID (default `host:pid:random`); the lease also records this process's
    /// host, PID and start time ([`crate::holder::lease_holder`]).
    pub holder: String,
    /// Tells whether the holder of a busy lease is gone, so its lease is taken over at once
    /// (default: [`crate::holder::liveness`], processes of this host by `/proc`).
    pub liveness: Arc<dyn HolderLiveness>,
    /// Where "now" comes from (default: the system clock).
    pub clock: Clock,
    /// Longest adaptive revisit interval (default 24 h).
    pub max_interval: chrono::Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            grace: classify::DEFAULT_GRACE,
            lease_ttl: Duration::from_secs(60),
            holder: default_holder(),
            liveness: crate::holder::liveness(),
            clock: system_clock(),
            max_interval: classify::DEFAULT_MAX_INTERVAL,
        }
    }
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("grace", &self.grace)
            .field("lease_ttl", &self.lease_ttl)
            .field("holder", &self.holder)
            .field("max_interval", &self.max_interval)
            .finish_non_exhaustive()
    }
}

/// `host:pid:random`, unique per process.
pub fn default_holder() -> String {
    let me = crate::holder::this_process();
    format!("{}:{}:{:08x}", me.host, me.pid, rand::random::<u32>())
}

/// What a sync of one source did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Source name.
    pub source: String,
    /// Another run holds the source's lease: nothing was done.
    pub lease_busy: bool,
    /// When busy: who holds the lease, since when and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseInfo>,
    /// The lease was taken over from a run that did not release it (interrupted): the
    /// statistics of all the source's collections were recomputed.
    pub resumed: bool,
    /// Catalogs known before the run.
    pub known_catalogs: u64,
    /// Archival catalogs (never re-read).
    pub archival: u64,
    /// Catalogs chosen as seeds (due, pending or failed; the start catalog when new).
    pub seeds: u64,
    /// Catalogs deleted because they (or an ancestor) vanished from their parent's listing.
    pub expired_trees: u64,
    /// The crawl.
    pub harvest: HarvestReport,
    /// Wall time of planning (reading the source's catalog states, choosing seeds).
    #[serde(default)]
    pub plan_elapsed: Duration,
    /// Whether the run counts as successful (the start catalog, when re-read, did not fail;
    /// the lease was held throughout): it advances `last_success_at`.
    pub success: bool,
    /// The ID of the crawl run recorded for this sync ([`CrawlRuns::start_run`](threddex_store::CrawlRuns::start_run)); None when the
    /// lease was busy or recording failed.
    #[serde(default)]
    pub run_id: Option<i64>,
}

/// A sync started in the background by [`Syncer::spawn_sync`].
#[derive(Debug)]
pub struct StartedSync {
    /// The crawl run recorded for it (None when recording failed; the sync runs anyway).
    pub run_id: Option<i64>,
    /// The sync itself; its report when it ends.
    pub task: tokio::task::JoinHandle<Result<SyncReport, CrawlError>>,
}

/// What [`Syncer::spawn_sync`] did.
#[derive(Debug)]
pub enum SpawnedSync {
    /// The lease was taken and the sync runs in the background.
    Started(StartedSync),
    /// Another sync holds the source's lease: who, and until when.
    Busy(Box<LeaseInfo>),
}

/// A source whose lease is held, ready to sync.
struct Locked {
    source: Source,
    holder: String,
    resumed: bool,
    run_id: Option<i64>,
}

/// What [`Syncer::refresh_collection`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshSummary {
    /// Catalogs read.
    pub catalogs_read: u64,
    /// Granules new in the store.
    pub granules_added: u64,
    /// Granules deleted.
    pub granules_removed: u64,
    /// Failed catalogs.
    pub failed: u64,
    /// The collection's freshness afterwards.
    pub freshness: FreshnessInfo,
}

/// How fresh a collection's index is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshnessInfo {
    /// Whether some catalog holding its granules is not archival.
    pub has_live_nodes: bool,
    /// The oldest `last_fetch` among those live catalogs.
    pub indexed_through: Option<Timestamp>,
    /// When the collection's source last synced successfully.
    pub last_sync: Option<Timestamp>,
}

/// The sync engine. Cheap to clone.
#[derive(Clone)]
pub struct Syncer {
    harvester: Harvester,
    store: Arc<dyn Store>,
    opts: SyncOptions,
}

impl Syncer {
    /// A sync engine crawling with `harvester` into `store`.
    pub fn new(harvester: Harvester, store: Arc<dyn Store>, opts: SyncOptions) -> Self {
        Self {
            harvester,
            store,
            opts,
        }
    }

    /// The options in use.
    pub fn options(&self) -> &SyncOptions {
        &self.opts
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn run_options(&self) -> RunOptions {
        RunOptions {
            clock: Arc::clone(&self.opts.clock),
            grace: self.opts.grace,
            max_interval: self.opts.max_interval,
            ..RunOptions::default()
        }
    }

    /// Sync every registered source, one after the other.
    pub async fn sync_all(&self, progress: Arc<Progress>) -> Result<Vec<SyncReport>, CrawlError> {
        let mut out = Vec::new();
        for s in self.store.list_sources().await? {
            out.push(self.sync_source(&s, Arc::clone(&progress)).await?);
        }
        Ok(out)
    }

    /// Sync one source (see the module docs). The run is recorded as a crawl run of kind
    /// `sync` ([`CrawlRuns::start_run`](threddex_store::CrawlRuns::start_run)) once the lease is taken; failing to record it only logs a
    /// warning.
    pub async fn sync_source(
        &self,
        source: &Source,
        progress: Arc<Progress>,
    ) -> Result<SyncReport, CrawlError> {
        match self.lock(source, &self.opts.holder).await? {
            Ok(locked) => self.run_locked(locked, progress).await,
            Err(info) => Ok(SyncReport {
                source: source.settings.name.clone(),
                lease_busy: true,
                lease: Some(*info),
                ..SyncReport::default()
            }),
        }
    }

    /// Take the source's lease and start syncing it in a background task (on the current
    /// Tokio runtime); returns at once with the recorded run's ID, or who holds the lease when
    /// another sync (in this process or another) does. Each call uses its own lease holder ID
    /// (`{holder}:{random}`), so two background syncs of one source never overlap, nor one
    /// with the scheduler's.
    pub async fn spawn_sync(&self, source: &Source) -> Result<SpawnedSync, CrawlError> {
        let holder = format!("{}:{:08x}", self.opts.holder, rand::random::<u32>());
        let locked = match self.lock(source, &holder).await? {
            Ok(locked) => locked,
            Err(info) => return Ok(SpawnedSync::Busy(info)),
        };
        let run_id = locked.run_id;
        let this = self.clone();
        let task = tokio::spawn(async move {
            let r = this.run_locked(locked, Arc::new(Progress::default())).await;
            match &r {
                Ok(rep) => tracing::info!(
                    source = %rep.source,
                    catalogs = rep.harvest.catalogs,
                    inserted = rep.harvest.granules_inserted,
                    deleted = rep.harvest.granules_deleted,
                    failed = rep.harvest.failed_count,
                    "background sync done"
                ),
                Err(e) => tracing::warn!(error = %ErrorChain(e), "background sync failed"),
            }
            r
        });
        Ok(SpawnedSync::Started(StartedSync { run_id, task }))
    }

    /// Take the lease for `holder` (taking over one whose holder is gone) and record the start
    /// of the run; who holds it when busy.
    async fn lock(
        &self,
        source: &Source,
        holder: &str,
    ) -> Result<Result<Locked, Box<LeaseInfo>>, CrawlError> {
        let store = &self.store;
        let ttl = self.opts.lease_ttl.max(Duration::from_millis(100));
        let me = crate::holder::lease_holder(holder);
        let grant = store
            .acquire_lease(source.id, &me, ttl, &*self.opts.liveness)
            .await?;
        let resumed = match grant {
            LeaseGrant::Busy(info) => {
                tracing::info!(
                    source = %source.settings.name,
                    lease = %info,
                    "another sync holds the lease"
                );
                return Ok(Err(info));
            }
            LeaseGrant::TakenOver => {
                tracing::info!(
                    source = %source.settings.name,
                    "took over the lease of an interrupted sync (expired, or its process is gone)"
                );
                true
            }
            LeaseGrant::Acquired => false,
        };
        let run_id = crate::runs::start(store, source, RunKind::Sync, holder).await;
        Ok(Ok(Locked {
            source: source.clone(),
            holder: holder.to_owned(),
            resumed,
            run_id,
        }))
    }

    /// Sync a source whose lease is held: renew it while running, mark the source synced,
    /// release the lease and record the end of the run.
    async fn run_locked(
        &self,
        locked: Locked,
        progress: Arc<Progress>,
    ) -> Result<SyncReport, CrawlError> {
        let store = &self.store;
        let Locked {
            source,
            holder,
            resumed,
            run_id,
        } = locked;
        let ttl = self.opts.lease_ttl.max(Duration::from_millis(100));
        let mut report = SyncReport {
            source: source.settings.name.clone(),
            resumed,
            run_id,
            ..SyncReport::default()
        };

        // Renew the lease while running.
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let store = Arc::clone(store);
            let holder = holder.clone();
            let lost = Arc::clone(&lost);
            let id = source.id;
            tokio::spawn(async move {
                let every = (ttl / 3).max(Duration::from_millis(30));
                loop {
                    tokio::time::sleep(every).await;
                    match store.renew_lease(id, &holder, ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(source = id, "sync lease lost");
                            lost.store(true, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::warn!(source = id, error = %ErrorChain(&e), "cannot renew lease")
                        }
                    }
                }
            })
        };

        let result = self.sync_locked(&source, progress, &mut report).await;
        renewer.abort();
        let lease_lost = lost.load(Ordering::Relaxed);
        let success = match &result {
            Ok(root_ok) => *root_ok && !lease_lost,
            Err(_) => false,
        };
        report.success = success;
        let mark = store
            .mark_source_synced(source.id, (self.opts.clock)(), success)
            .await;
        let release = store.release_lease(source.id, &holder).await;
        let end = match &result {
            Ok(_) => {
                let mut end = crate::runs::end_of(&report.harvest, success);
                if lease_lost && end.errors.len() < threddex_store::MAX_RUN_ERRORS {
                    end.errors.push(threddex_store::RunError {
                        url: source.settings.url.clone(),
                        error:
                            "the sync lease was lost while running (another process took it over)"
                                .into(),
                    });
                }
                end
            }
            Err(e) => crate::runs::end_of_error(e, &source.settings.url),
        };
        crate::runs::finish(store, run_id, end).await;
        result?;
        mark?;
        release?;
        Ok(report)
    }

    /// The sync proper, under the lease; returns whether the start catalog was fine.
    async fn sync_locked(
        &self,
        source: &Source,
        progress: Arc<Progress>,
        report: &mut SyncReport,
    ) -> Result<bool, CrawlError> {
        let store = &self.store;
        // Fresh settings (last_success_at may have moved since the caller read them).
        let source = store
            .source_by_url(&source.settings.url)
            .await?
            .unwrap_or_else(|| source.clone());
        let root = urls::parse_catalog_url(&source.settings.url)
            .map_err(|reason| CrawlError::StartUnreadable {
                url: source.settings.url.clone(),
                reason,
            })?
            .to_string();
        let now = (self.opts.clock)();
        let planning = std::time::Instant::now();
        // From the indexes: the due catalogs only, never every row of a large archive. The
        // children a re-read catalog is compared with are read per catalog by the walk.
        let plan = store.due_catalogs(source.id, classify::due_by(now)).await?;
        report.known_catalogs = plan.known;
        report.archival = plan.archival;
        let root_known = plan.due.iter().any(|c| c.url == root)
            || store
                .catalog(&root)
                .await?
                .is_some_and(|c| c.source_id == source.id);
        let mut seeds: Vec<Seed> = plan
            .due
            .into_iter()
            .filter(|c| is_due(c, now))
            .map(|c| Seed {
                url: c.url.clone(),
                parent: c.parent_url.clone(),
                depth: u32::try_from(c.depth).unwrap_or(0),
                prior: Some(c),
            })
            .collect();
        if !root_known {
            seeds.insert(
                0,
                Seed {
                    url: root.clone(),
                    parent: None,
                    depth: 0,
                    prior: None,
                },
            );
        }
        seeds.sort_by_key(|s| s.depth);
        report.seeds = seeds.len() as u64;
        report.plan_elapsed = planning.elapsed();
        tracing::info!(
            source = %source.settings.name,
            known = report.known_catalogs,
            archival = report.archival,
            seeds = report.seeds,
            "sync planned"
        );
        let filter_now = now;
        let harvest = self
            .harvester
            .crawl_with(
                seeds,
                &source,
                Some(Arc::clone(store)),
                Arc::new(StoreSink(Arc::clone(store))),
                progress,
                Arc::new(move |s: &CatalogState| is_due(s, filter_now)),
                RunOptions {
                    changed_stats_only: true,
                    only_new_children: true,
                    ..self.run_options()
                },
            )
            .await?;
        let root_failed = harvest.failed.iter().any(|(u, _)| *u == root);

        // Orphans: catalogs whose parent was deleted while they were being re-read (their
        // state was written after the parent's deletion). Only possible when this run (or an
        // interrupted one before it) deleted a subtree.
        let orphans: Vec<String> = if harvest.catalogs_deleted > 0 || report.resumed {
            let after = store.catalogs_of_source(source.id).await?;
            let urls: HashSet<&str> = after.iter().map(|c| c.url.as_str()).collect();
            after
                .iter()
                .filter(|c| c.parent_url.as_deref().is_some_and(|p| !urls.contains(p)))
                .map(|c| c.url.clone())
                .collect()
        } else {
            Vec::new()
        };
        let mut orphaned: Vec<String> = Vec::new();
        if !orphans.is_empty() {
            let o = store
                .write_batch(&Batch {
                    delete_catalog_trees: orphans,
                    ..Batch::default()
                })
                .await?;
            report.expired_trees += o.catalogs_deleted;
            orphaned = o.changed_collections;
        }
        report.expired_trees += harvest.catalogs_deleted;

        // Statistics: the crawl refreshed the collections its writes changed (expired trees
        // included); the orphans' deletion changed these, and an interrupted previous run may
        // have changed any collection of the source without refreshing it.
        let ids = if report.resumed || self.unfinished_run_since_sync(&source, report).await {
            self.collection_ids_of(source.id).await?
        } else {
            orphaned
                .into_iter()
                .filter(|id| harvest.changed_collections.binary_search(id).is_err())
                .collect()
        };
        for chunk in ids.chunks(500) {
            store.refresh_collection_stats(chunk).await?;
        }
        let mut harvest = harvest;
        if !ids.is_empty() {
            // Re-time the ISO records whose extent these refreshes changed.
            let records = self
                .harvester
                .refresh_records(store, Some(source.id), &Arc::new(Progress::default()))
                .await?;
            harvest.records.merge(&records);
        }
        report.harvest = harvest;
        Ok(!root_failed)
    }

    /// Whether another run of the source (a harvest or refresh: they hold no lease) started
    /// after its last sync and never finished: killed, it may have written granules without
    /// counting them (or it is still running). Unknown (the runs cannot be read): no.
    async fn unfinished_run_since_sync(&self, source: &Source, report: &SyncReport) -> bool {
        let runs = match self.store.list_runs(Some(&source.settings.name), 20).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "cannot read the source's runs");
                return false;
            }
        };
        runs.iter().any(|r| {
            Some(r.id) != report.run_id
                && r.source_id == source.id
                && r.finished_at.is_none()
                && r.kind != RunKind::Sync
                && source.last_sync_at.is_none_or(|t| r.started_at > t)
        })
    }

    pub(crate) async fn collection_ids_of(
        &self,
        source_id: i64,
    ) -> Result<Vec<String>, CrawlError> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_collections(&CollectionQuery {
                    source_id: Some(source_id),
                    after_id: after.clone(),
                    limit: 1000,
                    ..CollectionQuery::default()
                })
                .await?;
            let n = page.len();
            for c in page {
                ids.push(c.info.id);
            }
            if n < 1000 {
                break;
            }
            after = ids.last().cloned();
        }
        Ok(ids)
    }

    async fn source_by_id(&self, id: i64) -> Result<Option<Source>, CrawlError> {
        Ok(self
            .store
            .list_sources()
            .await?
            .into_iter()
            .find(|s| s.id == id))
    }

    /// How fresh a collection is: whether live (non-archival) catalogs hold its granules, the
    /// oldest `last_fetch` among them (what a sync or refresh moves forward), and its source's
    /// last successful sync.
    pub async fn freshness(&self, collection_id: &str) -> Result<FreshnessInfo, CrawlError> {
        let cats = self.store.catalogs_for_collection(collection_id).await?;
        let live: Vec<&CatalogState> = cats
            .iter()
            .filter(|c| c.class != NodeClass::Archival)
            .collect();
        let indexed_through = live.iter().filter_map(|c| c.last_fetch).min();
        let source_id = match cats.first() {
            Some(c) => Some(c.source_id),
            None => self
                .store
                .collection(collection_id)
                .await?
                .map(|c| c.info.source_id),
        };
        let last_sync = match source_id {
            Some(id) => self.source_by_id(id).await?.and_then(|s| s.last_success_at),
            None => None,
        };
        Ok(FreshnessInfo {
            has_live_nodes: !live.is_empty(),
            indexed_through,
            last_sync,
        })
    }

    /// Re-read the live, daily and mixed catalogs holding a collection's granules, plus their
    /// non-archival parents (so that a new day folder is discovered and crawled). Only catalogs
    /// already stored for a registered source are read: never a URL from a request. Known
    /// children that are not seeds are not visited. Does not take the source's lease (writes
    /// are idempotent upserts). A re-read listing is authoritative: child catalogs it no
    /// longer lists are deleted with their subtrees.
    pub async fn refresh_collection(
        &self,
        collection_id: &str,
    ) -> Result<RefreshSummary, CrawlError> {
        let store = &self.store;
        // One refresh of a collection at a time across the processes of a Postgres database
        // (when the crawler shares its limits through it): a refresh that finds another one
        // running waits for it and answers from what that one wrote.
        let _exclusive = match &self.harvester.inner.fetcher.shared {
            Some(shared) => {
                let key = format!("refresh:{collection_id}");
                match shared.exclusive(&key, Duration::from_secs(60)).await {
                    crate::shared_hosts::Exclusive::Held(slot) => Some(slot),
                    crate::shared_hosts::Exclusive::WaitedForOther => {
                        return Ok(RefreshSummary {
                            freshness: self.freshness(collection_id).await?,
                            ..RefreshSummary::default()
                        });
                    }
                    crate::shared_hosts::Exclusive::Unknown => None,
                }
            }
            None => None,
        };
        let cats = store.catalogs_for_collection(collection_id).await?;
        let mut by_source: HashMap<i64, Vec<CatalogState>> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        for c in cats {
            if c.class == NodeClass::Archival {
                continue;
            }
            if let Some(p) = &c.parent_url
                && !seen.contains(p)
                && let Some(ps) = store.catalog(p).await?
                && ps.class != NodeClass::Archival
                && ps.source_id == c.source_id
            {
                seen.insert(ps.url.clone());
                by_source.entry(ps.source_id).or_default().push(ps);
            }
            if seen.insert(c.url.clone()) {
                by_source.entry(c.source_id).or_default().push(c);
            }
        }
        let mut summary = RefreshSummary::default();
        for (source_id, mut states) in by_source {
            let Some(source) = self.source_by_id(source_id).await? else {
                continue;
            };
            states.sort_by(|a, b| a.depth.cmp(&b.depth).then_with(|| a.url.cmp(&b.url)));
            let seeds: Vec<Seed> = states
                .into_iter()
                .map(|c| Seed {
                    url: c.url.clone(),
                    parent: c.parent_url.clone(),
                    depth: u32::try_from(c.depth).unwrap_or(0),
                    prior: Some(c),
                })
                .collect();
            let run = crate::runs::start(store, &source, RunKind::Refresh, &self.opts.holder).await;
            let r = self
                .harvester
                .crawl_with(
                    seeds,
                    &source,
                    Some(Arc::clone(store)),
                    Arc::new(StoreSink(Arc::clone(store))),
                    Arc::new(Progress::default()),
                    Arc::new(|_: &CatalogState| false),
                    self.run_options(),
                )
                .await;
            let end = match &r {
                Ok(rep) => crate::runs::end_of(
                    rep,
                    rep.failed_count == 0 || rep.catalogs > rep.failed_count,
                ),
                Err(e) => crate::runs::end_of_error(e, &source.settings.url),
            };
            crate::runs::finish(store, run, end).await;
            let r = r?;
            summary.catalogs_read += r.catalogs;
            summary.granules_added += r.granules_inserted;
            summary.granules_removed += r.granules_deleted;
            summary.failed += r.failed_count;
        }
        summary.freshness = self.freshness(collection_id).await?;
        Ok(summary)
    }
}
