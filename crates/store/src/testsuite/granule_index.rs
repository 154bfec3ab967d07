//! GranuleIndex: granule listings by time window and paging, and the compact stored forms.

use super::*;
use crate::{Batch, Granule, GranuleQuery, Store};
use chrono::Duration;

/// Overlap semantics of granule queries, with instants, intervals and missing times.
pub async fn test_granule_overlap(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let interval = |id: &str, s: i64, e: i64| Granule {
        end: Some(t(e)),
        ..granule("c", id, cat, Some(t(s)))
    };
    let batch = Batch {
        granules: vec![
            granule("c", "at-start", cat, Some(t(100))),
            granule("c", "at-end", cat, Some(t(200))),
            granule("c", "before", cat, Some(t(99))),
            granule("c", "inside", cat, Some(t(150))),
            granule("c", "no-time", cat, None),
            interval("spans-start", 50, 120),
            interval("ends-at-start", 50, 100),
            interval("ends-before", 10, 99),
            interval("spans-all", 0, 1000),
            interval("starts-at-end", 200, 300),
        ],
        ..Batch::default()
    };
    store.write_batch(&batch).await.expect("write");
    let window = ids_in(store, "c", Some(t(100)), Some(t(200))).await;
    assert_eq!(
        window,
        [
            "spans-all",
            "ends-at-start",
            "spans-start",
            "at-start",
            "inside"
        ],
        "instant at start in, at end out, untimed out"
    );
    // Only a start bound / only an end bound.
    assert_eq!(
        ids_in(store, "c", Some(t(200)), None).await,
        ["spans-all", "at-end", "starts-at-end"]
    );
    assert_eq!(
        ids_in(store, "c", None, Some(t(50))).await,
        ["spans-all", "ends-before"],
        "granules starting at the window end are out"
    );
    assert_eq!(
        ids_in(store, "c", None, Some(t(51))).await,
        ["spans-all", "ends-before", "ends-at-start", "spans-start"]
    );
    // No window: everything, untimed first.
    let all = ids_in(store, "c", None, None).await;
    assert_eq!(all.len(), 10);
    assert_eq!(all[0], "no-time");
    // An empty window.
    assert!(
        ids_in(store, "c", Some(t(5000)), Some(t(6000)))
            .await
            .is_empty()
    );
    // Counts are what the listings list.
    for (start, end) in [
        (Some(t(100)), Some(t(200))),
        (Some(t(200)), None),
        (None, Some(t(51))),
        (None, None),
        (Some(t(5000)), Some(t(6000))),
    ] {
        let q = GranuleQuery {
            collection_id: "c".into(),
            start,
            end,
            after: None,
            limit: 0,
        };
        let listed = ids_in(store, "c", start, end).await.len() as u64;
        let counted = store.count_granules(&q).await.expect("count");
        assert_eq!(counted, Some(listed), "{start:?}..{end:?}");
    }
    let unknown = GranuleQuery {
        collection_id: "nope".into(),
        start: None,
        end: None,
        after: None,
        limit: 0,
    };
    assert!(matches!(
        store.count_granules(&unknown).await,
        Ok(None | Some(0))
    ));

    // A later, longer granule is found by windows far from its start, before and after the
    // collection's figures are refreshed.
    store
        .write_batch(&Batch {
            granules: vec![interval("long", -50_000, 5500)],
            ..Batch::default()
        })
        .await
        .expect("write");
    for _ in 0..2 {
        assert_eq!(
            ids_in(store, "c", Some(t(5000)), Some(t(6000))).await,
            ["long"]
        );
        assert_eq!(ids_in(store, "c", Some(t(5500)), None).await, ["long"]);
        assert!(ids_in(store, "c", Some(t(5501)), None).await.is_empty());
        store
            .refresh_collection_stats(&["c".to_owned()])
            .await
            .expect("refresh");
    }
}

