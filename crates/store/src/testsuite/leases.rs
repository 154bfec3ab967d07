//! Suite: sync leases and the collection → catalogs lookup (issue 4).

use std::time::Duration;

use super::*;
use crate::{Batch, LeaseGrant, NodeClass, Store};

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
        store.try_acquire_lease(a.id, "h1", ttl).await.expect("acq"),
        LeaseGrant::Acquired
    );
    assert_eq!(
        store.try_acquire_lease(a.id, "h2", ttl).await.expect("acq"),
        LeaseGrant::Busy
    );
    // Leases are per source.
    assert_eq!(
        store.try_acquire_lease(b.id, "h2", ttl).await.expect("acq"),
        LeaseGrant::Acquired
    );
    assert!(store.renew_lease(a.id, "h1", ttl).await.expect("renew"));
    assert!(!store.renew_lease(a.id, "h2", ttl).await.expect("renew"));
    // Releasing someone else's lease does nothing.
    store.release_lease(a.id, "h2").await.expect("release");
    assert_eq!(
        store.try_acquire_lease(a.id, "h3", ttl).await.expect("acq"),
        LeaseGrant::Busy
    );
    store.release_lease(a.id, "h1").await.expect("release");
    assert!(!store.renew_lease(a.id, "h1", ttl).await.expect("renew"));
    assert_eq!(
        store.try_acquire_lease(a.id, "h3", ttl).await.expect("acq"),
        LeaseGrant::Acquired
    );

    // A short lease left behind (a killed run) expires and is taken over.
    store.release_lease(a.id, "h3").await.expect("release");
    assert_eq!(
        store
            .try_acquire_lease(a.id, "dead", Duration::from_millis(200))
            .await
            .expect("acq"),
        LeaseGrant::Acquired
    );
    assert_eq!(
        store.try_acquire_lease(a.id, "h4", ttl).await.expect("acq"),
        LeaseGrant::Busy
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store.try_acquire_lease(a.id, "h4", ttl).await.expect("acq"),
        LeaseGrant::TakenOver
    );
    assert!(!store.renew_lease(a.id, "dead", ttl).await.expect("renew"));
    assert!(store.renew_lease(a.id, "h4", ttl).await.expect("renew"));

    // Removing the source removes its lease.
    assert!(store.remove_source("a").await.expect("remove"));
    assert!(!store.renew_lease(a.id, "h4", ttl).await.expect("renew"));
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
            async move { store.try_acquire_lease(a.id, &holder, ttl).await }
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

/// `catalogs_for_collection` lists exactly the catalogs holding the collection's granules.
pub async fn test_catalogs_for_collection(store: &dyn Store) {
    let s = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    let root = "http://127.0.0.1/s/catalog.xml";
    let d1 = "http://127.0.0.1/s/20240101/catalog.xml";
    let d2 = "http://127.0.0.1/s/20240102/catalog.xml";
    let other = "http://127.0.0.1/s/other/catalog.xml";
    let mut archival = fetched(d1, s.id, Some(root), 1);
    archival.class = NodeClass::Archival;
    let mut daily = fetched(d2, s.id, Some(root), 1);
    daily.class = NodeClass::Daily;
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(root, s.id, None, 0),
                archival,
                daily,
                fetched(other, s.id, Some(root), 1),
            ],
            collections: vec![collection("c1", s.id, d1), collection("c2", s.id, other)],
            granules: vec![
                granule("c1", "a/f1.nc", d1, Some(t(0))),
                granule("c1", "a/f2.nc", d1, Some(t(60))),
                granule("c1", "a/f3.nc", d2, Some(t(86_400))),
                granule("c2", "b/f1.nc", other, Some(t(0))),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    let cats = store.catalogs_for_collection("c1").await.expect("lookup");
    let urls: Vec<&str> = cats.iter().map(|c| c.url.as_str()).collect();
    assert_eq!(urls, vec![d1, d2]);
    assert_eq!(cats[0].class, NodeClass::Archival);
    assert_eq!(cats[1].class, NodeClass::Daily);
    let cats = store.catalogs_for_collection("c2").await.expect("lookup");
    assert_eq!(cats.len(), 1);
    assert_eq!(cats[0].url, other);
    assert!(
        store
            .catalogs_for_collection("nope")
            .await
            .expect("lookup")
            .is_empty()
    );
}
