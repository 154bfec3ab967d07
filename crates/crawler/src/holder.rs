//! This process as a sync lease holder, and whether another holder's process still exists.
//!
//! A lease records its holder's host name and process ID and, on Linux, its *scope* (the boot
//! ID `/proc/sys/kernel/random/boot_id` and the PID namespace of `/proc/self/ns/pid`: within
//! one scope a PID names the same process for everyone) and its start time in clock ticks
//! since boot (field 22 of `/proc/PID/stat`, which tells a reused PID apart). A sync of the
//! same scope that finds the lease held by a PID that no longer exists, or that now belongs to
//! a process started at another time, takes the lease over at once
//! ([`threddex_store::SyncLeases::acquire_lease`]). Holders of another scope (another machine,
//! container or boot) and everything on platforms without `/proc` are never judged: their
//! leases are waited out until they expire.
//!
//! When `/proc` hides other users' processes (mounted with `hidepid`), a missing PID proves
//! nothing and is not taken as gone.

use std::sync::{Arc, OnceLock};

use threddex_store::{HolderLiveness, LeaseHolder, ScopedLiveness};

/// This process's identity as a lease holder (computed once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// Host name (for people).
    pub host: String,
    /// Process ID.
    pub pid: u32,
    /// Boot and PID namespace (None where unknown).
    pub scope: Option<String>,
    /// Start time in clock ticks since boot (None where unknown).
    pub start_ticks: Option<u64>,
}

/// This process's identity.
pub fn this_process() -> &'static ProcessIdentity {
    static ID: OnceLock<ProcessIdentity> = OnceLock::new();
    ID.get_or_init(|| {
        let pid = std::process::id();
        let (scope, start_ticks) = platform::scope_and_start(pid);
        ProcessIdentity {
            host: host_name(),
            pid,
            scope,
            start_ticks,
        }
    })
}

/// The lease holder with ID `id` run by this process.
pub fn lease_holder(id: &str) -> LeaseHolder {
    let me = this_process();
    LeaseHolder {
        id: id.to_owned(),
        host: Some(me.host.clone()),
        pid: Some(me.pid),
        scope: me.scope.clone(),
        start_ticks: me.start_ticks,
    }
}

/// Judges holders of this process's scope by their PID and start time (`/proc`).
pub fn liveness() -> Arc<dyn HolderLiveness> {
    Arc::new(ScopedLiveness::new(
        this_process().scope.clone(),
        Arc::new(platform::probe),
    ))
}

/// The host name: the kernel's, else `$HOSTNAME`, else `/etc/hostname`, else `localhost`
/// (at most 255 bytes).
fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let mut end = name.len().min(255);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// The state and start time (fields 3 and 22) of a `/proc/PID/stat` line. The command name
/// (field 2, in parentheses) may hold spaces and parentheses: fields are counted after its
/// last `)`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4..=21 come between the state and the start time.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether a `/proc/mounts` text mounts `/proc` with `hidepid` set (other users' processes
/// hidden or inaccessible).
fn proc_hides_pids(mounts: &str) -> bool {
    mounts.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        matches!(f.as_slice(), [_, "/proc", "proc", opts, ..]
        if opts.split(',').any(|o| {
            o.strip_prefix("hidepid=").is_some_and(|v| v != "0" && v != "off")
        }))
    })
}

#[cfg(target_os = "linux")]
mod platform {
    use threddex_store::ProcessState;

    use super::{parse_stat, proc_hides_pids};

