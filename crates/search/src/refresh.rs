//! Refresh on demand: the contract with the crawler ([`Refresher`]) and the orchestration
//! around it ([`RefreshCoordinator`]).
//!
//! Before answering a granule search, the core asks whether the collection's live catalogs should be
//! re-read ([`decide`]): only when the asked window ends later than what the index holds, the
//! collection has live nodes, the window does not end before the last sync, and the last
//! refresh (successful or not) is older than the minimum interval. Concurrent requests for the
//! same collection share one refresh (single flight); each request waits at most the deadline,
//! after which it answers from the index (`stale: true`) while the refresh finishes in the
//! background. A refresh never reads a URL taken from the request: the [`Refresher`] only gets
//! a collection ID, which the API has already looked up in the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use threddex_store::{ErrorChain, StoreError, Timestamp};
use tokio::sync::watch;

/// What the index knows about a collection's freshness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Freshness {
    /// Whether any catalog holding the collection's granules is live (may still change).
    pub has_live_nodes: bool,
    /// When the collection's live catalogs were last read (None: never).
    pub indexed_through: Option<Timestamp>,
    /// When the collection's source was last synced (None: never).
    pub last_sync: Option<Timestamp>,
}

/// What a refresh did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Catalogs fetched.
    pub catalogs_read: u64,
    /// Granules that were new.
    pub granules_added: u64,
    /// Granules that vanished.
    pub granules_removed: u64,
    /// The collection's `indexed_through` after the refresh.
    pub indexed_through: Option<Timestamp>,
}

/// Why a freshness check or refresh failed (cloned to every request waiting on one refresh).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// The collection is not known to the refresher.
    #[error("unknown collection {0}")]
    UnknownCollection(String),
    /// A catalog could not be fetched or parsed.
    #[error("fetch failed: {0}")]
    Fetch(String),
    /// The store failed. Match on the [`StoreError`] for not-found and conflicts.
    #[error("store error")]
    Store(#[source] Arc<StoreError>),
    /// The refresh ran longer than its hard limit.
    #[error("refresh timed out")]
    TimedOut,
    /// The refresh task ended without reporting (it panicked or was cancelled).
    #[error("refresh aborted")]
    Aborted,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

/// The crawler side of refresh on demand.
#[async_trait]
pub trait Refresher: Send + Sync + 'static {
    /// What the index knows about a collection's freshness. Called on every `/index` request:
    /// keep it cheap (one indexed query, or a cache).
    async fn freshness(&self, collection_id: &str) -> Result<Freshness, RefreshError>;

    /// Re-read the collection's live catalogs (of registered sources only) and write them to
    /// the store.
    async fn refresh(&self, collection_id: &str) -> Result<RefreshReport, RefreshError>;
}

/// The freshness part of a granule search answer (`/index`: `refreshed`, `stale`,
/// `indexed_through`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// Whether the answer reflects a refresh that completed for (or during) this request.
    pub refreshed: bool,
    /// Whether a due refresh did not complete in time or failed, so granules may be missing.
    pub stale: bool,
    /// When the collection's live catalogs were last read, as far as the API knows.
    pub indexed_through: Option<Timestamp>,
}

/// What to do about a request's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The collection has no live catalogs: the index is complete.
    NoLiveNodes,
    /// The window ends before the last sync: the index covers it.
    EndsBeforeLastSync,
    /// The window ends no later than what the index holds.
    Covered,
    /// A refresh is due but one ran less than the minimum interval ago.
    Throttled {
        /// Whether that last attempt failed (the answer is then stale).
        last_failed: bool,
    },
    /// Re-read the live catalogs.
    Refresh,
}

/// What refresh on demand did for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshStatus {
    /// Refresh on demand is off (no [`Refresher`]).
    Off,
    /// The collection's freshness could not be read: the answer is from the index, stale.
    FreshnessFailed,
    /// No refresh was needed: [`Decision::NoLiveNodes`], [`Decision::EndsBeforeLastSync`] or
    /// [`Decision::Covered`].
    NotNeeded(Decision),
    /// A refresh was due but one ran less than the minimum interval ago.
    Throttled {
        /// Whether that last attempt failed (the answer is then stale).
        last_failed: bool,
    },
    /// A refresh completed for this request (or just before it).
    Refreshed,
    /// The refresh failed (or one just failed before this request): the answer is stale.
    Failed,
    /// The deadline passed first: the answer is stale; the refresh goes on in the background.
    DeadlinePassed,
}