/// Keyset paging visits every granule exactly once, in order.
pub async fn test_granule_paging(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let mut granules = Vec::new();
    for i in 0..61i64 {
        // Repeated starts (i / 4) and a few untimed granules.
        let start = if i % 13 == 0 { None } else { Some(t(i / 4)) };
        granules.push(granule("c", &format!("g{:02}", (i * 37) % 61), cat, start));
    }
    store
        .write_batch(&Batch {
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    let full = all_granules(store, "c").await;
    assert_eq!(full.len(), 61);
    for w in full.windows(2) {
        assert!(
            (w[0].start, &w[0].granule_id) < (w[1].start, &w[1].granule_id),
            "order"
        );
    }
    for page_size in [1u32, 7, 60, 61, 100] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_granules(&GranuleQuery {
                    collection_id: "c".into(),
                    start: None,
                    end: None,
                    after: after.clone(),
                    limit: page_size,
                })
                .await
                .expect("page");
            assert!(page.len() <= page_size as usize);
            let Some(last) = page.last() else { break };
            after = Some((last.start, last.granule_id.clone()));
            seen.extend(page);
            assert!(seen.len() <= 61, "paging does not terminate");
        }
        assert_eq!(seen, full, "page size {page_size}");
    }
    // Paging inside a window.
    let windowed = ids_in(store, "c", Some(t(3)), Some(t(9))).await;
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_granules(&GranuleQuery {
                collection_id: "c".into(),
                start: Some(t(3)),
                end: Some(t(9)),
                after: after.clone(),
                limit: 5,
            })
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.start, last.granule_id.clone()));
        paged.extend(page.into_iter().map(|g| g.granule_id));
    }
    assert_eq!(paged, windowed);
    assert!(!paged.is_empty());
}

/// The ID template of the NEXRAD-like collection `radar` of [`nexrad_granule`].
pub const NEXRAD_TEMPLATE: &str = "NWS/N0Q/FTG/{yyyyMMdd}/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids";

/// The urlPath template that renders [`nexrad_granule`]'s urlPaths.
pub const NEXRAD_PATH_TEMPLATE: &str =
    "nexrad/level3/N0Q/FTG/{yyyyMMdd}/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids";

/// The listing of `radar` (templates [`NEXRAD_TEMPLATE`], [`NEXRAD_PATH_TEMPLATE`]) after a
/// backend's layout test writes one row of each stored form with SQL, in start order (minutes
/// 10, 20, …, 60), without catalogs:
/// 1. ID, name, urlPath and modified all rendered;
/// 2. ID rendered; name `renamed.nids` stored, urlPath stored as the prefix `elsewhere/`,
///    modified stored (`t(3)`), size 1;
/// 3. ID `other/place/file.nc` stored; urlPath is the ID; modified is the start; no size;
/// 4. everything stored: ID `v/w`, name `n`, urlPath `x/y`, end `t(2700)`, modified `t(7)`;
/// 5. a probed row: ID `probed/Level3.nids` stored, urlPath rendered, modified `t(9)`, size 5;
/// 6. ID `no/path.nc` stored; no urlPath, no modified time, no size.
pub fn stored_forms() -> Vec<Granule> {
    let g = |minute: i64| Granule {
        catalog_url: String::new(),
        ..nexrad_granule(minute, "")
    };
    vec![
        g(10),
        Granule {
            name: "renamed.nids".into(),
            url_path: Some("elsewhere/renamed.nids".into()),
            size: Some(1),
            modified: Some(t(3)),
            ..g(20)
        },
        Granule {
            granule_id: "other/place/file.nc".into(),
            name: "file.nc".into(),
            url_path: Some("other/place/file.nc".into()),
            size: None,
            ..g(30)
        },
        Granule {
            granule_id: "v/w".into(),
            name: "n".into(),
            url_path: Some("x/y".into()),
            end: Some(t(2700)),
            size: None,
            modified: Some(t(7)),
            ..g(40)
        },
        Granule {
            granule_id: "probed/Level3.nids".into(),
            name: "Level3.nids".into(),
            size: Some(5),
            modified: Some(t(9)),
            ..g(50)
        },
        Granule {
            granule_id: "no/path.nc".into(),
            name: "path.nc".into(),
            url_path: None,
            size: None,
            modified: None,
            ..g(60)
        },
    ]
}

/// A granule of the NEXRAD-like collection `radar` (ID and urlPath following
/// [`NEXRAD_TEMPLATE`]) starting `minute` minutes after [`t`]`(0)`, listed in `cat`.
pub fn nexrad_granule(minute: i64, cat: &str) -> Granule {
    let start = t(minute * 60);
    let day = start.format("%Y%m%d");
    let name = format!("Level3_FTG_N0Q_{}.nids", start.format("%Y%m%d_%H%M"));
    Granule {
        collection_id: "radar".into(),
        granule_id: format!("NWS/N0Q/FTG/{day}/{name}"),
        url_path: Some(format!("nexrad/level3/N0Q/FTG/{day}/{name}")),
        name,
        start: Some(start),
        end: None,
        size: Some(500_000 + minute),
        modified: Some(start),
        catalog_url: cat.into(),
    }
}

