//! The walk: a depth-first frontier of catalog references, up to `concurrency` catalogs in
//! flight (each in its own task), and one writer task fed through a bounded channel.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use threddex_catalog::{Catalog, Limits, ParseError};
use threddex_store::{CatalogState, CatalogStatus, CatalogViews, ErrorChain, Store, View};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use crate::auth::Credentials;
use crate::batch::{CatalogOutput, RowBuilder, run_writer};
use crate::classify::{
    ChangeHint, ClassRules, ClassifyParams, Clock, NodeFacts, RevisitParams, change_hint,
    classify_with_reason, next_visit,
};
use crate::fetch::{Fetched, Validators};
use crate::urls::{host_key, normalize, url_key};
use crate::{BatchSink, CrawlError, HarvestReport, Inner, MAX_REPORTED_FAILURES, Progress, sorted};

/// Bodies larger than this are parsed on the blocking pool.
const BLOCKING_PARSE_BYTES: usize = 256 * 1024;
/// Catalog outputs buffered between the fetchers and the writer.
const CHANNEL_CAPACITY: usize = 64;
/// A partly filled batch is written after this long.
const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// A catalog to visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seed {
    /// Absolute catalog URL (normalised on entry).
    pub url: String,
    /// The catalog that referenced it.
    pub parent: Option<String>,
    /// Distance from the start catalog.
    pub depth: u32,
    /// Its stored state, if known (validators for the conditional request, class, hash).
    pub prior: Option<CatalogState>,
}

pub(crate) struct RunParams {
    pub source_id: i64,
    pub authority: Option<String>,
    pub select: Vec<Regex>,
    pub skip: Vec<Regex>,
    pub store: Option<Arc<dyn Store>>,
    pub filter: Arc<dyn Fn(&CatalogState) -> bool + Send + Sync>,
    pub policy: RunPolicy,
    /// The source's credentials (sent to its origin only).
    pub auth: Option<Arc<Credentials>>,
}

/// Classification and expiry settings of one run.
#[derive(Clone)]
pub(crate) struct RunPolicy {
    pub clock: Clock,
    pub last_success: Option<DateTime<Utc>>,
    pub grace: chrono::Duration,
    pub rules: ClassRules,
    pub revisit: RevisitParams,
    /// Stored children of each catalog (by parent URL), for expiry: a child a re-read parent
    /// no longer lists is deleted with its subtree. `None`: no expiry (plain harvest).
    pub known_children: Option<Arc<HashMap<String, Vec<String>>>>,
    /// Visit the stored children of a catalog that answered 304 (harvest: the whole tree).
    pub descend_unchanged: bool,
    /// Visit the children found (false: read the seeds only; new children stay pending).
    pub follow_children: bool,
    /// A stored child of a re-read catalog is neither visited nor its state read (every
    /// stored catalog to re-read is a seed).
    pub only_new_children: bool,
}

impl RunPolicy {
    fn params(&self, now: DateTime<Utc>) -> ClassifyParams {
        ClassifyParams {
            now,
            last_success: self.last_success,
            grace: self.grace,
        }
    }
}

struct Ctx {
    inner: Arc<Inner>,
    p: RunParams,
    progress: Arc<Progress>,
    tx: mpsc::Sender<CatalogOutput>,
    now: DateTime<Utc>,
    visited: Mutex<HashSet<u128>>,
    failed: Mutex<Vec<(String, String)>>,
    seed_failures: Mutex<Vec<(String, String)>>,
    /// The child catalogs each catalog read in full (200, parsed) in this run lists.
    listed: Mutex<HashMap<String, HashSet<String>>>,
    /// Catalogs that answered 404/410: gone when their parent's listing (read in this run)
    /// no longer has them, a failure otherwise. Decided when the walk ends.
    maybe_gone: Mutex<Vec<(Seed, String)>>,
    /// Set when the writer stopped (store error): stop launching work.
    abort: AtomicBool,
    /// References not followed because they lie below `max_depth`.
    beyond_depth: AtomicU64,
    /// What the rows built from a catalog body depend on besides the body (see
    /// [`derivation_fingerprint`]).
    fingerprint: String,
}

