//! Crawling with several processes: the worker loop of `threddex worker` (and of `serve` on
//! Postgres) over the shared frontier ([`Frontier`], see `docs/crawl-model.md`, Workers).
//!
//! Every worker runs the same loop:
//!
//! * **schedule** (every `tick`): keep the sync lease of every open round (renew it, or take it
//!   back when it expired while no worker ran), close the rounds with nothing queued (see
//!   [`crate::rounds`]), and open a round for every source that is due and has none: take the
//!   source's sync lease, queue its due catalogs (the same choice as a single-process sync:
//!   due, pending and failed nodes, never archival ones) and its start catalog when it was
//!   never stored;
//! * **claim** queued catalogs (at most `concurrency` in flight) and read each on its own:
//!   one catalog per claim, its children not followed but queued in the same round when new,
//!   the result written under the claim's fence ([`Frontier::write_claimed`]);
//! * **complete** read claims in groups: the statistics of the collections they touched are
//!   recomputed first, then the claims end and their figures are added to their rounds;
//! * **renew** this worker's claims and host slots every third of the claim TTL, so a worker
//!   killed with `-9` blocks its claims for at most one TTL, after which other workers claim
//!   them again (with a new fence: a late write of the killed worker would be refused; the
//!   takeover recomputes the statistics of the collections the catalog lists, which the
//!   killed worker may have written without completing).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use threddex_store::{
    Batch, BatchOutcome, CatalogState, Claim, ClaimToken, ErrorChain, FencedWrite, Frontier,
    RoundCounts, Source, Store,
};
use tokio::task::JoinSet;

use crate::classify::DEFAULT_MIN_INTERVAL;
use crate::sync::{SyncOptions, Syncer};
use crate::{BatchSink, CrawlError, HarvestReport, Harvester, Progress, RunOptions, Seed, rounds};

/// Settings of a worker.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// This worker's holder ID for claims and host slots (default `worker:host:pid:random`).
    pub holder: String,
    /// How long a claim (and a host slot) lasts unless renewed (default 30 s): the most work a
    /// killed worker can hold up.
    pub claim_ttl: Duration,
    /// How often rounds are opened, kept and closed (default 2 s).
    pub tick: Duration,
    /// Pause when nothing could be claimed (default 200 ms).
    pub poll: Duration,
    /// Read claims are completed at least this often (default 500 ms).
    pub complete_every: Duration,
    /// Interval of sources that set none (default 10 minutes).
    pub default_every: chrono::Duration,
    /// Stop once nothing is due, no round is open and no claim is held (`threddex worker
    /// --once`); otherwise run until shut down.
    pub once: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            holder: format!("worker:{}", crate::sync::default_holder()),
            claim_ttl: Duration::from_secs(30),
            tick: Duration::from_secs(2),
            poll: Duration::from_millis(200),
            complete_every: Duration::from_millis(500),
            default_every: DEFAULT_MIN_INTERVAL,
            once: false,
        }
    }
}

/// What a worker did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Catalogs claimed.
    pub claimed: u64,
    /// Claims read, written and completed.
    pub completed: u64,
    /// Claims whose write was refused because another worker had taken them over.
    pub stale: u64,
    /// Claims that ended in an error (left to expire and be claimed again).
    pub errors: u64,
    /// Rounds this worker opened.
    pub rounds_opened: u64,
    /// Rounds this worker closed.
    pub rounds_closed: u64,
    /// Figures of the claims this worker completed.
    pub counts: RoundCounts,
}

/// A worker over the shared frontier of a database.
pub struct Worker {
    pub(crate) harvester: Harvester,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) frontier: Arc<dyn Frontier>,
    pub(crate) sync: SyncOptions,
    pub(crate) opts: WorkerOptions,
    /// The catalogs whose claims this worker is still working on (renewed); a claim it gave
    /// up (an error) is dropped from here and left to expire, so another worker reads it.
    active: std::sync::Mutex<HashSet<String>>,
}

/// A claim read and written, waiting to be completed.
struct Done {
    token: ClaimToken,
    source_id: i64,
    report: HarvestReport,
}