/// The last refresh attempt of a collection, as seen by this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastAttempt {
    /// When it ended.
    pub at: Timestamp,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its `indexed_through`, when it succeeded.
    pub indexed_through: Option<Timestamp>,
}

/// Decide whether a request for a window ending at `end` (None: open-ended, i.e. "up to now")
/// needs a refresh.
pub fn decide(
    freshness: &Freshness,
    end: Option<Timestamp>,
    now: Timestamp,
    last_attempt: Option<&LastAttempt>,
    min_interval: Duration,
) -> Decision {
    if !freshness.has_live_nodes {
        return Decision::NoLiveNodes;
    }
    if let (Some(end), Some(sync)) = (end, freshness.last_sync)
        && end <= sync
    {
        return Decision::EndsBeforeLastSync;
    }
    if let (Some(end), Some(through)) = (end, freshness.indexed_through)
        && end <= through
    {
        return Decision::Covered;
    }
    let min = chrono::Duration::from_std(min_interval).unwrap_or(chrono::Duration::MAX);
    let recent = |t: Timestamp| now.signed_duration_since(t) < min;
    if let Some(a) = last_attempt
        && recent(a.at)
    {
        return Decision::Throttled { last_failed: !a.ok };
    }
    if freshness.indexed_through.is_some_and(recent) {
        return Decision::Throttled { last_failed: false };
    }
    Decision::Refresh
}

type Shared = Option<Result<RefreshReport, RefreshError>>;

/// Most collections whose freshness is kept between requests.
const FRESHNESS_CACHE_CAPACITY: usize = 100_000;

#[derive(Default)]
struct Flights {
    in_flight: HashMap<String, watch::Receiver<Shared>>,
    last: HashMap<String, LastAttempt>,
    /// Recently read freshness, so a burst of requests costs one `freshness()` call.
    freshness: HashMap<String, (std::time::Instant, Freshness)>,
}

/// Runs refreshes for the API: decision, single flight per collection, deadline.
#[derive(Clone)]
pub struct RefreshCoordinator {
    refresher: Arc<dyn Refresher>,
    deadline: Duration,
    min_interval: Duration,
    max_duration: Duration,
    freshness_ttl: Duration,
    flights: Arc<Mutex<Flights>>,
}

impl std::fmt::Debug for RefreshCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshCoordinator")
            .field("deadline", &self.deadline)
            .field("min_interval", &self.min_interval)
            .field("max_duration", &self.max_duration)
            .finish_non_exhaustive()
    }
}

impl RefreshCoordinator {
    /// A coordinator: requests wait at most `deadline`; a collection is refreshed at most once
    /// per `min_interval`; a background refresh is abandoned after `max_duration`.
    pub fn new(
        refresher: Arc<dyn Refresher>,
        deadline: Duration,
        min_interval: Duration,
        max_duration: Duration,
    ) -> Self {
        Self {
            refresher,
            deadline,
            min_interval,
            max_duration,
            freshness_ttl: Duration::ZERO,
            flights: Arc::default(),
        }
    }

    /// Reuse a collection's [`Freshness`] for up to `ttl` (default zero: ask the refresher on
    /// every request). A finished refresh of the collection drops its cached freshness.
    pub fn with_freshness_cache(mut self, ttl: Duration) -> Self {
        self.freshness_ttl = ttl;
        self
    }

