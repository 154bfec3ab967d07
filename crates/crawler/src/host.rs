//! Per-host politeness: a token-bucket rate limiter, a cap on requests in flight, a shared
//! pause (after `Retry-After`), and the host's robots.txt rules (loaded once).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::robots::Robots;

/// The politeness state of one host (`scheme://host[:port]`).
pub(crate) struct Host {
    limiter: Option<DefaultDirectRateLimiter>,
    slots: Arc<Semaphore>,
    paused_until: Mutex<Option<Instant>>,
    /// The host's robots.txt rules, fetched on first use.
    pub(crate) robots: OnceCell<Robots>,
}

/// Holding this is the right to have one request in flight to the host.
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Host {
    fn new(rate: f64, burst: u32, in_flight: usize) -> Self {
        let limiter = quota(rate, burst).map(RateLimiter::direct);
        Self {
            limiter,
            slots: Arc::new(Semaphore::new(in_flight.max(1))),
            paused_until: Mutex::new(None),
            robots: OnceCell::new(),
        }
    }

    /// Wait for a free in-flight slot, for the end of any pause, then for a token.
    pub(crate) async fn acquire(&self) -> Slot {
        // The semaphore is never closed, so this is always Some.
        let permit = Arc::clone(&self.slots).acquire_owned().await.ok();
        loop {
            let until = self.paused_until.lock().map(|g| *g).unwrap_or(None);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(l) = &self.limiter {
            l.until_ready().await;
        }
        Slot { _permit: permit }
    }

    /// Pause every request to this host for `d` from now (extends, never shortens, a pause).
    pub(crate) fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        if let Ok(mut g) = self.paused_until.lock() {
            match *g {
                Some(t) if t >= until => {}
                _ => *g = Some(until),
            }
        }
    }
}

/// The token bucket: `rate` tokens per second, holding at most `burst`. `None` when unlimited.
fn quota(rate: f64, burst: u32) -> Option<Quota> {
    if !rate.is_finite() || rate <= 0.0 {
        return None;
    }
    let period = Duration::from_secs_f64((1.0 / rate).max(1e-9));
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

/// All hosts seen by one harvester.
pub(crate) struct HostPool {
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    rate: f64,
    burst: u32,
    in_flight: usize,
}

impl HostPool {
    /// `rate` requests/s per host (infinite: unlimited), `in_flight` concurrent requests per
    /// host. The bucket holds `min(ceil(rate), in_flight)` tokens (at least one), so a burst
    /// never exceeds what the in-flight cap would allow anyway.
    pub(crate) fn new(rate: f64, in_flight: usize) -> Self {
        let burst = if rate.is_finite() {
            (rate.ceil().min(in_flight as f64)).max(1.0) as u32
        } else {
            1
        };
        Self {
            hosts: Mutex::new(HashMap::new()),
            rate,
            burst,
            in_flight,
        }
    }

    /// The politeness state of a host key (see [`crate::urls::host_key`]).
    pub(crate) fn get(&self, key: &str) -> Arc<Host> {
        let mut map = match self.hosts.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(h) = map.get(key) {
            return Arc::clone(h);
        }
        let h = Arc::new(Host::new(self.rate, self.burst, self.in_flight));
        map.insert(key.to_string(), Arc::clone(&h));
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_flight_cap_holds() {
        let pool = HostPool::new(f64::INFINITY, 2);
        let h = pool.get("http://a");
        let s1 = h.acquire().await;
        let _s2 = h.acquire().await;
        let h2 = Arc::clone(&h);
        let third = tokio::spawn(async move { h2.acquire().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !third.is_finished(),
            "third slot granted while two are held"
        );
        drop(s1);
        let got = tokio::time::timeout(Duration::from_secs(2), third).await;
        assert!(got.is_ok(), "slot not granted after release");
        // Another host is independent.
        let other = pool.get("http://b");
        let _o = tokio::time::timeout(Duration::from_millis(200), other.acquire())
            .await
            .expect("other host free");
    }

    #[tokio::test]
    async fn pause_delays_acquire() {
        let pool = HostPool::new(f64::INFINITY, 4);
        let h = pool.get("http://a");
        h.pause_for(Duration::from_millis(200));
        h.pause_for(Duration::from_millis(10)); // does not shorten
        let t = std::time::Instant::now();
        let _s = h.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(190),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn rate_limits() {
        let pool = HostPool::new(20.0, 1);
        let h = pool.get("http://a");
        let t = std::time::Instant::now();
        for _ in 0..5 {
            let _s = h.acquire().await;
        }
        // Burst 1 at 20/s: 4 waits of 50 ms.
        assert!(
            t.elapsed() >= Duration::from_millis(180),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn quota_edges() {
        assert!(quota(f64::INFINITY, 1).is_none());
        assert!(quota(0.0, 1).is_none());
        assert!(quota(f64::NAN, 1).is_none());
        assert!(quota(1e12, 1).is_some());
        assert!(quota(0.001, 1).is_some());
    }
}
