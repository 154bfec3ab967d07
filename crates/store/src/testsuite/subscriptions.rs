//! [`crate::Subscriptions`]: registration, progress, disabling, resuming, the bounded log.

use crate::{
    BBox, DeliveryOutcome, MAX_DELIVERIES_KEPT, NewDelivery, NewSubscription, Store,
    SubscriptionFilter, SubscriptionProgress, SubscriptionState,
};

use super::t;

fn attempt(event_id: i64, attempt: u32, outcome: DeliveryOutcome) -> NewDelivery {
    NewDelivery {
        event_id,
        attempt,
        at: t(i64::from(attempt)),
        status: Some(if outcome == DeliveryOutcome::Delivered {
            204
        } else {
            500
        }),
        outcome,
        error: (outcome != DeliveryOutcome::Delivered).then(|| "HTTP 500".to_owned()),
        duration_ms: 12,
    }
}

/// Subscriptions round-trip; the cursor only moves forward, and only as recorded; failures
/// disable; enabling resumes from the stored cursor; removal takes the log along; the log is
/// newest first, paged and bounded.
pub async fn test_subscriptions(store: &dyn Store) {
    let filter = SubscriptionFilter {
        collections: vec!["a/b".into(), "c".into()],
        pattern: Some("radar/*".into()),
        q: Some("sea surface".into()),
        bbox: Some(BBox {
            west: 170.0,
            south: -10.0,
            east: -170.0,
            north: 10.0,
        }),
    };
    let s = store
        .add_subscription(&NewSubscription {
            target_url: "https://example.org/hook".into(),
            secret: "whsec_c2VjcmV0".into(),
            filter: filter.clone(),
            cursor: 7,
        })
        .await
        .expect("add");
    assert_eq!(s.filter, filter);
    assert_eq!(
        (s.state, s.cursor, s.failures),
        (SubscriptionState::Active, 7, 0)
    );
    assert_eq!(s.secret, "whsec_c2VjcmV0");
    let other = store
        .add_subscription(&NewSubscription {
            target_url: "http://127.0.0.1:9/x".into(),
            secret: "whsec_eA==".into(),
            filter: SubscriptionFilter::default(),
            cursor: 0,
        })
        .await
        .expect("add");
    assert!(other.id > s.id);
    let all = store.list_subscriptions().await.expect("list");
    assert_eq!(
        all.iter().map(|x| x.id).collect::<Vec<_>>(),
        [s.id, other.id]
    );
    assert_eq!(
        store.subscription(s.id).await.expect("get"),
        Some(s.clone())
    );

    // A failure does not move the cursor; a success does; the cursor never goes back.
    let progress = |cursor, failures| SubscriptionProgress {
        cursor,
        failures,
        disable: None,
    };
    assert!(
        store
            .record_delivery(
                s.id,
                Some(&attempt(8, 1, DeliveryOutcome::Failed)),
                &progress(7, 1)
            )
            .await
            .expect("record")
    );
    let now = store.subscription(s.id).await.expect("get").expect("there");
    assert_eq!((now.cursor, now.failures), (7, 1));
    assert!(now.last_failure_at.is_some() && now.last_success_at.is_none());
    store
        .record_delivery(
            s.id,
            Some(&attempt(8, 2, DeliveryOutcome::Delivered)),
            &progress(8, 0),
        )
        .await
        .expect("record");
    store
        .record_delivery(s.id, None, &progress(5, 0))
        .await
        .expect("skip");
    let now = store.subscription(s.id).await.expect("get").expect("there");
    assert_eq!((now.cursor, now.failures), (8, 0));
    assert!(now.last_success_at.is_some());

    // Disabled with a reason, then resumed from the stored cursor (or a given one).
    store
        .record_delivery(
            s.id,
            Some(&attempt(9, 1, DeliveryOutcome::Gone)),
            &SubscriptionProgress {
                cursor: 8,
                failures: 1,
                disable: Some("the receiver answered 410 Gone".into()),
            },
        )
        .await
        .expect("record");
    let now = store.subscription(s.id).await.expect("get").expect("there");
    assert_eq!(now.state, SubscriptionState::Disabled);
    assert_eq!(
        now.disabled_reason.as_deref(),
        Some("the receiver answered 410 Gone")
    );
    let resumed = store
        .enable_subscription(s.id, None)
        .await
        .expect("enable")
        .expect("there");
    assert_eq!(
        (
            resumed.state,
            resumed.cursor,
            resumed.failures,
            resumed.disabled_reason
        ),
        (SubscriptionState::Active, 8, 0, None)
    );
    let moved = store
        .enable_subscription(s.id, Some(3))
        .await
        .expect("enable")
        .expect("there");
    assert_eq!(moved.cursor, 3, "an explicit cursor restarts from there");
    assert_eq!(
        store.enable_subscription(-1, None).await.expect("enable"),
        None
    );

    // The log: newest first, paged by ID, other subscriptions apart.
    let log = store.deliveries(s.id, None, 0).await.expect("log");
    let seen: Vec<(i64, u32, DeliveryOutcome)> = log
        .iter()
        .map(|d| (d.attempt.event_id, d.attempt.attempt, d.attempt.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            (9, 1, DeliveryOutcome::Gone),
            (8, 2, DeliveryOutcome::Delivered),
            (8, 1, DeliveryOutcome::Failed)
        ]
    );
    assert_eq!(log[2].attempt, attempt(8, 1, DeliveryOutcome::Failed));
    let page = store
        .deliveries(s.id, Some(log[0].id), 1)
        .await
        .expect("page");
    assert_eq!(page, log[1..2]);
    assert!(
        store
            .deliveries(other.id, None, 10)
            .await
            .expect("log")
            .is_empty()
    );

    // Bounded: the newest MAX_DELIVERIES_KEPT attempts stay.
    for i in 0..MAX_DELIVERIES_KEPT + 5 {
        store
            .record_delivery(
                other.id,
                Some(&attempt(i64::from(i), 1, DeliveryOutcome::Failed)),
                &progress(0, i + 1),
            )
            .await
            .expect("record");
    }
    let mut kept = Vec::new();
    let mut before = None;
    loop {
        let page = store.deliveries(other.id, before, 0).await.expect("page");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        kept.extend(page.iter().map(|d| d.attempt.event_id));
    }
    assert_eq!(kept.len(), MAX_DELIVERIES_KEPT as usize);
    assert_eq!(kept[0], i64::from(MAX_DELIVERIES_KEPT + 4));
    assert_eq!(kept.last(), Some(&5));

    // Removal: gone with its log; recording for it reports it gone.
    assert!(store.remove_subscription(other.id).await.expect("remove"));
    assert!(!store.remove_subscription(other.id).await.expect("again"));
    assert_eq!(store.subscription(other.id).await.expect("get"), None);
    assert!(
        store
            .deliveries(other.id, None, 10)
            .await
            .expect("log")
            .is_empty()
    );
    assert!(
        !store
            .record_delivery(other.id, None, &progress(9, 0))
            .await
            .expect("record")
    );
    assert_eq!(store.list_subscriptions().await.expect("list").len(), 1);
}