    /// The collection's freshness, from the cache when recent enough.
    async fn freshness(&self, collection_id: &str) -> Result<Freshness, RefreshError> {
        if !self.freshness_ttl.is_zero()
            && let Some((at, f)) = self.lock().freshness.get(collection_id)
            && at.elapsed() < self.freshness_ttl
        {
            return Ok(f.clone());
        }
        let f = self.refresher.freshness(collection_id).await?;
        if !self.freshness_ttl.is_zero() {
            let mut flights = self.lock();
            if flights.freshness.len() >= FRESHNESS_CACHE_CAPACITY {
                flights.freshness.clear();
            }
            flights.freshness.insert(
                collection_id.to_owned(),
                (std::time::Instant::now(), f.clone()),
            );
        }
        Ok(f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Flights> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a refresh of `collection_id` is running now.
    pub fn in_flight(&self, collection_id: &str) -> bool {
        self.lock().in_flight.contains_key(collection_id)
    }

    /// The last refresh attempt of `collection_id` that ended in this process.
    pub fn last_attempt(&self, collection_id: &str) -> Option<LastAttempt> {
        self.lock().last.get(collection_id).copied()
    }

    /// The answer for a window that needs no refresh because it ended before the last sync
    /// (checked by the caller): no freshness lookup; `indexed_through` is the latest value this
    /// process knows for the collection (from a recent freshness lookup or refresh), if any.
    pub fn without_refresh(&self, collection_id: &str) -> RefreshOutcome {
        let flights = self.lock();
        let from_lookup = flights
            .freshness
            .get(collection_id)
            .and_then(|(_, f)| f.indexed_through);
        let from_refresh = flights
            .last
            .get(collection_id)
            .and_then(|a| a.indexed_through);
        RefreshOutcome {
            refreshed: false,
            stale: false,
            indexed_through: from_lookup.max(from_refresh),
        }
    }

    /// Refresh `collection_id` if a request for a window ending at `end` needs it, waiting at
    /// most the deadline. Never fails: problems make the answer stale.
    pub async fn ensure_fresh(
        &self,
        collection_id: &str,
        end: Option<Timestamp>,
    ) -> RefreshOutcome {
        self.check(collection_id, end).await.0
    }

    /// [`RefreshCoordinator::ensure_fresh`], also saying what was done.
    pub async fn check(
        &self,
        collection_id: &str,
        end: Option<Timestamp>,
    ) -> (RefreshOutcome, RefreshStatus) {
        let freshness = match self.freshness(collection_id).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(collection = collection_id, error = %ErrorChain(&e), "freshness check failed");
                metrics::counter!("threddex_refresh_total", "outcome" => "freshness_error")
                    .increment(1);
                return (
                    RefreshOutcome {
                        refreshed: false,
                        stale: true,
                        indexed_through: None,
                    },
                    RefreshStatus::FreshnessFailed,
                );
            }
        };
        let answer_from_index = |stale: bool| RefreshOutcome {
            refreshed: false,
            stale,
            indexed_through: freshness.indexed_through,
        };
        let last = self.last_attempt(collection_id);
        match decide(
            &freshness,
            end,
            Utc::now(),
            last.as_ref(),
            self.min_interval,
        ) {
            d @ (Decision::NoLiveNodes | Decision::EndsBeforeLastSync | Decision::Covered) => {
                (answer_from_index(false), RefreshStatus::NotNeeded(d))
            }
            Decision::Throttled { last_failed } => {
                metrics::counter!("threddex_refresh_total", "outcome" => "throttled").increment(1);
                (
                    answer_from_index(last_failed),
                    RefreshStatus::Throttled { last_failed },
                )
            }
            Decision::Refresh => {
                let mut rx = match self.start_or_join(collection_id) {
                    Flight::Joined(rx) => rx,
                    // A refresh ended between the decision and now: use its result.
                    Flight::JustEnded(a) => {
                        return (
                            RefreshOutcome {
                                refreshed: a.ok,
                                stale: !a.ok,
                                indexed_through: a.indexed_through.or(freshness.indexed_through),
                            },
                            if a.ok {
                                RefreshStatus::Refreshed
                            } else {
                                RefreshStatus::Failed
                            },
                        );
                    }
                };
                let waited =
                    tokio::time::timeout(self.deadline, rx.wait_for(Option::is_some)).await;
                let result = match waited {
                    Ok(Ok(r)) => r.clone(),
                    Ok(Err(_)) => Some(Err(RefreshError::Aborted)),
                    Err(_) => {
                        metrics::counter!("threddex_refresh_total", "outcome" => "deadline")
                            .increment(1);
                        tracing::debug!(
                            collection = collection_id,
                            "refresh deadline passed; answering from the index"
                        );
                        None
                    }
                };
                match result {
                    Some(Ok(report)) => (
                        RefreshOutcome {
                            refreshed: true,
                            stale: false,
                            indexed_through: report.indexed_through.or(freshness.indexed_through),
                        },
                        RefreshStatus::Refreshed,
                    ),
                    Some(Err(_)) => (answer_from_index(true), RefreshStatus::Failed),
                    None => (answer_from_index(true), RefreshStatus::DeadlinePassed),
                }
            }
        }
    }