enum Outcome {
    Done(Box<Done>),
    Stale,
    Error,
}

/// The sink of one claim: every batch is written under the claim's fence.
struct ClaimSink {
    frontier: Arc<dyn Frontier>,
    token: ClaimToken,
    stale: AtomicBool,
}

#[async_trait]
impl BatchSink for ClaimSink {
    async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError> {
        match self.frontier.write_claimed(&self.token, batch).await? {
            FencedWrite::Written(o) => Ok(o),
            FencedWrite::Stale => {
                self.stale.store(true, Ordering::Relaxed);
                Err(CrawlError::Internal(format!(
                    "the claim of {} was taken over by another worker",
                    self.token.url
                )))
            }
        }
    }
}

impl Worker {
    /// A worker crawling with `harvester` (built with [`Harvester::with_shared_hosts`] for
    /// limits shared between processes) into `store`, over `frontier` (the same database).
    /// `sync` gives the classification settings, the lease TTL of rounds and the clock.
    pub fn new(
        harvester: Harvester,
        store: Arc<dyn Store>,
        frontier: Arc<dyn Frontier>,
        sync: SyncOptions,
        opts: WorkerOptions,
    ) -> Self {
        Self {
            harvester,
            store,
            frontier,
            sync,
            opts,
            active: std::sync::Mutex::new(HashSet::new()),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The options in use.
    pub fn options(&self) -> &WorkerOptions {
        &self.opts
    }

    /// The crawler (for refreshes on demand that share its host limits).
    pub fn harvester(&self) -> &Harvester {
        &self.harvester
    }

    pub(crate) fn syncer(&self) -> Syncer {
        Syncer::new(
            self.harvester.clone(),
            Arc::clone(&self.store),
            self.sync.clone(),
        )
    }

    fn run_options(&self) -> RunOptions {
        RunOptions {
            clock: Arc::clone(&self.sync.clock),
            grace: self.sync.grace,
            max_interval: self.sync.max_interval,
            known_children: None,
            descend_unchanged: false,
            follow_children: false,
            changed_stats_only: true,
            only_new_children: true,
        }
    }

    /// Run until `shutdown` completes (or, with `once`, until there is nothing left to do).
    /// At shutdown the claims still held are given back so other workers take them at once.
    pub async fn run<F>(self, shutdown: F) -> Result<WorkerReport, CrawlError>
    where
        F: Future<Output = ()> + Send,
    {
        let this = Arc::new(self);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut report = WorkerReport::default();
        let renewer = this.spawn_renewer();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut done: Vec<Done> = Vec::new();
        let mut sources: Arc<HashMap<i64, Source>> = Arc::new(HashMap::new());
        let mut next_tick = tokio::time::Instant::now();
        // `once`: stop after two schedule passes in a row found nothing open or due (the
        // first may run before another worker's new round is visible).
        let mut idle_passes = 0u32;
        let mut rounds_open = false;
        let mut last_complete = tokio::time::Instant::now();
        let concurrency = this.harvester.config().concurrency;
        let result = loop {
            if tokio::time::Instant::now() >= next_tick {
                match this.schedule(&mut report).await {
                    Ok((s, open)) => {
                        sources = Arc::new(s);
                        idle_passes = if open == 0 { idle_passes + 1 } else { 0 };
                        rounds_open = open > 0;
                    }
                    Err(e) => {
                        tracing::warn!(error = %ErrorChain(&e), "worker cannot schedule rounds")
                    }
                }
                next_tick = tokio::time::Instant::now() + this.opts.tick;
            }
            let free = concurrency.saturating_sub(tasks.len());
            let mut claimed = 0usize;
            if free > 0 {
                let limit = u32::try_from(free).unwrap_or(u32::MAX);
                match this
                    .frontier
                    .claim_catalogs(&this.opts.holder, this.opts.claim_ttl, limit)
                    .await
                {
                    Ok(claims) => {
                        claimed = claims.len();
                        report.claimed += claims.len() as u64;
                        for claim in claims {
                            this.active().insert(claim.token.url.clone());
                            let this = Arc::clone(&this);
                            let sources = Arc::clone(&sources);
                            tasks.spawn(async move { this.read_claim(claim, &sources).await });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %ErrorChain(&e), "worker cannot claim catalogs")
                    }
                }
            }
            if !done.is_empty()
                && (tasks.is_empty()
                    || done.len() >= concurrency * 4
                    || last_complete.elapsed() >= this.opts.complete_every)
            {
                this.complete(std::mem::take(&mut done), &mut report).await;
                last_complete = tokio::time::Instant::now();
            }
            if this.opts.once
                && idle_passes >= 2
                && tasks.is_empty()
                && claimed == 0
                && done.is_empty()
            {
                break Ok(());
            }
            if claimed > 0 && tasks.len() < concurrency {
                continue;
            }
            // Idle while a round is open: its last claims may just have ended, so look at the
            // rounds (and close the finished ones) at the next poll rather than the next tick.
            if rounds_open && claimed == 0 && tasks.is_empty() && done.is_empty() {
                next_tick = next_tick.min(tokio::time::Instant::now() + this.opts.poll);
            }
            let pause = if done.is_empty() {
                this.opts.poll
            } else {
                this.opts.complete_every.min(this.opts.poll)
            };
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Ok(Outcome::Done(d)) => done.push(*d),
                        Ok(Outcome::Stale) => report.stale += 1,
                        Ok(Outcome::Error) => report.errors += 1,
                        Err(e) => {
                            report.errors += 1;
                            tracing::error!(error = %e, "claim task failed");
                        }
                    }
                }
                () = tokio::time::sleep(pause) => {}
            }
        };
        // Stop reading; what was read and written is completed, the rest given back.
        tasks.abort_all();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Outcome::Done(d)) = joined {
                done.push(*d);
            }
        }
        if !done.is_empty() {
            this.complete(done, &mut report).await;
        }
        renewer.abort();
        if let Err(e) = this.frontier.release_claims(&this.opts.holder).await {
            tracing::warn!(error = %ErrorChain(&e), "cannot give back the claims (they expire)");
        }
        result.map(|()| report)
    }

    fn spawn_renewer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let ttl = self.opts.claim_ttl;
        tokio::spawn(async move {
            let every = (ttl / 3).max(Duration::from_millis(50));
            loop {
                tokio::time::sleep(every).await;
                let urls: Vec<String> = this.active().iter().cloned().collect();
                if let Err(e) = this
                    .frontier
                    .renew_claims(&this.opts.holder, &urls, ttl)
                    .await
                {
                    tracing::warn!(error = %ErrorChain(&e), "cannot renew the claims");
                }
            }
        })
    }

    /// Read one claimed catalog and write it under the claim.
    async fn read_claim(&self, claim: Claim, sources: &HashMap<i64, Source>) -> Outcome {
        let source_id = claim.state.source_id;
        let source = match sources.get(&source_id) {
            Some(s) => s.clone(),
            None => match self.store.list_sources().await {
                Ok(all) => match all.into_iter().find(|s| s.id == source_id) {
                    Some(s) => s,
                    None => return Outcome::Error,
                },
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "cannot read the sources");
                    return Outcome::Error;
                }
            },
        };
        let state: CatalogState = claim.state;
        let seed = Seed {
            url: state.url.clone(),
            parent: state.parent_url.clone(),
            depth: u32::try_from(state.depth).unwrap_or(0),
            prior: Some(state),
        };
        let sink = Arc::new(ClaimSink {
            frontier: Arc::clone(&self.frontier),
            token: claim.token.clone(),
            stale: AtomicBool::new(false),
        });
        let read = self
            .harvester
            .run(
                vec![seed],
                &source,
                Some(Arc::clone(&self.store)),
                Arc::clone(&sink) as Arc<dyn BatchSink>,
                Arc::new(Progress::default()),
                Arc::new(|_: &CatalogState| false),
                self.run_options(),
            )
            .await;
        match read {
            Ok(out) => Outcome::Done(Box::new(Done {
                token: claim.token,
                source_id,
                report: out.report,
            })),
            Err(_) if sink.stale.load(Ordering::Relaxed) => {
                self.active().remove(&claim.token.url);
                tracing::info!(url = %claim.token.url, "claim taken over by another worker; this read is dropped");
                Outcome::Stale
            }
            Err(e) => {
                self.active().remove(&claim.token.url);
                tracing::warn!(url = %claim.token.url, error = %ErrorChain(&e), "claim failed; it will be claimed again when it expires");
                Outcome::Error
            }
        }
    }

    /// End read claims: statistics of the collections they touched first, then the claims,
    /// then the rounds' figures.
    async fn complete(&self, done: Vec<Done>, report: &mut WorkerReport) {
        // What the reads changed (an unchanged listing costs no recount). What the first
        // reader of a taken-over claim wrote was recounted when the claim was taken over.
        let touched: BTreeSet<&str> = done
            .iter()
            .flat_map(|d| d.report.changed_collections.iter().map(String::as_str))
            .collect();
        let touched: Vec<String> = touched.into_iter().map(str::to_owned).collect();
        for chunk in touched.chunks(500) {
            if let Err(e) = self.store.refresh_collection_stats(chunk).await {
                // The claims are given up: they expire and are read again; the takeover
                // recomputes the statistics of what they wrote.
                tracing::warn!(error = %ErrorChain(&e), "cannot refresh collection statistics");
                let mut active = self.active();
                for d in &done {
                    active.remove(&d.token.url);
                }
                report.errors += done.len() as u64;
                return;
            }
        }
        let mut per_source: HashMap<i64, RoundCounts> = HashMap::new();
        for d in done {
            self.active().remove(&d.token.url);
            match self.frontier.complete_claim(&d.token).await {
                Ok(true) => {
                    let c = counts_of(&d.report);
                    per_source.entry(d.source_id).or_default().add(&c);
                    report.counts.add(&c);
                    report.completed += 1;
                }
                Ok(false) => report.stale += 1,
                Err(e) => {
                    tracing::warn!(url = %d.token.url, error = %ErrorChain(&e), "cannot complete a claim (it expires)");
                    report.errors += 1;
                }
            }
        }
        for (source_id, c) in per_source {
            if let Err(e) = self.frontier.add_round_counts(source_id, &c).await {
                tracing::warn!(source = source_id, error = %ErrorChain(&e), "cannot add to the round's figures");
            }
        }
    }

    /// Keep, close and open rounds; returns the sources by ID and how many rounds are open.
    async fn schedule(
        &self,
        report: &mut WorkerReport,
    ) -> Result<(HashMap<i64, Source>, usize), CrawlError> {
        let sources: HashMap<i64, Source> = self
            .store
            .list_sources()
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let open = self.frontier.open_rounds().await?;
        let mut still_open = 0usize;
        for round in &open {
            let Some(source) = sources.get(&round.source_id) else {
                continue;
            };
            if rounds::close(self, source, round).await? {
                report.rounds_closed += 1;
            } else {
                still_open += 1;
                rounds::keep_lease(self, round).await;
            }
        }
        let now = (self.sync.clock)();
        for source in sources.values() {
            if open.iter().any(|r| r.source_id == source.id)
                || !crate::scheduler::source_due(source, now, self.opts.default_every)
            {
                continue;
            }
            if rounds::open(self, source).await? {
                report.rounds_opened += 1;
                still_open += 1;
            }
        }
        Ok((sources, still_open))
    }
}

/// A claim's figures.
fn counts_of(r: &HarvestReport) -> RoundCounts {
    RoundCounts {
        catalogs: r.catalogs,
        failed: r.failed_count,
        not_modified: r.not_modified,
        granules: r.granules,
        granules_inserted: r.granules_inserted,
        granules_deleted: r.granules_deleted,
        catalogs_deleted: r.catalogs_deleted,
        requests: r.requests,
    }
}
