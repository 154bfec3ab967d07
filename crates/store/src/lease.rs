//! Sync lease holders: who holds a source's lease, and whether that process still exists.
//!
//! A lease row names its holder: a unique holder ID (what renew and release compare), the host
//! name and process ID (for people), and, where the platform tells, the process's *scope* (the
//! kernel boot and PID namespace in which its PID means something) and its start time in clock
//! ticks since boot. A process in the same scope can then tell for sure that the holder is gone
//! (no such PID, or a PID reused by a process that started at another time) and take the lease
//! over at once instead of waiting for it to expire ([`crate::SyncLeases::acquire_lease`]). A holder
//! in another scope (another host, another container, another boot) or without a scope is never
//! judged: its lease is waited out.
//!
//! Everything here is pure; reading `/proc` is the caller's (the crawler's) business, handed in
//! as a probe function.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Who holds (or asks for) a sync lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// Unique per run: renew and release compare it (the crawler uses `host:pid:random`).
    pub id: String,
    /// Host name of the holder's machine (for people; never used to judge liveness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Process ID of the holder on its host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Where `pid` can be checked: the kernel boot and PID namespace of the holder (on Linux
    /// `{boot_id}/{pid namespace inode}`). None when unknown: the holder is never judged gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The holder process's start time in clock ticks since boot (field 22 of
    /// `/proc/PID/stat`), so a PID reused by a later process is not taken for the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

impl LeaseHolder {
    /// A holder known by its ID only (no process details: never judged gone).
    pub fn named(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

impl std::fmt::Display for LeaseHolder {
    /// `pid 1234 on host h` (or the holder ID when the process details are unknown).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pid, &self.host) {
            (Some(pid), Some(host)) => write!(f, "pid {pid} on host {host}"),
            (Some(pid), None) => write!(f, "pid {pid} on an unknown host"),
            (None, Some(host)) => write!(f, "{} on host {host}", self.id),
            (None, None) => write!(f, "{}", self.id),
        }
    }
}

/// A lease held by someone else, as [`crate::LeaseGrant::Busy`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// Who holds it.
    pub holder: LeaseHolder,
    /// When the holder took it (the start of its run).
    pub acquired_at: Timestamp,
    /// When it expires unless renewed.
    pub expires_at: Timestamp,
    /// The store's clock when this was read (Postgres: the database clock), to tell how long
    /// until expiry without trusting the local clock.
    pub now: Timestamp,
}

impl LeaseInfo {
    /// Time left until the lease expires (zero when it has).
    pub fn expires_in(&self) -> std::time::Duration {
        (self.expires_at - self.now)
            .to_std()
            .unwrap_or(std::time::Duration::ZERO)
    }
}

impl std::fmt::Display for LeaseInfo {
    /// `held by pid 1234 on host h (started at …Z); the lease expires at …Z (in 42 s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fmt = |t: Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let left = self.expires_in();
        // Round up: "in 0 s" would read as expired while it is not.
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        write!(
            f,
            "held by {} (started at {}); the lease expires at {} (in {secs} s)",
            self.holder,
            fmt(self.acquired_at),
            fmt(self.expires_at),
        )
    }
}

/// Tells whether a lease holder's process certainly no longer exists.
pub trait HolderLiveness: Send + Sync {
    /// True only when `holder` is certainly gone; false when it runs or when this cannot be
    /// told (another host, unknown platform, hidden processes).
    fn is_gone(&self, holder: &LeaseHolder) -> bool;
}

/// Never judges a holder gone: leases are only taken over when they expire.
#[derive(Clone, Copy, Debug, Default)]
pub struct NeverGone;

impl HolderLiveness for NeverGone {
    fn is_gone(&self, _holder: &LeaseHolder) -> bool {
        false
    }
}

/// What a probe found out about a process ID in its own scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// No process has this ID.
    Missing,
    /// A process with this ID runs; it started at these clock ticks since boot.
    Running {
        /// Start time in clock ticks since boot.
        start_ticks: u64,
    },
    /// Cannot tell (no permission, processes hidden, unknown platform, read error).
    Unknown,
}

/// A process probe: the state of a process ID in the caller's scope.
pub type ProcessProbe = Arc<dyn Fn(u32) -> ProcessState + Send + Sync>;

