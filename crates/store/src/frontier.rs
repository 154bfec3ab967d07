//! The shared crawl frontier and the politeness shared between processes (Postgres only).
//!
//! Several `threddex worker` processes crawl the sources of one database together. A source's
//! harvest or sync is a *round*: opening it queues the source's due catalogs; workers *claim*
//! queued catalogs in short transactions (`FOR UPDATE SKIP LOCKED`), read them, and write what
//! they read with [`Frontier::write_claimed`], which checks the claim's *fence* in the writing
//! transaction: each claim of a catalog increments its fence, so a worker whose claim expired
//! and was taken over by another cannot overwrite the newer result. New child catalogs a read
//! finds are queued in the same round. The worker that finds nothing queued closes the round.
//!
//! These capabilities are not part of [`crate::Store`]: the embedded SQLite store stays a
//! single-process store. The binary hands them to the crawler for Postgres databases.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Batch, BatchOutcome, CatalogState, Result, Timestamp};

/// A catalog claimed from the frontier.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The catalog's stored state when it was claimed.
    pub state: CatalogState,
    /// The claim: who holds it and its fence.
    pub token: ClaimToken,
    /// When the claim expires unless renewed (database clock).
    pub expires_at: Timestamp,
}

/// What a write under a claim is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimToken {
    /// The claimed catalog's URL.
    pub url: String,
    /// The claimant (worker holder ID).
    pub holder: String,
    /// The fence the claim was taken with: a write is accepted only while the catalog's fence
    /// is still this one.
    pub fence: i64,
}

/// What [`Frontier::write_claimed`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FencedWrite {
    /// The claim still held: the batch was written.
    Written(BatchOutcome),
    /// The claim was taken over (or the catalog deleted) meanwhile: nothing was written.
    Stale,
}

/// A round to open: a harvest or sync of one source spread over the workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRound {
    /// The source.
    pub source_id: i64,
    /// The holder ID under which the round holds the source's sync lease.
    pub lease_holder: String,
    /// The crawl run recorded for it, if any.
    pub run_id: Option<i64>,
}

/// An open round with its counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundInfo {
    /// The source.
    pub source_id: i64,
    /// The holder ID of the round's sync lease.
    pub lease_holder: String,
    /// Its crawl run.
    pub run_id: Option<i64>,
    /// When it was opened (database clock).
    pub opened_at: Option<Timestamp>,
    /// Counters added by the workers as their claims ended.
    pub counts: RoundCounts,
    /// Some write of the round deleted granules or catalogs.
    pub deletions: bool,
}

/// Figures of the claims of a round (added up over every worker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCounts {
    /// Catalogs read (parsed, not modified or failed).
    pub catalogs: u64,
    /// Catalogs that failed.
    pub failed: u64,
    /// Catalogs answered with 304.
    pub not_modified: u64,
    /// Granules listed.
    pub granules: u64,
    /// Granules new in the store.
    pub granules_inserted: u64,
    /// Granules deleted.
    pub granules_deleted: u64,
    /// Catalogs deleted with expired subtrees.
    pub catalogs_deleted: u64,
    /// HTTP requests sent.
    pub requests: u64,
}

impl RoundCounts {
    /// Add `other` to these counts.
    pub fn add(&mut self, other: &RoundCounts) {
        self.catalogs += other.catalogs;
        self.failed += other.failed;
        self.not_modified += other.not_modified;
        self.granules += other.granules;
        self.granules_inserted += other.granules_inserted;
        self.granules_deleted += other.granules_deleted;
        self.catalogs_deleted += other.catalogs_deleted;
        self.requests += other.requests;
    }
}

/// The shared frontier of crawl rounds (see the module docs).
#[async_trait]
pub trait Frontier: Send + Sync {
    /// Open a round: record it, queue the stored catalogs `queue` (URLs) of the source and
    /// store and queue `new` (pending catalogs not stored yet, e.g. the start catalog; kept as
    /// they are when stored meanwhile, and queued). False (and nothing done) when the source
    /// has an open round already.
    async fn open_round(
        &self,
        round: &NewRound,
        queue: &[String],
        new: &[CatalogState],
    ) -> Result<bool>;

    /// The open rounds, by source ID.
    async fn open_rounds(&self) -> Result<Vec<RoundInfo>>;

    /// Claim at most `limit` queued catalogs for `holder` until now + `ttl`, shallowest first,
    /// skipping catalogs claimed by others (until their claim expires) and catalogs of rounds
    /// that do not hold their source's sync lease. Each claim increments the catalog's fence.
    /// A catalog whose previous claim did not complete (it expired, or was given back with
    /// [`Frontier::release_claims`]) is taken over: in the claiming transaction the statistics
    /// of the collections its stored granules belong to are recomputed, since the previous
    /// holder may have written its read without the recomputation that precedes completion
    /// (and the new holder's read may write no granules, e.g. a 304).
    async fn claim_catalogs(&self, holder: &str, ttl: Duration, limit: u32) -> Result<Vec<Claim>>;

    /// Extend the claims of `holder` on the catalogs `urls` (the ones it is still working on:
    /// a claim it gave up is left to expire) and every in-flight slot it holds to now +
    /// `ttl`; returns how many claims were extended.
    async fn renew_claims(&self, holder: &str, urls: &[String], ttl: Duration) -> Result<u64>;

    /// Write `batch` for the claimed catalog, atomically with a check of the claim: when the
    /// catalog's fence is no longer the token's (another worker claimed it since) or the
    /// catalog is gone, nothing is written ([`FencedWrite::Stale`]). The batch's catalog
    /// states other than the claimed one's are newly found children: inserted as pending and
    /// queued in the round unless stored already (never overwritten).
    async fn write_claimed(&self, token: &ClaimToken, batch: Batch) -> Result<FencedWrite>;

    /// End a claim whose result is written: the catalog leaves the frontier. False when the
    /// claim was taken over meanwhile.
    async fn complete_claim(&self, token: &ClaimToken) -> Result<bool>;

    /// Give back the claims `holder` still holds (at shutdown): others may claim them at once
    /// (as a takeover, see [`Frontier::claim_catalogs`]); `holder` can no longer write under
    /// them.
    async fn release_claims(&self, holder: &str) -> Result<u64>;

    /// Add the figures of ended claims to the source's open round.
    async fn add_round_counts(&self, source_id: i64, counts: &RoundCounts) -> Result<()>;

    /// Close the source's round held under `lease_holder` when none of its catalogs is queued
    /// any more: the round row is deleted and returned (to the one caller that closed it) and,
    /// in the same transaction, the source's `last_sync_at` set to `at` (so no new round opens
    /// before the closer has finished this one). None when catalogs are still queued, or the
    /// round is gone or another one's.
    async fn close_round(
        &self,
        source_id: i64,
        lease_holder: &str,
        at: Timestamp,
    ) -> Result<Option<RoundInfo>>;
}

/// Per-host politeness shared by every process of one database.
#[async_trait]
pub trait HostLimits: Send + Sync {
    /// Take one of the `in_flight` request slots of `host` for `holder` until now + `ttl`
    /// (renewed by [`Frontier::renew_claims`]) and reserve the next request time of its rate
    /// limit (`rate` requests/s, bursts of `burst`): the slot and how long to wait before
    /// sending. None when every slot is taken (try again shortly).
    async fn take_host_slot(
        &self,
        host: &str,
        in_flight: u32,
        rate: f64,
        burst: u32,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<(i32, Duration)>>;

    /// Give back a slot taken with [`HostLimits::take_host_slot`].
    async fn release_host_slot(&self, host: &str, slot: i32, holder: &str) -> Result<()>;
}