async fn page_all(
    store: &dyn Store,
    limit: u32,
    window: (Option<Timestamp>, Option<Timestamp>),
) -> Vec<Granule> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_granules(&GranuleQuery {
                collection_id: "radar".into(),
                start: window.0,
                end: window.1,
                after: after.clone(),
                limit,
            })
            .await
            .expect("page");
        assert!(page.len() <= limit as usize);
        let Some(last) = page.last() else { break };
        after = Some((last.start, last.granule_id.clone()));
        seen.extend(page);
        assert!(seen.len() <= 1000, "paging does not terminate");
    }
    seen
}

/// Granules that fit the collection's template and granules that do not, side by side.
pub async fn test_granule_template_forms(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/day1.xml";
    let cat2 = "http://127.0.0.1/s/day2.xml";
    let src = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    let mut coll = collection("radar", src.id, cat);
    coll.template = Some(NEXRAD_TEMPLATE.into());
    let mut granules: Vec<Granule> = (0..40).map(|i| nexrad_granule(i * 5, cat)).collect();
    // The ID fits, the name, urlPath and modified time do not.
    let mut odd = nexrad_granule(201, cat);
    odd.name = "renamed.nids".into();
    odd.url_path = Some("elsewhere/x.nids".into());
    odd.modified = Some(t(3));
    // A folder of another day: the template renders another ID.
    let mut other_day = nexrad_granule(202, cat);
    other_day.granule_id = other_day.granule_id.replace("/20240101/", "/20240102/");
    // The same start as a fitting granule, IDs before and after it.
    let mut tie_a = nexrad_granule(10, cat);
    tie_a.granule_id = "A-first.nids".into();
    tie_a.url_path = None;
    let mut tie_z = nexrad_granule(10, cat);
    tie_z.granule_id = "zz-last.nids".into();
    tie_z.url_path = Some("zz-last.nids".into());
    // A start finer than the name, a sub-second start, no start at all, an end.
    let mut finer = nexrad_granule(203, cat);
    finer.start = Some(t(203 * 60 + 7));
    let mut micro = nexrad_granule(204, cat);
    micro.start = Some(t(204 * 60) + Duration::microseconds(5));
    micro.modified = micro.start;
    let mut untimed = nexrad_granule(205, cat);
    untimed.start = None;
    untimed.granule_id = "untimed.nids".into();
    let mut ranged = nexrad_granule(206, cat2);
    ranged.end = Some(t(206 * 60 + 300));
    granules.extend([odd, other_day, tie_a, tie_z, finer, micro, untimed, ranged]);
    let batch = Batch {
        catalogs: vec![
            fetched(cat, src.id, None, 0),
            fetched(cat2, src.id, None, 0),
        ],
        collections: vec![coll],
        granules: granules.clone(),
        complete_catalogs: vec![cat.into()],
        delete_catalog_trees: vec![],
        catalog_views: Vec::new(),
    };
    let out = store.write_batch(&batch).await.expect("write");
    assert_eq!(out.granules_inserted, granules.len() as u64);

    let mut want = granules.clone();
    want.sort_by(|a, b| (a.start, &a.granule_id).cmp(&(b.start, &b.granule_id)));
    let full = all_granules(store, "radar").await;
    assert_eq!(full, want, "every field reads back exactly");
    let services = store
        .collection("radar")
        .await
        .expect("get")
        .expect("exists")
        .info
        .services;
    for (g, w) in full.iter().zip(&want) {
        for s in &services {
            assert_eq!(
                g.url_path.as_deref().map(|p| s.url_for(p)),
                w.url_path.as_deref().map(|p| s.url_for(p))
            );
        }
    }
    for limit in [1u32, 2, 3, 7, 100] {
        assert_eq!(
            page_all(store, limit, (None, None)).await,
            want,
            "limit {limit}"
        );
    }
    let mut reversed = want.clone();
    reversed.reverse();
    for limit in [1u32, 2, 3, 7, 100] {
        assert_eq!(
            page_all_desc(store, "radar", limit, (None, None), None).await,
            reversed,
            "descending, limit {limit}"
        );
    }
    let (from, to) = (t(10 * 60), t(100 * 60));
    let window = (Some(from), Some(to));
    let in_window: Vec<Granule> = want
        .iter()
        .filter(|g| g.start.is_some_and(|s| s >= from && s < to))
        .cloned()
        .collect();
    assert_eq!(in_window.len(), 20);
    assert_eq!(page_all(store, 3, window).await, in_window);

    // Writing it again changes nothing.
    assert_eq!(
        store.write_batch(&batch).await.expect("again"),
        Default::default()
    );
    assert_eq!(all_granules(store, "radar").await, want);

    // A fitting ID whose start changes (timeCoverage, say) moves; no duplicate appears.
    let mut moved = granules.clone();
    moved[0].start = Some(t(-60));
    moved[0].size = Some(1);
    let out = store
        .write_batch(&Batch {
            granules: moved.clone(),
            complete_catalogs: vec![cat.into()],
            ..Batch::default()
        })
        .await
        .expect("move");
    assert_eq!((out.granules_inserted, out.granules_deleted), (0, 0));
    let full = all_granules(store, "radar").await;
    assert_eq!(full.len(), granules.len());
    assert_eq!(full[1], moved[0]);
    // ... and back.
    let out = store.write_batch(&batch).await.expect("back");
    assert_eq!((out.granules_inserted, out.granules_deleted), (0, 0));
    assert_eq!(all_granules(store, "radar").await, want);

    // The complete listing of the first catalog without half of its fitting granules.
    let kept: Vec<Granule> = granules
        .iter()
        .enumerate()
        .filter(|(i, g)| g.catalog_url == cat && (i % 2 == 0 || *i >= 40))
        .map(|(_, g)| g.clone())
        .collect();
    let out = store
        .write_batch(&Batch {
            granules: kept.clone(),
            complete_catalogs: vec![cat.into()],
            ..Batch::default()
        })
        .await
        .expect("vanish");
    assert_eq!((out.granules_inserted, out.granules_deleted), (0, 20));
    store
        .refresh_collection_stats(&["radar".into()])
        .await
        .expect("stats");
    let c = store
        .collection("radar")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.granule_count, kept.len() as i64 + 1);
    assert_eq!(c.start, Some(t(0)));
    assert_eq!(c.end, Some(t(206 * 60 + 300)));

    // Expiry by catalog tree removes both forms.
    let out = store
        .write_batch(&Batch {
            delete_catalog_trees: vec![cat.into()],
            ..Batch::default()
        })
        .await
        .expect("expire");
    assert_eq!(out.granules_deleted, kept.len() as u64);
    let left = all_granules(store, "radar").await;
    assert_eq!(
        left,
        [want
            .iter()
            .find(|g| g.catalog_url == cat2)
            .cloned()
            .expect("ranged")]
    );
}