    /// Join the running refresh of `collection_id`, or start one.
    fn start_or_join(&self, collection_id: &str) -> Flight {
        let mut flights = self.lock();
        if let Some(rx) = flights.in_flight.get(collection_id) {
            metrics::counter!("threddex_refresh_total", "outcome" => "joined").increment(1);
            return Flight::Joined(rx.clone());
        }
        if let Some(a) = flights.last.get(collection_id) {
            let min =
                chrono::Duration::from_std(self.min_interval).unwrap_or(chrono::Duration::MAX);
            if Utc::now().signed_duration_since(a.at) < min {
                return Flight::JustEnded(*a);
            }
        }
        let (tx, rx) = watch::channel(None);
        flights
            .in_flight
            .insert(collection_id.to_owned(), rx.clone());
        drop(flights);

        let guard = FlightGuard {
            flights: Arc::clone(&self.flights),
            collection_id: collection_id.to_owned(),
            done: false,
        };
        let refresher = Arc::clone(&self.refresher);
        let max = self.max_duration;
        tokio::spawn(async move {
            let mut guard = guard;
            let id = guard.collection_id.clone();
            let started = std::time::Instant::now();
            let result = match tokio::time::timeout(max, refresher.refresh(&id)).await {
                Ok(r) => r,
                Err(_) => Err(RefreshError::TimedOut),
            };
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics::counter!("threddex_refresh_total", "outcome" => outcome).increment(1);
            metrics::histogram!("threddex_refresh_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            match &result {
                Ok(r) => tracing::info!(
                    collection = %id,
                    catalogs = r.catalogs_read,
                    added = r.granules_added,
                    removed = r.granules_removed,
                    "refreshed"
                ),
                Err(e) => {
                    tracing::warn!(collection = %id, error = %ErrorChain(e), "refresh failed")
                }
            }
            guard.finish(&result);
            tx.send_replace(Some(result));
        });
        Flight::Joined(rx)
    }
}

enum Flight {
    Joined(watch::Receiver<Shared>),
    JustEnded(LastAttempt),
}

/// Removes the in-flight entry when a refresh task ends, even by panic.
struct FlightGuard {
    flights: Arc<Mutex<Flights>>,
    collection_id: String,
    done: bool,
}

impl FlightGuard {
    fn finish(&mut self, result: &Result<RefreshReport, RefreshError>) {
        let attempt = LastAttempt {
            at: Utc::now(),
            ok: result.is_ok(),
            indexed_through: result.as_ref().ok().and_then(|r| r.indexed_through),
        };
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        flights.in_flight.remove(&self.collection_id);
        flights.freshness.remove(&self.collection_id);
        flights.last.insert(self.collection_id.clone(), attempt);
        self.done = true;
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if !self.done {
            self.finish(&Err(RefreshError::Aborted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(day: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn decisions() {
        let now = t(20);
        let min = Duration::from_secs(60);
        let live = Freshness {
            has_live_nodes: true,
            indexed_through: Some(t(10)),
            last_sync: Some(t(9)),
        };
        assert_eq!(
            decide(&live, Some(t(15)), now, None, min),
            Decision::Refresh
        );
        assert_eq!(decide(&live, None, now, None, min), Decision::Refresh);
        assert_eq!(
            decide(&live, Some(t(10)), now, None, min),
            Decision::Covered
        );
        assert_eq!(
            decide(&live, Some(t(8)), now, None, min),
            Decision::EndsBeforeLastSync
        );
        let archival = Freshness {
            has_live_nodes: false,
            ..live
        };
        assert_eq!(
            decide(&archival, Some(t(15)), now, None, min),
            Decision::NoLiveNodes
        );
        let recent_fail = LastAttempt {
            at: now - chrono::Duration::seconds(5),
            ok: false,
            indexed_through: None,
        };
        assert_eq!(
            decide(&live, Some(t(15)), now, Some(&recent_fail), min),
            Decision::Throttled { last_failed: true }
        );
        let old = LastAttempt {
            at: now - chrono::Duration::seconds(500),
            ..recent_fail
        };
        assert_eq!(
            decide(&live, Some(t(25)), now, Some(&old), min),
            Decision::Refresh
        );
        let just_read = Freshness {
            indexed_through: Some(now - chrono::Duration::seconds(1)),
            ..live
        };
        assert_eq!(
            decide(&just_read, Some(t(25)), now, None, min),
            Decision::Throttled { last_failed: false }
        );
        let never = Freshness {
            has_live_nodes: true,
            indexed_through: None,
            last_sync: None,
        };
        assert_eq!(
            decide(&never, Some(t(1)), now, None, min),
            Decision::Refresh
        );
    }
}