pub(crate) struct RunOutput {
    pub report: HarvestReport,
    pub seed_failures: Vec<(String, String)>,
    pub started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Ctx {
    /// Mark a URL as seen; false when it was seen already.
    fn claim(&self, url: &str) -> bool {
        lock(&self.visited).insert(url_key(url))
    }

    fn record_failure(&self, seed: &Seed, reason: &str) {
        Progress::add(&self.progress.catalogs_failed, 1);
        let mut f = lock(&self.failed);
        if f.len() < MAX_REPORTED_FAILURES {
            f.push((seed.url.clone(), reason.to_string()));
        }
        drop(f);
        if seed.parent.is_none() {
            lock(&self.seed_failures).push((seed.url.clone(), reason.to_string()));
        }
    }

    async fn send(&self, out: CatalogOutput) {
        if self.tx.send(out).await.is_err() {
            self.abort.store(true, Ordering::Relaxed);
        }
    }
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    params: RunParams,
    seeds: Vec<Seed>,
    sink: Arc<dyn BatchSink>,
    progress: Arc<Progress>,
) -> Result<RunOutput, CrawlError> {
    let started = Instant::now();
    let before = progress.snapshot();
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let writer = tokio::spawn(run_writer(
        rx,
        sink,
        inner.cfg.batch_granules,
        FLUSH_EVERY,
        Arc::clone(&progress),
    ));
    let concurrency = inner.cfg.concurrency;
    let follow_children = params.policy.follow_children;
    let max_catalogs = inner.cfg.max_catalogs;
    let now = (params.policy.clock)();
    let fingerprint = derivation_fingerprint(&inner.deriver, &params);
    let ctx = Arc::new(Ctx {
        inner,
        p: params,
        progress: Arc::clone(&progress),
        tx,
        now,
        visited: Mutex::new(HashSet::new()),
        failed: Mutex::new(Vec::new()),
        seed_failures: Mutex::new(Vec::new()),
        listed: Mutex::new(HashMap::new()),
        maybe_gone: Mutex::new(Vec::new()),
        abort: AtomicBool::new(false),
        beyond_depth: AtomicU64::new(0),
        fingerprint,
    });

    // Depth-first: pop from the end. Seeds are pushed reversed so the first is visited first.
    let mut stack: Vec<Seed> = Vec::with_capacity(seeds.len());
    for s in seeds.into_iter().rev() {
        if ctx.claim(&s.url) {
            Progress::add(&progress.catalogs_queued, 1);
            stack.push(s);
        }
    }
    let mut launched: u64 = 0;
    let mut tasks: JoinSet<Vec<Seed>> = JoinSet::new();
    let mut internal: Option<String> = None;
    loop {
        while tasks.len() < concurrency
            && max_catalogs.is_none_or(|m| launched < m)
            && !ctx.abort.load(Ordering::Relaxed)
        {
            let Some(seed) = stack.pop() else { break };
            launched += 1;
            tasks.spawn(visit(Arc::clone(&ctx), seed));
        }
        match tasks.join_next().await {
            None => break,
            Some(Ok(children)) if follow_children => {
                // Reverse so that document order is kept when popping.
                stack.extend(children.into_iter().rev());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::error!(error = %e, "catalog task failed");
                internal.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let unvisited = if max_catalogs.is_some_and(|m| launched >= m) {
        stack.len() as u64
    } else {
        0
    };
    if unvisited > 0 {
        tracing::info!(
            left = unvisited,
            "catalog budget reached; references left unvisited"
        );
    }
    drop(stack);
    let gone = settle_missing(&ctx).await;

    let Ok(ctx) = Arc::try_unwrap(ctx) else {
        return Err(CrawlError::Internal("walk context still shared".into()));
    };
    let Ctx {
        tx,
        failed,
        seed_failures,
        beyond_depth,
        ..
    } = ctx;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| CrawlError::Internal(format!("writer task: {e}")))??;
    if let Some(e) = internal {
        return Err(CrawlError::Internal(e));
    }

    let delta = progress.snapshot().since(&before);
    let outcome = written.outcome;
    let emitted = written.collections;
    let report = HarvestReport {
        catalogs: delta.catalogs_done,
        failed: failed.into_inner().unwrap_or_else(|p| p.into_inner()),
        failed_count: delta.catalogs_failed,
        not_modified: delta.not_modified,
        unchanged: delta.unchanged,
        disallowed: delta.disallowed,
        granules: delta.granules,
        granules_inserted: outcome.granules_inserted,
        granules_deleted: outcome.granules_deleted,
        catalogs_deleted: outcome.catalogs_deleted,
        gone,
        collections: emitted.len() as u64,
        collections_inserted: outcome.collections_inserted,
        requests: delta.requests,
        retries: delta.retries,
        elapsed: started.elapsed(),
        walk_elapsed: started.elapsed(),
        touched_collections: sorted(&emitted),
        changed_collections: outcome.changed_collections,
        records: Default::default(),
        unvisited,
        beyond_max_depth: beyond_depth.into_inner(),
    };
    Ok(RunOutput {
        report,
        seed_failures: seed_failures
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        started,
    })
}

/// The state written for a visited catalog, starting from what was known.
fn base_state(ctx: &Ctx, seed: &Seed) -> CatalogState {
    let mut s = match &seed.prior {
        Some(p) => p.clone(),
        None => CatalogState::pending(seed.url.clone(), ctx.p.source_id, None, 0),
    };
    s.url.clone_from(&seed.url);
    s.source_id = ctx.p.source_id;
    s.parent_url.clone_from(&seed.parent);
    s.depth = i32::try_from(seed.depth).unwrap_or(i32::MAX);
    s.last_fetch = Some((ctx.p.policy.clock)());
    s
}

/// Visit one catalog; returns the children to visit.
async fn visit(ctx: Arc<Ctx>, seed: Seed) -> Vec<Seed> {
    let result = visit_inner(&ctx, &seed).await;
    Progress::add(&ctx.progress.catalogs_done, 1);
    result
}

async fn visit_inner(ctx: &Arc<Ctx>, seed: &Seed) -> Vec<Seed> {
    let url = match Url::parse(&seed.url) {
        Ok(u) => u,
        Err(e) => {
            let reason = format!("invalid URL: {e}");
            fail(ctx, seed, reason).await;
            return Vec::new();
        }
    };
    let fetcher = &ctx.inner.fetcher;
    let auth = ctx.p.auth.as_deref();
    if !fetcher.robots_allows(&url, auth, &ctx.progress).await {
        Progress::add(&ctx.progress.disallowed, 1);
        tracing::info!(url = %seed.url, "disallowed by robots.txt");
        if seed.parent.is_none() {
            lock(&ctx.seed_failures).push((seed.url.clone(), "disallowed by robots.txt".into()));
        }
        return Vec::new();
    }
    // A conditional request only where the stored rows were built the way this run builds
    // them: after an upgrade or a change of the source's rules the body is read again.
    let validators = seed
        .prior
        .as_ref()
        .filter(|p| {
            p.content_hash
                .as_deref()
                .is_some_and(|h| hash_parts(h).0 == Some(ctx.fingerprint.as_str()))
        })
        .map(|p| Validators {
            etag: p.etag.clone(),
            last_modified: p.last_modified.clone(),
        })
        .unwrap_or_default();
    let fetched = fetcher
        .fetch_catalog(&url, &validators, auth, &ctx.progress)
        .await;
    match fetched {
        Err(e) if e.gone && seed.parent.is_some() => missing(ctx, seed, e.reason).await,
        Err(e) => {
            fail(ctx, seed, e.reason).await;
            Vec::new()
        }
        Ok(Fetched::NotModified) => {
            Progress::add(&ctx.progress.not_modified, 1);
            let mut state = base_state(ctx, seed);
            state.status = CatalogStatus::NotModified;
            state.error = None;
            let facts = NodeFacts {
                url: &seed.url,
                name: None,
                dynamic: false,
                dated_children: None,
                prior_class: seed.prior.as_ref().map(|p| p.class),
            };
            let policy = &ctx.p.policy;
            let (class, reason) =
                classify_with_reason(&facts, &policy.params(ctx.now), &policy.rules);
            state.class = class;
            // Unchanged: the listing, and so when it should change next, is what was read
            // last time (kept in `next_change`).
            state.next_visit = next_visit(
                class,
                reason,
                seed.prior.as_ref(),
                false,
                ctx.now,
                state.expires,
                &policy.revisit,
                state.next_change,
            );
            let mut out = CatalogOutput {
                catalogs: vec![state],
                ..CatalogOutput::default()
            };
            // A harvest goes on below an unchanged catalog: its stored children are read
            // again, each with its own conditional request, so that changes deeper in the
            // tree are found. (A sync picks the nodes it re-reads itself.)
            let seeds = match (&ctx.p.store, policy.descend_unchanged) {
                (Some(store), true) => {
                    let kids = store.child_catalogs(&seed.url).await.unwrap_or_else(|e| {
                        tracing::warn!(url = %seed.url, error = %e, "cannot read stored children");
                        Vec::new()
                    });
                    child_seeds(ctx, seed, kids, None, &mut out.catalogs).await
                }
                _ => Vec::new(),
            };
            ctx.send(out).await;
            seeds
        }
        Ok(Fetched::Body {
            final_url,
            body,
            etag,
            last_modified,
        }) => {
            let processed = if body.len() > BLOCKING_PARSE_BYTES {
                let c = Arc::clone(ctx);
                let key = seed.url.clone();
                match tokio::task::spawn_blocking(move || process(&c, &key, &final_url, &body))
                    .await
                {
                    Ok(r) => r,
                    Err(e) => Err(format!("parser task failed: {e}")),
                }
            } else {
                process(ctx, &seed.url, &final_url, &body)
            };
            match processed {
                Err(reason) => {
                    fail(ctx, seed, reason).await;
                    Vec::new()
                }
                Ok(p) => finish(ctx, seed, p, etag, last_modified).await,
            }
        }
    }
}

/// A catalog that answered 404/410. Whether it is gone (its parent no longer lists it: the
/// server removed it, e.g. an expired day folder) or failed (its parent still lists it) is
/// decided when the walk ends, by the parent's listing read in this run; the parent is
/// visited now when the run has not reached it yet. Nothing is written until then.
async fn missing(ctx: &Ctx, seed: &Seed, reason: String) -> Vec<Seed> {
    tracing::debug!(url = %seed.url, %reason, "catalog missing; checking its parent's listing");
    lock(&ctx.maybe_gone).push((seed.clone(), reason));
    let Some(parent) = seed.parent.clone() else {
        return Vec::new();
    };
    if !ctx.claim(&parent) {
        return Vec::new();
    }
    let prior = match &ctx.p.store {
        Some(store) => store.catalog(&parent).await.unwrap_or_else(|e| {
            tracing::warn!(url = %parent, error = %ErrorChain(&e), "cannot read stored state");
            None
        }),
        None => None,
    };
    Progress::add(&ctx.progress.catalogs_queued, 1);
    vec![Seed {
        url: parent,
        parent: prior.as_ref().and_then(|p| p.parent_url.clone()),
        depth: seed.depth.saturating_sub(1),
        prior,
    }]
}

/// Decides the catalogs that answered 404/410 (see [`missing`]): gone ones are deleted with
/// their subtree and counted (no failure); the others are failures, which delete nothing.
/// Returns how many were gone.
async fn settle_missing(ctx: &Ctx) -> u64 {
    let mut pending = std::mem::take(&mut *lock(&ctx.maybe_gone));
    let mut gone: Vec<String> = Vec::new();
    let mut failed = Vec::new();
    {
        let listed = lock(&ctx.listed);
        // A catalog is gone when its parent's listing dropped it, or when its parent is gone
        // itself (a day folder past retention takes its hour folders with it): repeat until
        // nothing more is decided.
        let mut gone_set: HashSet<String> = HashSet::new();
        loop {
            let before = pending.len();
            pending.retain(|(seed, _)| {
                let Some(parent) = seed.parent.as_ref() else {
                    return true;
                };
                let dropped = match listed.get(parent) {
                    Some(kids) => !kids.contains(&seed.url),
                    None => gone_set.contains(parent),
                };
                if dropped {
                    gone_set.insert(seed.url.clone());
                    gone.push(seed.url.clone());
                }
                !dropped
            });
            if pending.len() == before {
                break;
            }
        }
        // Listed by a parent read in this run, or no parent listing to decide by.
        failed.extend(pending);
    }
    for (seed, reason) in failed {
        fail(ctx, &seed, reason).await;
    }
    let n = gone.len() as u64;
    if !gone.is_empty() {
        for url in &gone {
            tracing::info!(%url, "catalog gone from the server and from its parent's listing");
        }
        ctx.send(CatalogOutput {
            delete_trees: gone,
            ..CatalogOutput::default()
        })
        .await;
    }
    n
}

async fn fail(ctx: &Ctx, seed: &Seed, reason: String) {
    tracing::warn!(url = %seed.url, %reason, "catalog failed");
    ctx.record_failure(seed, &reason);
    let mut state = base_state(ctx, seed);
    state.status = CatalogStatus::Failed;
    state.error = Some(reason);
    ctx.send(CatalogOutput {
        catalogs: vec![state],
        ..CatalogOutput::default()
    })
    .await;
}

/// What the parse step hands back.
struct Processed {
    hash: String,
    name: Option<String>,
    expires: Option<DateTime<Utc>>,
    rows: crate::batch::Rows,
    /// The catalog's virtual views (not granules, not followed).
    views: Vec<View>,
    children: Vec<String>,
    /// The cadence of the times the listing carries.
    hint: Option<ChangeHint>,
}

/// Parse a body and build its rows and the list of child catalog URLs (normalised, skip
/// filter applied, host rule applied; not yet de-duplicated).
fn process(ctx: &Ctx, key: &str, final_url: &Url, body: &[u8]) -> Result<Processed, String> {
    let mut digest = Sha256::new();
    if final_url.as_str() != key {
        // Access URLs resolve against where the body came from.
        digest.update(final_url.as_str().as_bytes());
        digest.update([0]);
    }
    digest.update(body);
    let hash = format!("{}:{}", ctx.fingerprint, hex(&digest.finalize()));
    let limits = Limits {
        max_bytes: ctx.inner.cfg.max_body_bytes,
        ..Limits::default()
    };
    let cat =
        threddex_catalog::parse_catalog_with(body, final_url, &limits).map_err(|e| match e {
            ParseError::Html => "HTML page instead of catalog XML".to_string(),
            other => format!("invalid catalog: {other}"),
        })?;
    let fallback = match &ctx.p.authority {
        Some(a) => a.clone(),
        None => {
            let host = final_url.host_str().unwrap_or("");
            match final_url.port() {
                Some(port) => threddex_ids::authority_from_host(&format!("{host}:{port}")),
                None => threddex_ids::authority_from_host(host),
            }
        }
    };
    let builder = RowBuilder {
        deriver: &ctx.inner.deriver,
        fallback_authority: &fallback,
        select: &ctx.p.select,
        skip: &ctx.p.skip,
        source_id: ctx.p.source_id,
    };
    let rows = builder.rows(&cat, key);
    let views = crate::views::views_of(&cat, &ctx.p.skip, ctx.now);
    let children = child_urls(ctx, &cat, final_url);
    let mut times: Vec<DateTime<Utc>> = rows.granules.iter().filter_map(|g| g.start).collect();
    for r in cat.all_catalog_refs() {
        if r.dynamic.is_some() {
            continue;
        }
        let raw = r.id.as_deref().unwrap_or(r.href.path());
        if let Some(t) = ctx.inner.deriver.derive(raw, "").start {
            times.push(t);
        }
    }
    let hint = change_hint(&mut times);
    Ok(Processed {
        hash,
        name: cat.name.clone(),
        expires: cat.expires,
        rows,
        views,
        children,
        hint,
    })
}

fn child_urls(ctx: &Ctx, cat: &Catalog, final_url: &Url) -> Vec<String> {
    let own_host = host_key(final_url);
    let skip = &ctx.p.skip;
    let mut out = Vec::new();
    for r in cat.all_catalog_refs() {
        // Dynamic views (latest.xml resolvers, FMRC run/offset views) only repeat datasets
        // listed in the plain file catalogs: recorded as views of this catalog, not walked.
        if r.dynamic.is_some() {
            continue;
        }
        let fields = [
            Some(r.href.as_str()),
            Some(r.raw_href.as_str()),
            r.title.as_deref(),
            r.name.as_deref(),
            r.id.as_deref(),
        ];
        if skip
            .iter()
            .any(|re| fields.iter().flatten().any(|f| re.is_match(f)))
        {
            continue;
        }
        if !matches!(r.href.scheme(), "http" | "https") || r.href.host_str().is_none() {
            continue;
        }
        let u = normalize(r.href.clone());
        if !ctx.inner.cfg.follow_other_hosts && host_key(&u) != own_host {
            tracing::debug!(href = %u, "reference to another host not followed");
            continue;
        }
        out.push(u.to_string());
    }
    out
}

/// A short digest of everything besides the body that the rows of a catalog depend on: the
/// crawler's version (a new release may read the same body differently), the source, its
/// authority, select and skip patterns and ID rules. Stored as the first part of a catalog's
/// `content_hash` (`FINGERPRINT:BODY_SHA256`); a catalog re-read under another fingerprint is
/// fetched without validators and written again.
fn derivation_fingerprint(deriver: &threddex_ids::Deriver, p: &RunParams) -> String {
    let mut d = Sha256::new();
    let mut field = |s: &str| {
        d.update(s.len().to_le_bytes());
        d.update(s.as_bytes());
    };
    field(env!("CARGO_PKG_VERSION"));
    field(&p.source_id.to_string());
    field(p.authority.as_deref().unwrap_or("\0"));
    for (what, list) in [("select", &p.select), ("skip", &p.skip)] {
        field(what);
        for re in list {
            field(re.as_str());
        }
    }
    field("rules");
    for rule in deriver.rule_patterns() {
        field(rule);
    }
    let digest = d.finalize();
    hex(digest.get(..8).unwrap_or(&digest))
}

/// A stored `content_hash` as (fingerprint, body digest); a hash from before fingerprints has
/// none.
fn hash_parts(h: &str) -> (Option<&str>, &str) {
    match h.split_once(':') {
        Some((fp, body)) => (Some(fp), body),
        None => (None, h),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Record a parsed catalog, discover its children, send its rows; returns the children.
async fn finish(
    ctx: &Ctx,
    seed: &Seed,
    p: Processed,
    etag: Option<String>,
    last_modified: Option<String>,
) -> Vec<Seed> {
    let progress = &ctx.progress;
    Progress::add(&progress.datasets, p.rows.datasets);
    Progress::add(&progress.granules, p.rows.granules.len() as u64);

    let mut state = base_state(ctx, seed);
    let prior_hash = seed.prior.as_ref().and_then(|s| s.content_hash.as_deref());
    // The server's listing changed (whatever the rules that read it).
    let changed = prior_hash.map(|h| hash_parts(h).1) != Some(hash_parts(&p.hash).1);
    // The stored rows are exactly what this body gives: the same body read with the same
    // rules, written in one transaction with this hash. Like a 304, nothing is rewritten.
    let rows_stored = prior_hash == Some(p.hash.as_str());
    if changed {
        state.last_changed = state.last_fetch;
    }
    state.status = CatalogStatus::Ok;
    state.error = None;
    state.etag = etag;
    state.last_modified = last_modified;
    state.content_hash = Some(p.hash);
    state.granule_count = i64::try_from(p.rows.granules.len()).unwrap_or(i64::MAX);
    state.expires = p.expires;
    state.next_change = p.hint.and_then(|h| h.next_change());
    let dated_children = p.children.iter().any(|c| {
        Url::parse(c)
            .ok()
            .and_then(|u| threddex_ids::path_date(u.path()))
            .is_some()
    });
    let facts = NodeFacts {
        url: &seed.url,
        name: p.name.as_deref(),
        dynamic: false,
        dated_children: Some(dated_children),
        prior_class: seed.prior.as_ref().map(|p| p.class),
    };
    let policy = &ctx.p.policy;
    let (class, reason) = classify_with_reason(&facts, &policy.params(ctx.now), &policy.rules);
    state.class = class;
    state.next_visit = next_visit(
        class,
        reason,
        seed.prior.as_ref(),
        changed,
        ctx.now,
        state.expires,
        &policy.revisit,
        state.next_change,
    );

    // The listing is authoritative for its children: stored children it no longer
    // references go, with their subtrees.
    let listed: HashSet<String> = p.children.iter().cloned().collect();
    let mut delete_trees = Vec::new();
    let stored_kids = match (&policy.known_children, &ctx.p.store) {
        (Some(known), _) => known.get(&seed.url).cloned().unwrap_or_default(),
        (None, Some(store)) if seed.prior.is_some() => {
            store.child_catalogs(&seed.url).await.unwrap_or_else(|e| {
                tracing::warn!(url = %seed.url, error = %ErrorChain(&e), "cannot read stored children");
                Vec::new()
            })
        }
        _ => Vec::new(),
    };
    for k in &stored_kids {
        if !listed.contains(k) {
            tracing::info!(parent = %seed.url, child = %k, "catalog vanished from its parent: expiring");
            delete_trees.push(k.clone());
        }
    }
    lock(&ctx.listed).insert(seed.url.clone(), listed);

    let mut out = if rows_stored {
        Progress::add(&ctx.progress.unchanged, 1);
        CatalogOutput {
            catalogs: vec![state],
            delete_trees,
            // Views whose coverage runs to `present` are resolved anew.
            views: (!p.views.is_empty()).then(|| CatalogViews {
                catalog_url: seed.url.clone(),
                views: p.views,
            }),
            ..CatalogOutput::default()
        }
    } else {
        CatalogOutput {
            catalogs: vec![state],
            collections: p.rows.collections,
            granules: p.rows.granules,
            complete: Some(seed.url.clone()),
            delete_trees,
            views: Some(CatalogViews {
                catalog_url: seed.url.clone(),
                views: p.views,
            }),
        }
    };

    let known: Option<HashSet<String>> = policy
        .only_new_children
        .then(|| stored_kids.into_iter().collect());
    let seeds = child_seeds(ctx, seed, p.children, known.as_ref(), &mut out.catalogs).await;
    ctx.send(out).await;
    seeds
}

/// The children of `seed` to visit: each claimed once per run, with its stored state (for
/// its conditional request) and the visit filter applied; beyond `max_depth` they are only
/// counted. A child never seen before gets a pending state in `pending`. Children in `known`
/// (stored under `seed`, with [`RunPolicy::only_new_children`]) are skipped without reading
/// their state.
async fn child_seeds(
    ctx: &Ctx,
    seed: &Seed,
    children: Vec<String>,
    known: Option<&HashSet<String>>,
    pending: &mut Vec<CatalogState>,
) -> Vec<Seed> {
    let child_depth = seed.depth.saturating_add(1);
    let mut seeds = Vec::new();
    if ctx.inner.cfg.max_depth.is_some_and(|m| child_depth > m) {
        // Counted, not claimed: a shorter path may still reach them in this run.
        let visited = lock(&ctx.visited);
        let n = children
            .iter()
            .filter(|c| !visited.contains(&url_key(c)))
            .count();
        drop(visited);
        ctx.beyond_depth.fetch_add(n as u64, Ordering::Relaxed);
        return seeds;
    }
    for child in children {
        if !ctx.claim(&child) || known.is_some_and(|k| k.contains(&child)) {
            continue;
        }
        let prior = match &ctx.p.store {
            Some(store) => match store.catalog(&child).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(url = %child, error = %ErrorChain(&e), "cannot read stored state");
                    None
                }
            },
            None => None,
        };
        if let Some(ps) = &prior
            && !(ctx.p.filter)(ps)
        {
            continue;
        }
        if prior.is_none() {
            pending.push(CatalogState::pending(
                child.clone(),
                ctx.p.source_id,
                Some(seed.url.clone()),
                i32::try_from(child_depth).unwrap_or(i32::MAX),
            ));
        }
        Progress::add(&ctx.progress.catalogs_queued, 1);
        seeds.push(Seed {
            url: child,
            parent: Some(seed.url.clone()),
            depth: child_depth,
            prior,
        });
    }
    seeds
}
