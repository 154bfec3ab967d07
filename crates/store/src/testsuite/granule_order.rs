//! GranuleIndex, descending: listings backwards in the index and their keyset cursors.

use super::*;
use crate::{Batch, Granule, GranuleQuery, Store};

/// Every page of a descending listing of `collection` with `window`, from `after`.
pub async fn page_all_desc(
    store: &dyn Store,
    collection: &str,
    limit: u32,
    window: (Option<Timestamp>, Option<Timestamp>),
    mut after: Option<(Option<Timestamp>, String)>,
) -> Vec<Granule> {
    let mut seen = Vec::new();
    loop {
        let page = store
            .list_granules_desc(&GranuleQuery {
                collection_id: collection.into(),
                start: window.0,
                end: window.1,
                after: after.clone(),
                limit,
            })
            .await
            .expect("page");
        assert!(page.len() <= limit as usize || limit == 0);
        let Some(last) = page.last() else { break };
        after = Some((last.start, last.granule_id.clone()));
        seen.extend(page);
        assert!(seen.len() <= 1000, "paging does not terminate");
        if limit == 0 {
            break;
        }
    }
    seen
}

/// Descending listings are the ascending ones reversed, in every window and with every page
/// size; a cursor with an empty ID stands after its whole start group; granules written between
/// two pages are listed exactly when they fall past the cursor, and nothing is listed twice.
pub async fn test_granule_paging_descending(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let mut granules = Vec::new();
    for i in 0..61i64 {
        // Repeated starts (i / 4), a few untimed granules, some with an end.
        let start = if i % 13 == 0 { None } else { Some(t(i / 4)) };
        let mut g = granule("c", &format!("g{:02}", (i * 37) % 61), cat, start);
        if i % 5 == 0 {
            g.end = Some(t(i / 4 + 3));
        }
        granules.push(g);
    }
    store
        .write_batch(&Batch {
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    for window in [
        (None, None),
        (Some(t(3)), Some(t(9))),
        (Some(t(5)), None),
        (None, Some(t(7))),
        (Some(t(500)), None),
    ] {
        let mut want = page_all_like(store, "c", window).await;
        want.reverse();
        for limit in [0u32, 1, 4, 7, 100] {
            assert_eq!(
                page_all_desc(store, "c", limit, window, None).await,
                want,
                "window {window:?}, limit {limit}"
            );
        }
    }
    let mut all = all_granules(store, "c").await;
    all.reverse();
    assert!(
        all.last().is_some_and(|g| g.start.is_none()),
        "untimed last"
    );
    // An empty ID: the whole group of its start, then earlier ones.
    for at in [Some(t(5)), None] {
        let from = page_all_desc(store, "c", 3, (None, None), Some((at, String::new()))).await;
        let want: Vec<Granule> = all.iter().filter(|g| g.start <= at).cloned().collect();
        assert!(!want.is_empty());
        assert_eq!(from, want, "from the end of group {at:?}");
    }
    // Granules arriving between pages.
    let first = store
        .list_granules_desc(&GranuleQuery {
            collection_id: "c".into(),
            start: None,
            end: None,
            after: None,
            limit: 10,
        })
        .await
        .expect("page");
    let last = first.last().expect("a full page").clone();
    let at = last.start.expect("timed");
    let arrivals = vec![
        granule("c", "zz-latest", cat, Some(t(1000))),
        granule("c", "a-same-start-before", cat, Some(at)),
        granule("c", "zz-same-start-after", cat, Some(at)),
        granule("c", "m-earlier", cat, Some(t(1))),
        granule("c", "m-untimed", cat, None),
    ];
    store
        .write_batch(&Batch {
            granules: arrivals,
            ..Batch::default()
        })
        .await
        .expect("write arrivals");
    let rest = page_all_desc(
        store,
        "c",
        4,
        (None, None),
        Some((last.start, last.granule_id.clone())),
    )
    .await;
    let mut now = all_granules(store, "c").await;
    now.reverse();
    let cut = (last.start, last.granule_id.as_str());
    let want: Vec<Granule> = now
        .into_iter()
        .filter(|g| (g.start, g.granule_id.as_str()) < cut)
        .collect();
    assert_eq!(rest, want);
    let ids: Vec<&str> = rest.iter().map(|g| g.granule_id.as_str()).collect();
    for id in ["a-same-start-before", "m-earlier", "m-untimed"] {
        assert!(ids.contains(&id), "{id} arrived past the cursor");
    }
    for id in ["zz-latest", "zz-same-start-after"] {
        assert!(!ids.contains(&id), "{id} arrived before the cursor");
    }
    for g in &first {
        assert!(!ids.contains(&g.granule_id.as_str()), "listed twice");
    }
}

/// The whole ascending listing of `collection` in `window`.
async fn page_all_like(
    store: &dyn Store,
    collection: &str,
    window: (Option<Timestamp>, Option<Timestamp>),
) -> Vec<Granule> {
    store
        .list_granules(&GranuleQuery {
            collection_id: collection.into(),
            start: window.0,
            end: window.1,
            after: None,
            limit: 0,
        })
        .await
        .expect("list")
}
