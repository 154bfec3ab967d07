//! The simulated wall clock shared by the server and the tests.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

#[derive(Debug)]
struct ClockState {
    /// `Some` = frozen at this instant; `None` = follows the system clock.
    fixed: Option<DateTime<Utc>>,
    /// Added to the system clock when not frozen.
    offset: chrono::Duration,
}

/// The clock the generated trees are computed from. Cheap to clone; clones share the same time.
///
/// A fixed clock makes every generated catalog fully deterministic; a system clock gives the
/// "live" mode where today's folder gains granules as real time passes.
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<Mutex<ClockState>>,
}

impl SimClock {
    /// A clock frozen at `t` (moves only through [`SimClock::set`] / [`SimClock::advance`]).
    pub fn fixed(t: DateTime<Utc>) -> Self {
        Self::from_state(ClockState {
            fixed: Some(t),
            offset: chrono::Duration::zero(),
        })
    }

    /// A clock following the system time (live mode).
    pub fn system() -> Self {
        Self::from_state(ClockState {
            fixed: None,
            offset: chrono::Duration::zero(),
        })
    }

    fn from_state(s: ClockState) -> Self {
        Self {
            inner: Arc::new(Mutex::new(s)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let s = self.lock();
        let base = s.fixed.unwrap_or_else(Utc::now);
        base.checked_add_signed(s.offset).unwrap_or(base)
    }

    /// Freeze the clock at `t` (a system clock becomes fixed).
    pub fn set(&self, t: DateTime<Utc>) {
        let mut s = self.lock();
        s.fixed = Some(t);
        s.offset = chrono::Duration::zero();
    }

    /// Move the clock forward (or back, with a negative duration).
    pub fn advance(&self, d: chrono::Duration) {
        let mut s = self.lock();
        match s.fixed {
            Some(t) => s.fixed = Some(t.checked_add_signed(d).unwrap_or(t)),
            None => s.offset = s.offset.checked_add(&d).unwrap_or(s.offset),
        }
    }

    /// Whether the clock is frozen.
    pub fn is_fixed(&self) -> bool {
        self.lock().fixed.is_some()
    }
}

impl Default for SimClock {
    /// Fixed at [`crate::DEFAULT_TIME`].
    fn default() -> Self {
        Self::fixed(crate::default_time())
    }
}
