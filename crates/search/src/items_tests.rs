use std::sync::Arc;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use threddex_store::{
    AccessService, BBox, Batch, CollectionUpsert, CrawlState, Granule, GranuleQuery, ItemTest,
    ItemText, LikePattern, NewSource, RecordFilter, SourceRegistry, Store, Timestamp,
};
use threddex_store_sqlite::SqliteStore;

use super::*;
use crate::SearchConfig;
use crate::cursor::decode_item;

const COLLECTIONS: [&str; 4] = ["a:x", "b:y", "c:z", "d:w"];

fn hour(h: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::hours(h)
}

fn bbox_of(i: usize) -> Option<BBox> {
    match i {
        0 => Some(BBox {
            west: -10.0,
            south: -10.0,
            east: 10.0,
            north: 10.0,
        }),
        1 => Some(BBox {
            west: 170.0,
            south: 0.0,
            east: -170.0,
            north: 20.0,
        }),
        2 => None,
        _ => Some(BBox {
            west: 50.0,
            south: 40.0,
            east: 60.0,
            north: 50.0,
        }),
    }
}

async fn store() -> Arc<dyn Store> {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let source = s
        .add_source(&NewSource {
            name: "s".into(),
            url: "http://h/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let mut batch = Batch::default();
    for (i, c) in COLLECTIONS.iter().enumerate() {
        batch.collections.push(CollectionUpsert {
            id: (*c).into(),
            source_id: source.id,
            title: (*c).into(),
            template: None,
            catalog_url: format!("http://h/thredds/catalog/{i}/catalog.xml"),
            services: vec![AccessService {
                name: "http".into(),
                service_type: "HTTPServer".into(),
                base: "http://h/fileServer/".into(),
                suffix: String::new(),
            }],
            metadata: serde_json::json!({}),
            summary: None,
            keywords: vec![],
            bbox: bbox_of(i),
        });
        // Starts shared between collections (ties), some granules with an end, one without
        // a start.
        for j in 0..(12 + i * 3) {
            let start = if i == 2 && j == 0 {
                None
            } else {
                Some(hour(((j * 7 + i * 3) % 40) as i64))
            };
            batch.granules.push(Granule {
                collection_id: (*c).into(),
                granule_id: format!("g{j:02}-{i}"),
                name: format!("g{j:02}-{i}.nc"),
                start,
                end: (j % 3 == 0).then(|| hour(((j * 7 + i * 3) % 40) as i64 + 5)),
                url_path: Some(format!("{c}/g{j:02}.nc")),
                size: Some(j as i64),
                modified: None,
                catalog_url: format!("http://h/thredds/catalog/{i}/catalog.xml"),
            });
        }
    }
    batch.complete_catalogs.extend(
        (0..COLLECTIONS.len()).map(|i| format!("http://h/thredds/catalog/{i}/catalog.xml")),
    );
    s.write_batch(&batch).await.unwrap();
    s.refresh_collection_stats(&COLLECTIONS.map(String::from))
        .await
        .unwrap();
    Arc::new(s)
}

/// Every granule passing the filter, in the order's order (the answer paging must give).
async fn expected(store: &dyn Store, req: &ItemRequest) -> Vec<(String, String)> {
    let mut all: Vec<(Option<Timestamp>, String, String)> = Vec::new();
    for (i, c) in COLLECTIONS.iter().enumerate() {
        if req
            .collections
            .as_ref()
            .is_some_and(|l| !l.iter().any(|x| x == c))
        {
            continue;
        }
        if let RecordFilter::CompareText { value, .. } = &req.collection_filter
            && value == c
        {
            continue;
        }
        let rows = store
            .list_granules(&GranuleQuery {
                collection_id: (*c).into(),
                start: None,
                end: None,
                after: None,
                limit: 10_000,
            })
            .await
            .unwrap();
        for g in rows {
            if req.filter.matches_item(&g, bbox_of(i).as_ref()) {
                all.push((g.start, (*c).into(), g.granule_id));
            }
        }
    }
    match req.order {
        ItemOrder::Collection => all.sort_by(|a, b| (&a.1, a.0, &a.2).cmp(&(&b.1, b.0, &b.2))),
        ItemOrder::Datetime => all.sort(),
        ItemOrder::Id => all.sort_by(|a, b| (&a.2, &a.1).cmp(&(&b.2, &b.1))),
    }
    if req.descending {
        all.reverse();
    }
    all.into_iter().map(|(_, c, g)| (c, g)).collect()
}

fn filter_strategy() -> impl Strategy<Value = RecordFilter> {
    let window = (prop::option::of(0i64..40), prop::option::of(0i64..20)).prop_map(|(a, d)| {
        RecordFilter::Item(ItemTest::Intersects {
            start: a.map(hour),
            end: d.map(|d| hour(a.unwrap_or(0) + d)),
        })
    });
    let bbox = (-20i32..60, -20i32..45).prop_map(|(w, s)| {
        RecordFilter::BBox(BBox {
            west: f64::from(w),
            south: f64::from(s),
            east: f64::from(w + 15),
            north: f64::from(s + 10),
        })
    });
    let id = (0u32..3).prop_map(|d| {
        RecordFilter::Item(ItemTest::Like {
            prop: ItemText::Id,
            pattern: LikePattern::parse(&format!("%{d}"), '%', '_', None),
            match_case: true,
        })
    });
    let leaf = prop_oneof![window, bbox, id, Just(RecordFilter::All)];
    prop::collection::vec(leaf, 0..3).prop_map(|v| match v.len() {
        0 => RecordFilter::All,
        _ => RecordFilter::And(v),
    })
}

/// One page, as [`SearchCore::items`] gives it, with a scan budget.
async fn page_of(core: &SearchCore, req: &ItemRequest, budget: usize) -> ItemPage {
    match req.order {
        // ID order sorts every match: it needs a budget that reads them all.
        ItemOrder::Id => core.items_by_id(req, budget.max(100)).await.unwrap(),
        _ => core.items_scanning(req, budget).await.unwrap(),
    }
}

fn order_strategy() -> impl Strategy<Value = (ItemOrder, bool)> {
    (
        prop_oneof![
            Just(ItemOrder::Collection),
            Just(ItemOrder::Datetime),
            Just(ItemOrder::Id)
        ],
        prop::bool::ANY,
    )
}

/// Paging through any search, in any order and direction, with any page size and scan budget,
/// gives exactly the unpaged answer: every match once, in order.
#[test]
fn pages_concatenate_to_the_whole_answer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(store());
    let core = SearchCore::new(Arc::clone(&store), None, SearchConfig::default());
    let strategy = (
        filter_strategy(),
        prop::option::of(prop::sample::subsequence(COLLECTIONS.to_vec(), 1..4)),
        order_strategy(),
        1u32..9,
        1usize..60,
        prop::option::of(0usize..COLLECTIONS.len()),
    );
    let mut runner = TestRunner::new(Config::with_cases(160));
    runner
        .run(
            &strategy,
            |(filter, collections, (order, descending), limit, budget, exclude)| {
                let req = ItemRequest {
                    collections: collections.map(|l| l.into_iter().map(String::from).collect()),
                    filter,
                    collection_filter: exclude.map_or(RecordFilter::All, |i: usize| {
                        RecordFilter::CompareText {
                            prop: threddex_store::TextProperty::Identifier,
                            op: threddex_store::CompareOp::Ne,
                            value: COLLECTIONS[i].into(),
                            match_case: true,
                        }
                    }),
                    limit,
                    after: None,
                    order,
                    descending,
                    updated_since: None,
                };
                rt.block_on(async {
                    let want = expected(store.as_ref(), &req).await;
                    let mut got = Vec::new();
                    let mut req = req.clone();
                    for _ in 0..2_000 {
                        let page = page_of(&core, &req, budget).await;
                        assert!(page.items.len() <= limit as usize);
                        got.extend(
                            page.items
                                .iter()
                                .map(|(c, g)| (c.info.id.clone(), g.granule_id.clone())),
                        );
                        match page.next {
                            Some(n) => req.after = Some(decode_item(&n).unwrap()),
                            None => break,
                        }
                    }
                    prop_assert_eq!(got, want);
                    Ok(())
                })
            },
        )
        .unwrap();
}

/// A first page that reads its whole window gives the count the index would (the granules it
/// listed) without asking for it; a page that stops early asks the index: both the same.
#[tokio::test]
async fn a_page_that_read_its_whole_window_counts_what_it_listed() {
    let store = store().await;
    let core = SearchCore::new(Arc::clone(&store), None, SearchConfig::default());
    for c in COLLECTIONS {
        for (s, e) in [(0, 39), (3, 20), (10, 10), (38, 60), (50, 60)] {
            let window = GranuleQuery {
                collection_id: c.into(),
                start: Some(hour(s)),
                end: Some(hour(e) + chrono::TimeDelta::microseconds(1)),
                after: None,
                limit: 0,
            };
            let indexed = store.count_granules(&window).await.unwrap();
            for order in [ItemOrder::Collection, ItemOrder::Datetime, ItemOrder::Id] {
                for descending in [false, true] {
                    for limit in [1, 2, 1_000] {
                        let req = ItemRequest {
                            collections: Some(vec![c.into()]),
                            filter: RecordFilter::Item(ItemTest::Intersects {
                                start: Some(hour(s)),
                                end: Some(hour(e)),
                            }),
                            collection_filter: RecordFilter::All,
                            limit,
                            after: None,
                            order,
                            descending,
                            updated_since: None,
                        };
                        let page = core.items(&req).await.unwrap();
                        assert_eq!(page.matched, indexed, "{c} {s}..{e} {order:?} {limit}");
                        if page.next.is_none() {
                            assert_eq!(page.matched, Some(page.items.len() as u64));
                        }
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn counts_are_given_when_free() {
    let store = store().await;
    let core = SearchCore::new(store, None, SearchConfig::default());
    let req = |collections: Option<Vec<String>>, filter| ItemRequest {
        collections,
        filter,
        collection_filter: RecordFilter::All,
        limit: 2,
        after: None,
        order: ItemOrder::Collection,
        descending: false,
        updated_since: None,
    };
    let one = core
        .items(&req(Some(vec!["b:y".into()]), RecordFilter::All))
        .await
        .unwrap();
    assert_eq!(one.matched, Some(15));
    assert_eq!(one.items.len(), 2);
    assert!(one.next.is_some());
    let tested = core
        .items(&req(
            Some(vec!["b:y".into()]),
            RecordFilter::Item(ItemTest::Intersects {
                start: Some(hour(1)),
                end: None,
            }),
        ))
        .await
        .unwrap();
    assert_eq!(tested.matched, None, "an open window is not counted");
    let window = RecordFilter::Item(ItemTest::Intersects {
        start: Some(hour(3)),
        end: Some(hour(20)),
    });
    let counted = core
        .items(&req(Some(vec!["b:y".into()]), window.clone()))
        .await
        .unwrap();
    let want = expected(
        core.store().as_ref(),
        &req(Some(vec!["b:y".into()]), window),
    )
    .await;
    assert!(want.len() > 2);
    assert_eq!(counted.matched, Some(want.len() as u64));
    let none = core
        .items(&req(Some(vec!["nope".into()]), RecordFilter::All))
        .await
        .unwrap();
    assert_eq!(none.matched, Some(0));
    assert!(none.items.is_empty() && none.next.is_none());
    let all = core.items(&req(None, RecordFilter::All)).await.unwrap();
    assert_eq!(all.matched, None);
}

#[tokio::test]
async fn time_order_puts_granules_without_a_start_first() {
    let core = SearchCore::new(store().await, None, SearchConfig::default());
    let page = core
        .items(&ItemRequest {
            collections: None,
            filter: RecordFilter::All,
            collection_filter: RecordFilter::All,
            limit: 5,
            after: None,
            order: ItemOrder::Datetime,
            descending: false,
            updated_since: None,
        })
        .await
        .unwrap();
    let starts: Vec<Option<Timestamp>> = page.items.iter().map(|(_, g)| g.start).collect();
    assert_eq!(starts[0], None, "granules without a start come first");
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
}

#[tokio::test]
async fn descending_time_order_puts_granules_without_a_start_last() {
    let core = SearchCore::new(store().await, None, SearchConfig::default());
    let mut req = ItemRequest {
        collections: None,
        filter: RecordFilter::All,
        collection_filter: RecordFilter::All,
        limit: 7,
        after: None,
        order: ItemOrder::Datetime,
        descending: true,
        updated_since: None,
    };
    let mut starts = Vec::new();
    loop {
        let page = core.items(&req).await.unwrap();
        starts.extend(page.items.iter().map(|(_, g)| g.start));
        match page.next {
            Some(n) => req.after = Some(decode_item(&n).unwrap()),
            None => break,
        }
    }
    assert_eq!(starts.len(), 12 + 15 + 18 + 21);
    assert_eq!(
        starts.last(),
        Some(&None),
        "granules without a start come last"
    );
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");
}

/// Granules written between two pages: the rest of the answer is exactly what follows the
/// first page's last item in the order of the store as it is now (new granules past the
/// cursor are listed once, those before it never), in every order and direction.
#[tokio::test]
async fn pages_stay_correct_while_granules_arrive() {
    for (order, descending) in [
        (ItemOrder::Collection, false),
        (ItemOrder::Collection, true),
        (ItemOrder::Datetime, false),
        (ItemOrder::Datetime, true),
        (ItemOrder::Id, false),
        (ItemOrder::Id, true),
    ] {
        let store = store().await;
        let core = SearchCore::new(Arc::clone(&store), None, SearchConfig::default());
        let mut req = ItemRequest {
            collections: None,
            filter: RecordFilter::All,
            collection_filter: RecordFilter::All,
            limit: 20,
            after: None,
            order,
            descending,
            updated_since: None,
        };
        let first = core.items(&req).await.unwrap();
        let (c, g) = first.items.last().unwrap();
        let cursor = (c.info.id.clone(), g.granule_id.clone());
        // New granules everywhere: early, late, untimed, in the cursor's start group.
        let mut batch = Batch::default();
        for (i, c) in COLLECTIONS.iter().enumerate() {
            for (n, start) in [
                ("aa-new", Some(hour(-5))),
                ("zz-new", Some(hour(100))),
                ("mm-untimed", None),
                ("g05-new", g.start),
            ] {
                batch.granules.push(Granule {
                    collection_id: (*c).into(),
                    granule_id: format!("{n}-{i}"),
                    name: format!("{n}.nc"),
                    start,
                    end: None,
                    url_path: Some(format!("{c}/{n}.nc")),
                    size: None,
                    modified: None,
                    catalog_url: format!("http://h/thredds/catalog/{i}/catalog.xml"),
                });
            }
        }
        store.write_batch(&batch).await.unwrap();
        let mut rest = Vec::new();
        req.after = Some(decode_item(first.next.as_deref().unwrap()).unwrap());
        loop {
            let page = core.items(&req).await.unwrap();
            rest.extend(
                page.items
                    .iter()
                    .map(|(c, g)| (c.info.id.clone(), g.granule_id.clone())),
            );
            match page.next {
                Some(n) => req.after = Some(decode_item(&n).unwrap()),
                None => break,
            }
        }
        let now = expected(store.as_ref(), &req).await;
        let at = now.iter().position(|x| *x == cursor).unwrap();
        assert_eq!(
            rest,
            now[at + 1..].to_vec(),
            "{order:?}, descending {descending}"
        );
        let before: Vec<(String, String)> = first
            .items
            .iter()
            .map(|(c, g)| (c.info.id.clone(), g.granule_id.clone()))
            .collect();
        assert!(rest.iter().all(|x| !before.contains(x)), "listed twice");
        assert!(
            rest.iter()
                .any(|(_, g)| g.contains("new") || g.contains("untimed")),
            "some arrivals fall past the cursor"
        );
    }
}

#[test]
fn one_named_collection_is_recognised() {
    let id = |v: &str| id_is(CompareOp::Eq, v);
    let any = RecordFilter::All;
    assert_eq!(
        only_id(&[any.clone(), any.clone(), RecordFilter::Or(vec![id("a:x")])]),
        Some("a:x")
    );
    assert_eq!(
        only_id(&[id("a:x"), RecordFilter::And(vec![])]),
        Some("a:x")
    );
    // Two names, a name and another condition, other operators or case-blind matching: no.
    assert_eq!(
        only_id(&[RecordFilter::Or(vec![id("a:x"), id("b:y")])]),
        None
    );
    assert_eq!(only_id(&[id("a:x"), id("b:y")]), None);
    assert_eq!(
        only_id(&[id("a:x"), id_is(CompareOp::Ne, "b:y")]),
        None,
        "an exclusion beside the name"
    );
    assert_eq!(only_id(&[id_is(CompareOp::Ge, "a:x")]), None);
    let blind = RecordFilter::CompareText {
        prop: threddex_store::TextProperty::Identifier,
        op: CompareOp::Eq,
        value: "a:x".into(),
        match_case: false,
    };
    assert_eq!(only_id(&[blind]), None);
    assert_eq!(only_id(&[any]), None);
}

/// A search of one named collection takes the collection from the cache while its entry is
/// fresh (the store's newer figures show once it expires or with the cache off), and its
/// pages are the same either way.
#[tokio::test]
async fn one_collection_searches_share_the_collection_cache() {
    let store = store().await;
    let cached = SearchCore::new(Arc::clone(&store), None, SearchConfig::default());
    let uncached = SearchCore::new(
        Arc::clone(&store),
        None,
        SearchConfig {
            collection_cache_ttl: std::time::Duration::ZERO,
            ..SearchConfig::default()
        },
    );
    let req = ItemRequest {
        collections: Some(vec!["a:x".into()]),
        filter: RecordFilter::All,
        collection_filter: RecordFilter::All,
        limit: 1_000,
        after: None,
        order: ItemOrder::Collection,
        descending: false,
        updated_since: None,
    };
    let first = cached.items(&req).await.unwrap();
    let ids = |p: &ItemPage| -> Vec<String> {
        p.items.iter().map(|(_, g)| g.granule_id.clone()).collect()
    };
    let count_of = |p: &ItemPage| p.items.first().map(|(c, _)| c.granule_count);
    assert_eq!(count_of(&first), Some(12));
    assert!(first.items.iter().all(|(c, _)| c.iso_record.is_none()));

    // The store gains a granule; the cached collection still shows the old figures.
    store
        .write_batch(&Batch {
            granules: vec![Granule {
                collection_id: "a:x".into(),
                granule_id: "g99-0".into(),
                name: "g99-0.nc".into(),
                start: Some(hour(41)),
                end: None,
                url_path: Some("a:x/g99.nc".into()),
                size: Some(1),
                modified: None,
                catalog_url: "http://h/thredds/catalog/0/catalog.xml".into(),
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    store
        .refresh_collection_stats(&["a:x".to_owned()])
        .await
        .unwrap();
    let again = cached.items(&req).await.unwrap();
    let fresh = uncached.items(&req).await.unwrap();
    assert_eq!(count_of(&again), Some(12), "from the cache");
    assert_eq!(count_of(&fresh), Some(13), "from the store");
    assert_eq!(
        ids(&again),
        ids(&fresh),
        "the granules are always the store's"
    );
    assert_eq!(ids(&fresh).len(), 13);
}
