//! Suite: granules whose ID, urlPath or `modified` time follow from their time and the
//! collection's template (a backend may store them compactly) read back exactly, beside
//! granules that do not fit the template; ordering, paging, moves and deletion work on both.

use chrono::Duration;

use super::*;
use crate::{Batch, Granule, GranuleQuery, Store};

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