    /// This process's scope and start ticks, when `/proc` is this process's own.
    pub(super) fn scope_and_start(pid: u32) -> (Option<String>, Option<u64>) {
        // A /proc of another PID namespace would answer for other processes.
        let own = std::fs::read_link("/proc/self")
            .ok()
            .is_some_and(|p| p.as_os_str() == pid.to_string().as_str());
        if !own {
            return (None, None);
        }
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.len() <= 64);
        let ns = std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .filter(|s| !s.is_empty() && s.len() <= 64);
        let start = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| parse_stat(&s))
            .map(|(_, t)| t);
        match (boot, ns, start) {
            (Some(b), Some(n), Some(t)) => (Some(format!("{b}/{n}")), Some(t)),
            _ => (None, None),
        }
    }

    /// The state of `pid` in this process's PID namespace. A zombie (killed, not yet reaped)
    /// is gone as far as its lease is concerned.
    pub(super) fn probe(pid: u32) -> ProcessState {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => match parse_stat(&s) {
                Some(('Z' | 'X' | 'x', _)) => ProcessState::Missing,
                Some((_, start_ticks)) => ProcessState::Running { start_ticks },
                None => ProcessState::Unknown,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let hidden = std::fs::read_to_string("/proc/self/mounts")
                    .map(|m| proc_hides_pids(&m))
                    .unwrap_or(true);
                if hidden {
                    ProcessState::Unknown
                } else {
                    ProcessState::Missing
                }
            }
            Err(_) => ProcessState::Unknown,
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use threddex_store::ProcessState;

    pub(super) fn scope_and_start(_pid: u32) -> (Option<String>, Option<u64>) {
        (None, None)
    }

    pub(super) fn probe(_pid: u32) -> ProcessState {
        ProcessState::Unknown
    }
}

#[cfg(test)]
mod tests {
    use threddex_store::ProcessState;

    use super::platform::probe;
    use super::*;

    #[test]
    fn stat_lines_parse() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 \
                    8 0 123456 1000000 300 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 123_456)));
        assert_eq!(parse_stat("1 (x) Z 0 1"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn hidepid_is_detected() {
        let plain = "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
                     sysfs /sys sysfs rw 0 0\n";
        assert!(!proc_hides_pids(plain));
        assert!(proc_hides_pids(
            "proc /proc proc rw,nosuid,relatime,hidepid=2 0 0\n"
        ));
        assert!(proc_hides_pids(
            "proc /proc proc rw,relatime,hidepid=invisible 0 0\n"
        ));
        assert!(!proc_hides_pids("proc /proc proc rw,hidepid=0 0 0\n"));
        // Another mount point of proc does not count.
        assert!(!proc_hides_pids("proc /mnt/proc proc rw,hidepid=2 0 0\n"));
    }

    #[test]
    fn host_name_is_bounded() {
        let h = host_name();
        assert!(!h.is_empty() && h.len() <= 255);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_a_dead_child_is_gone() {
        let me = this_process();
        assert_eq!(me.pid, std::process::id());
        let scope = me.scope.clone().expect("scope on Linux");
        let start = me.start_ticks.expect("start ticks on Linux");
        assert_eq!(probe(me.pid), ProcessState::Running { start_ticks: start });
        let live = liveness();
        // This process, under any holder ID: alive.
        assert!(!live.is_gone(&lease_holder("another-id")));
        // The same PID with another start time: a reused PID, so the holder is gone.
        let reused = LeaseHolder {
            start_ticks: Some(start.wrapping_add(1)),
            ..lease_holder("x")
        };
        assert!(live.is_gone(&reused));
        // A child that ran and was reaped: its PID is free (or reused by a later process).
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        let child_start = match probe(pid) {
            ProcessState::Running { start_ticks } => Some(start_ticks),
            _ => None,
        };
        child.wait().expect("wait");
        let dead = LeaseHolder {
            pid: Some(pid),
            start_ticks: Some(child_start.unwrap_or(start)),
            ..lease_holder("child")
        };
        assert!(live.is_gone(&dead), "{:?}", probe(pid));
        // The same holder seen from another scope (another host) is never judged.
        let remote = LeaseHolder {
            scope: Some(format!("{scope}-elsewhere")),
            ..dead
        };
        assert!(!live.is_gone(&remote));
    }
}