/// Counts per bucket of the granules' starts, computed here from a full listing: what
/// `granule_timeline` must answer for `[start, end)` (whole buckets).
async fn counted(
    store: &dyn Store,
    collection_id: &str,
    interval: crate::TimelineInterval,
    start: Option<crate::Timestamp>,
    end: Option<crate::Timestamp>,
) -> Vec<(crate::Timestamp, u64)> {
    let mut out: Vec<(crate::Timestamp, u64)> = Vec::new();
    for g in all_granules(store, collection_id).await {
        let Some(s) = g.start else { continue };
        if start.is_some_and(|b| s < b) || end.is_some_and(|e| s >= e) {
            continue;
        }
        let b = interval.floor(s);
        match out.last_mut() {
            Some((last, n)) if *last == b => *n += 1,
            _ => out.push((b, 1)),
        }
    }
    out
}

/// A timeline as `(bucket start, count)` pairs.
async fn timeline(
    store: &dyn Store,
    collection_id: &str,
    interval: crate::TimelineInterval,
    start: Option<crate::Timestamp>,
    end: Option<crate::Timestamp>,
) -> Vec<(crate::Timestamp, u64)> {
    store
        .granule_timeline(&crate::TimelineQuery {
            collection_id: collection_id.into(),
            interval,
            start,
            end,
        })
        .await
        .expect("timeline")
        .into_iter()
        .map(|b| (b.start, b.count))
        .collect()
}