/// Judges holders of the caller's own scope with a probe; holders of any other scope (or of
/// none) are never gone.
#[derive(Clone)]
pub struct ScopedLiveness {
    scope: Option<String>,
    probe: ProcessProbe,
}

impl ScopedLiveness {
    /// Liveness for a caller in `scope` (None: nothing is ever judged gone) probing with
    /// `probe`.
    pub fn new(scope: Option<String>, probe: ProcessProbe) -> Self {
        Self { scope, probe }
    }
}

impl std::fmt::Debug for ScopedLiveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedLiveness")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl HolderLiveness for ScopedLiveness {
    fn is_gone(&self, holder: &LeaseHolder) -> bool {
        holder_gone(self.scope.as_deref(), holder, &*self.probe)
    }
}

/// Whether `holder` is certainly gone, judged by a caller in `scope` with `probe`: only a
/// holder of the same (known) scope with a known PID and start time can be; it is gone when
/// its PID is missing or now belongs to a process that started at another time.
pub fn holder_gone(
    scope: Option<&str>,
    holder: &LeaseHolder,
    probe: &dyn Fn(u32) -> ProcessState,
) -> bool {
    let (Some(mine), Some(theirs), Some(pid), Some(start)) = (
        scope,
        holder.scope.as_deref(),
        holder.pid,
        holder.start_ticks,
    ) else {
        return false;
    };
    if mine.is_empty() || mine != theirs {
        return false;
    }
    match probe(pid) {
        ProcessState::Missing => true,
        ProcessState::Running { start_ticks } => start_ticks != start,
        ProcessState::Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(scope: Option<&str>, pid: Option<u32>, start: Option<u64>) -> LeaseHolder {
        LeaseHolder {
            id: "h".into(),
            host: Some("box".into()),
            pid,
            scope: scope.map(str::to_owned),
            start_ticks: start,
        }
    }

    fn probe(pid: u32) -> ProcessState {
        match pid {
            1 => ProcessState::Running { start_ticks: 100 },
            2 => ProcessState::Missing,
            _ => ProcessState::Unknown,
        }
    }

    #[test]
    fn only_same_scope_holders_are_judged() {
        let s = Some("boot/ns");
        // Same scope: a missing PID or a PID that started at another time is gone.
        assert!(holder_gone(s, &holder(s, Some(2), Some(100)), &probe));
        assert!(holder_gone(s, &holder(s, Some(1), Some(99)), &probe));
        // Running with the recorded start time, or unknown: not gone.
        assert!(!holder_gone(s, &holder(s, Some(1), Some(100)), &probe));
        assert!(!holder_gone(s, &holder(s, Some(3), Some(100)), &probe));
        // Another scope (host, boot, container), or missing details: never judged.
        assert!(!holder_gone(
            s,
            &holder(Some("other/ns"), Some(2), Some(100)),
            &probe
        ));
        assert!(!holder_gone(s, &holder(None, Some(2), Some(100)), &probe));
        assert!(!holder_gone(None, &holder(s, Some(2), Some(100)), &probe));
        assert!(!holder_gone(
            Some(""),
            &holder(Some(""), Some(2), Some(1)),
            &probe
        ));
        assert!(!holder_gone(s, &holder(s, None, Some(100)), &probe));
        assert!(!holder_gone(s, &holder(s, Some(2), None), &probe));
        assert!(!NeverGone.is_gone(&holder(s, Some(2), Some(100))));
        let l = ScopedLiveness::new(s.map(str::to_owned), Arc::new(probe));
        assert!(l.is_gone(&holder(s, Some(2), Some(100))));
    }

    #[test]
    fn busy_text_names_holder_and_expiry() {
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let info = LeaseInfo {
            holder: holder(Some("s"), Some(42), Some(1)),
            acquired_at: t0,
            expires_at: t0 + chrono::Duration::milliseconds(60_500),
            now: t0 + chrono::Duration::seconds(20),
        };
        assert_eq!(
            info.to_string(),
            "held by pid 42 on host box (started at 2023-11-14T22:13:20Z); the lease expires \
             at 2023-11-14T22:14:20Z (in 41 s)"
        );
        let expired = LeaseInfo {
            now: t0 + chrono::Duration::seconds(90),
            ..info
        };
        assert_eq!(expired.expires_in(), std::time::Duration::ZERO);
        assert_eq!(LeaseHolder::named("x:1").to_string(), "x:1");
    }
}
