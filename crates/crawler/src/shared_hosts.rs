//! Per-host politeness shared by every process of one database ([`HostLimits`], Postgres):
//! before each request, after the process's own limits ([`crate::host`]), a request slot of
//! the host (at most `per_host_in_flight` across all processes) is taken and the request's
//! time reserved in the host's shared token bucket (`rate` requests/s, the same burst as the
//! local bucket). The slot is given back when the response has been read; a killed process's
//! slots expire with its claims. See `docs/crawl-model.md` (Workers).

use std::sync::Arc;
use std::time::Duration;

use threddex_store::{ErrorChain, HostLimits};

/// Longest pause between two looks for a free slot of a busy host.
const SLOT_POLL: Duration = Duration::from_millis(25);
/// Store errors tolerated in a row before a request goes out under the local limits only.
const MAX_ERRORS: u32 = 5;

/// The shared limits of one process (one holder ID).
pub struct SharedHosts {
    limits: Arc<dyn HostLimits>,
    holder: String,
    ttl: Duration,
    rate: f64,
    burst: u32,
    in_flight: u32,
}

impl std::fmt::Debug for SharedHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedHosts")
            .field("holder", &self.holder)
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// A request slot of a host; given back (in the background) when dropped.
pub(crate) struct SharedSlot {
    limits: Arc<dyn HostLimits>,
    host: String,
    slot: Option<i32>,
    holder: String,
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let limits = Arc::clone(&self.limits);
        let host = std::mem::take(&mut self.host);
        let holder = std::mem::take(&mut self.holder);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = limits.release_host_slot(&host, slot, &holder).await {
                    tracing::debug!(%host, error = %ErrorChain(&e), "cannot give back a host slot (it expires)");
                }
            });
        }
    }
}

impl SharedHosts {
    /// Limits for `holder` (renewed with its claims, see
    /// [`Frontier::renew_claims`](threddex_store::Frontier::renew_claims), expiring after
    /// `ttl` otherwise): `rate` requests/s per host (bursts of one less than the local
    /// bucket's `min(ceil(rate), in_flight)`, at least one) and `in_flight` requests at once
    /// per host.
    pub fn new(
        limits: Arc<dyn HostLimits>,
        holder: impl Into<String>,
        ttl: Duration,
        rate: f64,
        in_flight: usize,
    ) -> Self {
        let in_flight = u32::try_from(in_flight.max(1)).unwrap_or(u32::MAX);
        // The local bucket's burst less one: a request may reach the server up to one
        // interval after its reserved time (see `acquire`), and the one request of headroom
        // keeps every window within `burst + rate × window` all the same.
        let burst = if rate.is_finite() {
            (rate.ceil().min(f64::from(in_flight)) - 1.0).max(1.0) as u32
        } else {
            1
        };
        Self {
            limits,
            holder: holder.into(),
            ttl,
            rate,
            burst,
            in_flight,
        }
    }

    /// Wait for a slot of `host` and for the request's reserved time. A request that would
    /// leave more than one rate interval after its reserved time (a slow database answer, a
    /// busy machine) reserves a new time instead, at most twice, so that late requests do not
    /// bunch up with the next ones.
    pub(crate) async fn acquire(&self, host: &str) -> SharedSlot {
        let mut errors = 0u32;
        let mut late_retries = 0u32;
        let mut pause = Duration::from_millis(5);
        let interval = (self.rate.is_finite() && self.rate > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / self.rate))
            .filter(|t| *t >= Duration::from_millis(5));
        loop {
            let asked = tokio::time::Instant::now();
            let got = self
                .limits
                .take_host_slot(
                    host,
                    self.in_flight,
                    self.rate,
                    self.burst,
                    &self.holder,
                    self.ttl,
                )
                .await;
            match got {
                Ok(Some((slot, wait))) => {
                    let slot = SharedSlot {
                        limits: Arc::clone(&self.limits),
                        host: host.to_owned(),
                        slot: Some(slot),
                        holder: self.holder.clone(),
                    };
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    let late = asked.elapsed().saturating_sub(wait);
                    if interval.is_some_and(|t| late > t) && late_retries < 2 {
                        late_retries += 1;
                        continue;
                    }
                    return slot;
                }
                Ok(None) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(SLOT_POLL);
                }
                Err(e) => {
                    errors += 1;
                    if errors >= MAX_ERRORS {
                        tracing::warn!(%host, error = %ErrorChain(&e), "shared host limits unavailable; this request goes out under the local limits only");
                        return SharedSlot {
                            limits: Arc::clone(&self.limits),
                            host: String::new(),
                            slot: None,
                            holder: String::new(),
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// What [`SharedHosts::exclusive`] found.
pub(crate) enum Exclusive {
    /// This process holds the key until the slot is dropped.
    Held(SharedSlot),
    /// Another process held the key; it has let go of it since.
    WaitedForOther,
    /// The database could not tell (errors, or the other holder kept it longer than allowed).
    Unknown,
}

impl SharedHosts {
    /// Take the one slot of `key` (a name in the same table as the hosts, e.g.
    /// `refresh:COLLECTION`): at once when free; when another process holds it, wait (at most
    /// `max_wait`) until it lets go.
    pub(crate) async fn exclusive(&self, key: &str, max_wait: Duration) -> Exclusive {
        let until = tokio::time::Instant::now() + max_wait;
        let mut waited = false;
        loop {
            let got = self
                .limits
                .take_host_slot(key, 1, f64::INFINITY, 1, &self.holder, self.ttl)
                .await;
            match got {
                Ok(Some((slot, _))) => {
                    let slot = SharedSlot {
                        limits: Arc::clone(&self.limits),
                        host: key.to_owned(),
                        slot: Some(slot),
                        holder: self.holder.clone(),
                    };
                    if waited {
                        return Exclusive::WaitedForOther;
                    }
                    return Exclusive::Held(slot);
                }
                Ok(None) if tokio::time::Instant::now() < until => {
                    waited = true;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(None) => return Exclusive::Unknown,
                Err(e) => {
                    tracing::warn!(%key, error = %ErrorChain(&e), "cannot take a shared lock");
                    return Exclusive::Unknown;
                }
            }
        }
    }
}
