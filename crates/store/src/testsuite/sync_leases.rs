//! SyncLeases: one sync per source across processes.

use super::*;
use crate::{HolderLiveness, LeaseGrant, LeaseHolder, ProcessState, ScopedLiveness, Store};
use std::time::Duration;

/// One holder at a time; renew only by the holder; release frees; an expired lease is taken
/// over and reported as such.
pub async fn test_sync_leases(store: &dyn Store) {
    let a = store
        .add_source(&new_source("a", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    let b = store
        .add_source(&new_source("b", "http://127.0.0.1/b/catalog.xml"))
        .await
        .expect("add b");
    let ttl = Duration::from_secs(60);
    assert_eq!(
        store
            .try_acquire_lease(a.id, &LeaseHolder::named("h1"), ttl)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    assert_eq!(
        busy_holder(
            store
                .try_acquire_lease(a.id, &LeaseHolder::named("h2"), ttl)
                .await
                .expect("acq")
        ),
        "h1"
    );
    // Leases are per source.
    assert_eq!(
        store
            .try_acquire_lease(b.id, &LeaseHolder::named("h2"), ttl)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    assert!(store.renew_lease(a.id, "h1", ttl).await.expect("renew"));
    assert!(!store.renew_lease(a.id, "h2", ttl).await.expect("renew"));
    // Releasing someone else's lease does nothing.
    store.release_lease(a.id, "h2").await.expect("release");
    assert_eq!(
        busy_holder(
            store
                .try_acquire_lease(a.id, &LeaseHolder::named("h3"), ttl)
                .await
                .expect("acq")
        ),
        "h1"
    );
    store.release_lease(a.id, "h1").await.expect("release");
    assert!(!store.renew_lease(a.id, "h1", ttl).await.expect("renew"));
    assert_eq!(
        store
            .try_acquire_lease(a.id, &LeaseHolder::named("h3"), ttl)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );

    // A short lease left behind (a killed run) expires and is taken over.
    store.release_lease(a.id, "h3").await.expect("release");
    assert_eq!(
        store
            .try_acquire_lease(
                a.id,
                &LeaseHolder::named("dead"),
                Duration::from_millis(200)
            )
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    assert_eq!(
        busy_holder(
            store
                .try_acquire_lease(a.id, &LeaseHolder::named("h4"), ttl)
                .await
                .expect("acq")
        ),
        "dead"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store
            .try_acquire_lease(a.id, &LeaseHolder::named("h4"), ttl)
            .await
            .expect("acq"),
        LeaseGrant::TakenOver
    );
    assert!(!store.renew_lease(a.id, "dead", ttl).await.expect("renew"));
    assert!(store.renew_lease(a.id, "h4", ttl).await.expect("renew"));

    // Removing the source removes its lease.
    assert!(store.remove_source("a").await.expect("remove"));
    assert!(!store.renew_lease(a.id, "h4", ttl).await.expect("renew"));
}

/// The ID of the holder a busy answer names (panics on any other answer).
fn busy_holder(grant: LeaseGrant) -> String {
    match grant {
        LeaseGrant::Busy(info) => info.holder.id,
        other => panic!("expected busy, got {other:?}"),
    }
}

/// A holder with every detail set.
fn full_holder(id: &str, host: &str, pid: u32, scope: &str, start_ticks: u64) -> LeaseHolder {
    LeaseHolder {
        id: id.into(),
        host: Some(host.into()),
        pid: Some(pid),
        scope: Some(scope.into()),
        start_ticks: Some(start_ticks),
    }
}

/// The holder's details are stored with the lease and returned, with its times, to a
/// contender that finds it busy; renewing moves the expiry; retaking one's own lease updates
/// the details.
pub async fn test_lease_holder_details(store: &dyn Store) {
    let a = store
        .add_source(&new_source("a", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    let ttl = Duration::from_secs(60);
    // Hostile text and a start time beyond 32 bits round-trip unchanged.
    let h1 = full_holder(
        "h1",
        "box'; DROP TABLE sync_leases;--ü",
        4242,
        "boot/ns",
        1 << 40,
    );
    assert_eq!(
        store.try_acquire_lease(a.id, &h1, ttl).await.expect("acq"),
        LeaseGrant::Acquired
    );
    let info = match store
        .try_acquire_lease(a.id, &LeaseHolder::named("h2"), ttl)
        .await
        .expect("acq")
    {
        LeaseGrant::Busy(info) => info,
        other => panic!("expected busy, got {other:?}"),
    };
    assert_eq!(info.holder, h1);
    let held = (info.expires_at - info.acquired_at)
        .to_std()
        .expect("positive");
    assert!(
        held.abs_diff(ttl) < Duration::from_secs(1),
        "acquired {} expires {}",
        info.acquired_at,
        info.expires_at
    );
    assert!(
        info.acquired_at <= info.now && info.now < info.expires_at,
        "{info:?}"
    );
    assert!(
        info.expires_in() <= ttl && info.expires_in() > ttl / 2,
        "{info:?}"
    );
    let text = info.to_string();
    assert!(text.contains("pid 4242 on host box'"), "{text}");

    // Renewing moves the expiry, not the start.
    assert!(
        store
            .renew_lease(a.id, "h1", ttl * 10)
            .await
            .expect("renew")
    );
    let LeaseGrant::Busy(renewed) = store
        .try_acquire_lease(a.id, &LeaseHolder::named("h2"), ttl)
        .await
        .expect("acq")
    else {
        panic!("expected busy");
    };
    assert_eq!(renewed.acquired_at, info.acquired_at);
    assert!(
        renewed.expires_at >= info.expires_at + chrono::Duration::seconds(480),
        "{renewed:?}"
    );

    // The same holder ID again (its own lease) takes it over with the new details; a holder
    // without details is stored as such.
    let h1b = full_holder("h1", "other", 7, "boot2/ns", 9);
    assert_eq!(
        store.try_acquire_lease(a.id, &h1b, ttl).await.expect("acq"),
        LeaseGrant::TakenOver
    );
    let LeaseGrant::Busy(now) = store
        .try_acquire_lease(a.id, &LeaseHolder::named("h2"), ttl)
        .await
        .expect("acq")
    else {
        panic!("expected busy");
    };
    assert_eq!(now.holder, h1b);
    store.release_lease(a.id, "h1").await.expect("release");
    let bare = LeaseHolder::named("bare");
    assert_eq!(
        store
            .try_acquire_lease(a.id, &bare, ttl)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    let LeaseGrant::Busy(now) = store.try_acquire_lease(a.id, &h1, ttl).await.expect("acq") else {
        panic!("expected busy");
    };
    assert_eq!(now.holder, bare);
}

/// A holder of the caller's own scope whose process is gone (missing, or its PID reused by a
/// later process) is taken over at once, long before expiry; a live holder, a holder of
/// another scope (another host) and a holder without details are not.
pub async fn test_lease_takeover_of_gone_holder(store: &dyn Store) {
    let a = store
        .add_source(&new_source("a", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    let ttl = Duration::from_secs(600);
    let scope = "boot-1/pidns-1";
    // The processes of this scope: 10 runs (started at tick 500), 11 does not exist, 12 runs
    // but started at tick 900 (a reused PID); anything else cannot be told.
    let liveness = ScopedLiveness::new(
        Some(scope.into()),
        std::sync::Arc::new(|pid| match pid {
            10 => ProcessState::Running { start_ticks: 500 },
            11 => ProcessState::Missing,
            12 => ProcessState::Running { start_ticks: 900 },
            _ => ProcessState::Unknown,
        }),
    );
    let me = full_holder("me", "box", 10, scope, 500);

    // Free: acquired.
    assert_eq!(
        store
            .acquire_lease(a.id, &me, ttl, &liveness)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    store.release_lease(a.id, "me").await.expect("release");

    let cases: [(LeaseHolder, bool); 6] = [
        (full_holder("missing", "box", 11, scope, 300), true),
        (full_holder("reused", "box", 12, scope, 300), true),
        (full_holder("live", "box", 10, scope, 500), false),
        (full_holder("unknown", "box", 13, scope, 300), false),
        (
            full_holder("remote", "box", 11, "boot-2/pidns-1", 300),
            false,
        ),
        (
            LeaseHolder {
                host: Some("box".into()),
                pid: Some(11),
                ..LeaseHolder::named("old-row")
            },
            false,
        ),
    ];
    for (other, gone) in cases {
        assert_eq!(liveness.is_gone(&other), gone, "{other:?}");
        assert_eq!(
            store
                .try_acquire_lease(a.id, &other, ttl)
                .await
                .expect("acq"),
            LeaseGrant::Acquired
        );
        let grant = store
            .acquire_lease(a.id, &me, ttl, &liveness)
            .await
            .expect("acq");
        if gone {
            assert_eq!(grant, LeaseGrant::TakenOver, "{other:?}");
            assert!(
                !store
                    .renew_lease(a.id, &other.id, ttl)
                    .await
                    .expect("renew")
            );
            assert!(store.renew_lease(a.id, "me", ttl).await.expect("renew"));
            assert_eq!(
                busy_holder(
                    store
                        .try_acquire_lease(a.id, &LeaseHolder::named("x"), ttl)
                        .await
                        .expect("acq")
                ),
                "me"
            );
            store.release_lease(a.id, "me").await.expect("release");
        } else {
            assert_eq!(busy_holder(grant), other.id, "{other:?}");
            assert!(
                store
                    .renew_lease(a.id, &other.id, ttl)
                    .await
                    .expect("renew")
            );
            store.release_lease(a.id, &other.id).await.expect("release");
        }
    }

    // A takeover names the holder it replaces: nothing happens when that one no longer
    // holds the lease.
    let first = full_holder("first", "box", 11, scope, 1);
    assert_eq!(
        store
            .try_acquire_lease(a.id, &first, ttl)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    assert!(
        !store
            .take_over_lease(a.id, "someone-else", &me, ttl)
            .await
            .expect("take over")
    );
    assert_eq!(
        busy_holder(store.try_acquire_lease(a.id, &me, ttl).await.expect("acq")),
        "first"
    );
    assert!(
        store
            .take_over_lease(a.id, "first", &me, ttl)
            .await
            .expect("take over")
    );
    assert!(
        !store
            .take_over_lease(a.id, "first", &LeaseHolder::named("third"), ttl)
            .await
            .expect("take over")
    );
    assert!(store.renew_lease(a.id, "me", ttl).await.expect("renew"));
    // No lease at all: nothing to take over.
    store.release_lease(a.id, "me").await.expect("release");
    assert!(
        !store
            .take_over_lease(a.id, "me", &first, ttl)
            .await
            .expect("take over")
    );
    assert_eq!(
        store
            .try_acquire_lease(a.id, &first, ttl)
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
}

/// Concurrent contenders: exactly one wins.
pub async fn test_sync_lease_contention(store: &dyn Store) {
    let a = store
        .add_source(&new_source("a", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    let ttl = Duration::from_secs(60);
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let holder = format!("h{i}");
            async move {
                store
                    .try_acquire_lease(a.id, &LeaseHolder::named(holder), ttl)
                    .await
            }
        })
        .collect();
    let results = futures_join_all(tries).await;
    let held = results
        .iter()
        .filter(|r| r.as_ref().expect("acq").held())
        .count();
    assert_eq!(held, 1, "{results:?}");
}

async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    // A tiny join_all without a futures dependency: poll them all concurrently with tokio.
    let mut out = Vec::with_capacity(fs.len());
    let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().flatten());
    out
}