/// Granule timelines: counts per hour, day and month of the granules' starts, windows rounded
/// out to whole buckets, untimed granules and other collections left out, and the counts
/// follow granules that arrive, move, vanish and go with their source.
pub async fn test_granule_timeline(store: &dyn Store) {
    use crate::TimelineInterval::{Day, Hour, Month};
    let cat = "http://127.0.0.1/s/catalog.xml";
    let other_cat = "http://127.0.0.1/s/other.xml";
    let src = setup(store, "s", cat, "c").await;
    let day = 86_400;
    // 2024-01-01T00:00Z = t(0). Granules over three months, unevenly: a gap on 2024-01-03,
    // several per hour, one granule before 1970 (negative times) and untimed ones.
    let mut granules = Vec::new();
    for (i, secs) in [
        0,
        60,
        3599,
        3600,
        day - 1,
        day,
        day + 7200,
        3 * day + 1,
        31 * day,
        31 * day + 5,
        60 * day + 3 * 3600,
    ]
    .into_iter()
    .enumerate()
    {
        granules.push(granule("c", &format!("g{i:02}"), cat, Some(t(secs))));
    }
    granules.push(granule("c", "untimed", cat, None));
    granules.push(granule(
        "c",
        "old",
        cat,
        DateTime::from_timestamp(-90_000, 500_000),
    ));
    let mut other = collection("d", src, other_cat);
    other.title = "Other".into();
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(other_cat, src, None, 0)],
            collections: vec![other],
            granules: vec![granule("d", "d1", other_cat, Some(t(10)))],
            ..Batch::default()
        })
        .await
        .expect("write other collection");
    store
        .write_batch(&Batch {
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");

    assert_eq!(
        timeline(store, "c", Day, None, None).await,
        [
            (DateTime::from_timestamp(-2 * day, 0).expect("time"), 1),
            (t(0), 5),
            (t(day), 2),
            (t(3 * day), 1),
            (t(31 * day), 2),
            (t(60 * day), 1),
        ],
        "day buckets: empty days are left out, untimed granules and collection d too"
    );
    assert_eq!(
        timeline(store, "c", Hour, Some(t(0)), Some(t(2 * day))).await,
        [
            (t(0), 3),
            (t(3600), 1),
            (t(day - 3600), 1),
            (t(day), 1),
            (t(day + 7200), 1),
        ]
    );
    assert_eq!(
        timeline(store, "c", Month, None, None).await,
        [
            (DateTime::from_timestamp(-31 * day, 0).expect("time"), 1),
            (t(0), 8),
            (t(31 * day), 2),
            (t(60 * day), 1),
        ],
        "months are calendar months (2024-02 has 29 days)"
    );
    // Windows are rounded out to whole buckets: a window inside 2024-01-01 counts that day.
    assert_eq!(
        timeline(store, "c", Day, Some(t(3000)), Some(t(3001))).await,
        [(t(0), 5)]
    );
    assert_eq!(
        timeline(store, "c", Hour, Some(t(3000)), Some(t(3601))).await,
        [(t(0), 3), (t(3600), 1)]
    );
    assert_eq!(
        timeline(store, "c", Month, Some(t(40 * day)), Some(t(41 * day))).await,
        [(t(31 * day), 2)]
    );
    assert!(
        timeline(store, "c", Day, Some(t(4 * day)), Some(t(31 * day)))
            .await
            .is_empty()
    );
    assert!(timeline(store, "nope", Day, None, None).await.is_empty());
    assert_eq!(timeline(store, "d", Day, None, None).await, [(t(0), 1)]);

    // A granule moves (its start changes), another arrives, one vanishes from the complete
    // listing of its catalog: the counts follow, for every interval and window.
    let mut listing: Vec<Granule> = all_granules(store, "c")
        .await
        .into_iter()
        .filter(|g| g.granule_id != "g05")
        .map(|mut g| {
            if g.granule_id == "g00" {
                g.start = Some(t(3 * day + 5));
            }
            g
        })
        .collect();
    listing.push(granule("c", "new", cat, Some(t(90 * day))));
    store
        .write_batch(&Batch {
            granules: listing,
            complete_catalogs: vec![cat.into()],
            ..Batch::default()
        })
        .await
        .expect("rewrite");
    assert_eq!(
        timeline(store, "c", Day, Some(t(0)), None).await,
        [
            (t(0), 4),
            (t(day), 1),
            (t(3 * day), 2),
            (t(31 * day), 2),
            (t(60 * day), 1),
            (t(90 * day), 1),
        ]
    );
    for interval in crate::TimelineInterval::ALL {
        for (s, e) in [
            (None, None),
            (Some(t(1800)), Some(t(31 * day + 1))),
            (Some(t(-200_000)), Some(t(day))),
        ] {
            let (a, b) = (
                s.map(|s| interval.floor(s)),
                e.and_then(|e| interval.ceil(e)),
            );
            assert_eq!(
                timeline(store, "c", interval, s, e).await,
                counted(store, "c", interval, a, b).await,
                "{interval:?} {s:?} {e:?} against the listing"
            );
        }
    }

    // Everything goes with the source.
    assert!(store.remove_source("s").await.expect("remove"));
    assert!(timeline(store, "c", Day, None, None).await.is_empty());
    assert!(timeline(store, "d", Month, None, None).await.is_empty());
}
