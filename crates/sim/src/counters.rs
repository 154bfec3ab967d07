//! Request counters that tests read to assert crawler behaviour.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counts every request the server receives (including redirects, faults and 404s).
#[derive(Debug, Default)]
pub struct Counters {
    total: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    not_modified: AtomicU64,
    unauthorized: AtomicU64,
    with_credentials: AtomicU64,
    per_path: Mutex<HashMap<String, u64>>,
    times: Mutex<Vec<Instant>>,
    log: Mutex<Vec<LoggedRequest>>,
}

/// One request as the server received it ([`Counters::log`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Arrival instant.
    pub at: Instant,
    /// Path with its query, as counted by [`Counters::for_path`].
    pub path: String,
    /// The `User-Agent` header (empty when absent).
    pub user_agent: String,
}

impl Counters {
    /// Total number of requests.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    /// Requests for exactly this path (the query, if any, is part of the key: `/a?b=c`).
    pub fn for_path(&self, path: &str) -> u64 {
        self.paths().get(path).copied().unwrap_or(0)
    }

    /// Requests whose path (with query) contains `substring`.
    pub fn matching(&self, substring: &str) -> u64 {
        self.paths()
            .iter()
            .filter(|(k, _)| k.contains(substring))
            .map(|(_, v)| *v)
            .sum()
    }

    /// Number of distinct paths requested.
    pub fn distinct_paths(&self) -> usize {
        self.paths().len()
    }

    /// Largest number of requests seen in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Number of 304 Not Modified responses sent.
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::SeqCst)
    }

    /// Number of 401 responses sent (requests without the required credentials, see
    /// `SimConfig::require_auth`).
    pub fn unauthorized(&self) -> u64 {
        self.unauthorized.load(Ordering::SeqCst)
    }

    /// Requests that carried an `Authorization` or `Cookie` header (whatever its value, with
    /// or without `require_auth`): a server that must never see credentials checks this is 0.
    pub fn with_credentials(&self) -> u64 {
        self.with_credentials.load(Ordering::SeqCst)
    }

    /// Arrival instant of every request, in arrival order (for rate checks).
    pub fn request_times(&self) -> Vec<Instant> {
        self.times.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every request in arrival order: when, which path, which client (`User-Agent`), for
    /// checks across several crawler processes (who fetched what, and when).
    pub fn log(&self) -> Vec<LoggedRequest> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reset every counter to zero (requests in flight stay counted as in flight).
    pub fn reset(&self) {
        self.total.store(0, Ordering::SeqCst);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        self.not_modified.store(0, Ordering::SeqCst);
        self.unauthorized.store(0, Ordering::SeqCst);
        self.with_credentials.store(0, Ordering::SeqCst);
        self.per_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.times.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn paths(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.per_path.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a request arrival (from the client `user_agent`); the guard marks it finished
    /// when dropped.
    pub(crate) fn enter_from(&self, key: &str, user_agent: &str) -> InFlight<'_> {
        self.total.fetch_add(1, Ordering::SeqCst);
        let at = Instant::now();
        self.times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(at);
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(LoggedRequest {
                at,
                path: key.to_owned(),
                // Bounded: a client's header is not kept whole.
                user_agent: user_agent.chars().take(200).collect(),
            });
        {
            let mut p = self.paths();
            match p.get_mut(key) {
                Some(v) => *v += 1,
                None => {
                    p.insert(key.to_owned(), 1);
                }
            }
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight { c: self }
    }

    pub(crate) fn count_unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count_with_credentials(&self) {
        self.with_credentials.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count_not_modified(&self) {
        self.not_modified.fetch_add(1, Ordering::SeqCst);
    }
}

/// Decrements the in-flight gauge on drop.
pub(crate) struct InFlight<'a> {
    c: &'a Counters,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.c.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
