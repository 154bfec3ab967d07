//! Suite: reads (overlap, paging, collection listings) and derived figures.

use serde_json::json;

use super::*;
use crate::{BBox, Batch, CollectionQuery, CollectionUpsert, Granule, GranuleQuery, Store};

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

/// A later upsert does not overwrite a collection's description; it fills missing fields.
pub async fn test_collection_description_kept(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    let src = setup(store, "s", cat, "c").await;
    let original = store.collection("c").await.expect("get").expect("exists");
    assert_eq!(original.info, collection("c", src, cat));
    assert_eq!(original.granule_count, 0);
    assert_eq!(
        (original.start, original.end, original.iso_record.clone()),
        (None, None, None)
    );

    let mut later = collection("c", src, "http://127.0.0.1/s/other.xml");
    later.title = "Another title".into();
    later.metadata = json!({"other": true});
    later.services.clear();
    let out = store
        .write_batch(&Batch {
            collections: vec![later],
            ..Batch::default()
        })
        .await
        .expect("write");
    assert_eq!(out.collections_inserted, 0);
    assert_eq!(store.collection("c").await.expect("get"), Some(original));

    // Missing fields are filled in.
    let sparse = CollectionUpsert {
        id: "sparse".into(),
        source_id: src,
        title: "Sparse".into(),
        template: None,
        catalog_url: cat.into(),
        services: vec![],
        metadata: serde_json::Value::Null,
        summary: None,
        keywords: vec![],
        bbox: None,
    };
    store
        .write_batch(&Batch {
            collections: vec![sparse.clone()],
            ..Batch::default()
        })
        .await
        .expect("write sparse");
    assert_eq!(
        store
            .collection("sparse")
            .await
            .expect("get")
            .expect("exists")
            .info,
        sparse
    );
    let full = CollectionUpsert {
        title: "Ignored".into(),
        ..collection("sparse", src, cat)
    };
    store
        .write_batch(&Batch {
            collections: vec![full.clone()],
            ..Batch::default()
        })
        .await
        .expect("write full");
    let got = store
        .collection("sparse")
        .await
        .expect("get")
        .expect("exists")
        .info;
    assert_eq!(got.title, "Sparse");
    assert_eq!(got.template, full.template);
    assert_eq!(got.services, full.services);
    assert_eq!(got.metadata, full.metadata);
    assert_eq!(got.summary, full.summary);
    assert_eq!(got.keywords, full.keywords);
    assert_eq!(got.bbox, full.bbox);
}

/// Derived figures are recomputed from granules; unchanged figures keep `updated_at`.
pub async fn test_refresh_collection_stats(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    store
        .write_batch(&Batch {
            collections: vec![collection("empty", 1, cat)],
            granules: vec![
                granule("c", "g/1.nc", cat, Some(t(100))),
                Granule {
                    end: Some(t(500)),
                    ..granule("c", "g/2.nc", cat, Some(t(200)))
                },
                granule("c", "g/3.nc", cat, Some(t(300))),
                granule("c", "g/4.nc", cat, None),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    // Not refreshed yet.
    assert_eq!(
        store
            .collection("c")
            .await
            .expect("get")
            .expect("c")
            .granule_count,
        0
    );
    let ids = ["c".to_owned(), "empty".to_owned(), "missing".to_owned()];
    store.refresh_collection_stats(&ids).await.expect("refresh");
    let c = store.collection("c").await.expect("get").expect("c");
    assert_eq!(
        (c.granule_count, c.start, c.end),
        (4, Some(t(100)), Some(t(500)))
    );
    let e = store
        .collection("empty")
        .await
        .expect("get")
        .expect("empty");
    assert_eq!((e.granule_count, e.start, e.end), (0, None, None));

    store
        .refresh_collection_stats(&ids)
        .await
        .expect("refresh again");
    assert_eq!(
        store.collection("c").await.expect("get"),
        Some(c.clone()),
        "no change, no bump"
    );

    store
        .write_batch(&Batch {
            granules: vec![granule("c", "g/5.nc", cat, Some(t(900)))],
            ..Batch::default()
        })
        .await
        .expect("write");
    store
        .refresh_collection_stats(&ids[..1])
        .await
        .expect("refresh");
    let c2 = store.collection("c").await.expect("get").expect("c");
    assert_eq!((c2.granule_count, c2.end), (5, Some(t(900))));
    assert!(c2.updated_at >= c.updated_at);
    assert_eq!(c2.info, c.info);
}

/// Collection listing: text, source and time filters, ordering, keyset paging, limit.
pub async fn test_list_collections(store: &dyn Store) {
    let cat1 = "http://127.0.0.1/one/catalog.xml";
    let cat2 = "http://127.0.0.1/two/catalog.xml";
    let one = setup(store, "one", cat1, "edu.x:ocean/SST").await;
    let two = setup(store, "two", cat2, "edu.x:atmos/wind").await;
    let mut titled = collection("edu.x:misc/other", two, cat2);
    titled.title = "Sea Surface Temperature (ocean)".into();
    titled.summary = Some("Daily analyses of the Pacific basin.".into());
    titled.keywords = vec!["salinity".into(), "chlorophyll_a".into()];
    // Across the antimeridian.
    titled.bbox = Some(BBox {
        west: 170.0,
        south: -20.0,
        east: -160.0,
        north: 20.0,
    });
    store
        .write_batch(&Batch {
            collections: vec![titled],
            granules: vec![
                granule("edu.x:ocean/SST", "a.nc", cat1, Some(t(0))),
                granule("edu.x:ocean/SST", "b.nc", cat1, Some(t(100))),
                granule("edu.x:atmos/wind", "c.nc", cat2, Some(t(1000))),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    store
        .refresh_collection_stats(&["edu.x:ocean/SST".into(), "edu.x:atmos/wind".into()])
        .await
        .expect("refresh");
    let ids = |v: Vec<crate::Collection>| v.into_iter().map(|c| c.info.id).collect::<Vec<_>>();
    let q = |text: Option<&str>| CollectionQuery {
        text: text.map(str::to_owned),
        limit: 100,
        ..CollectionQuery::default()
    };
    assert_eq!(
        ids(store.list_collections(&q(None)).await.expect("all")),
        ["edu.x:atmos/wind", "edu.x:misc/other", "edu.x:ocean/SST"]
    );
    assert_eq!(
        ids(store
            .list_collections(&q(Some("OCEAN")))
            .await
            .expect("text")),
        ["edu.x:misc/other", "edu.x:ocean/SST"],
        "case-insensitive on ID and title"
    );
    assert_eq!(
        ids(store.list_collections(&q(Some("sst"))).await.expect("text")),
        ["edu.x:ocean/SST"]
    );
    assert!(
        store
            .list_collections(&q(Some("nothing-like-it")))
            .await
            .expect("text")
            .is_empty()
    );
    let by_source = CollectionQuery {
        source_id: Some(one),
        ..q(None)
    };
    assert_eq!(
        ids(store.list_collections(&by_source).await.expect("source")),
        ["edu.x:ocean/SST"]
    );
    let by_time = CollectionQuery {
        start: Some(t(50)),
        end: Some(t(500)),
        ..q(None)
    };
    assert_eq!(
        ids(store.list_collections(&by_time).await.expect("time")),
        ["edu.x:ocean/SST"]
    );
    let late = CollectionQuery {
        start: Some(t(1000)),
        ..q(None)
    };
    assert_eq!(
        ids(store.list_collections(&late).await.expect("time")),
        ["edu.x:atmos/wind"]
    );
    let paged = CollectionQuery {
        after_id: Some("edu.x:atmos/wind".into()),
        limit: 1,
        ..q(None)
    };
    assert_eq!(
        ids(store.list_collections(&paged).await.expect("page")),
        ["edu.x:misc/other"]
    );
    let unlimited = CollectionQuery {
        limit: 0,
        ..q(None)
    };
    assert_eq!(
        store
            .list_collections(&unlimited)
            .await
            .expect("unlimited")
            .len(),
        3
    );

    // Full text over summary and keywords (whole words, any case), all words required.
    assert_eq!(
        ids(store
            .list_collections(&q(Some("pacific")))
            .await
            .expect("summary")),
        ["edu.x:misc/other"]
    );
    assert_eq!(
        ids(store
            .list_collections(&q(Some("SALINITY")))
            .await
            .expect("keyword")),
        ["edu.x:misc/other"]
    );
    assert_eq!(
        ids(store
            .list_collections(&q(Some("sea temperature")))
            .await
            .expect("two words")),
        ["edu.x:misc/other"]
    );
    assert!(
        store
            .list_collections(&q(Some("sea wind")))
            .await
            .expect("and")
            .is_empty()
    );
    assert_eq!(
        store
            .list_collections(&q(Some("keyword")))
            .await
            .expect("keyword")
            .len(),
        2
    );
    // Hostile text is not query syntax.
    for text in [
        "\"",
        "OR",
        "a:b",
        "(*)",
        "sea NOT",
        "-x",
        "'; DROP TABLE collections; --",
    ] {
        store.list_collections(&q(Some(text))).await.expect(text);
    }
    assert_eq!(
        store.list_collections(&q(None)).await.expect("all").len(),
        3
    );

    // Bounding boxes: the two others are (-10,-5)-(10,5); "misc/other" crosses the antimeridian.
    let in_box = |west: f64, south: f64, east: f64, north: f64| CollectionQuery {
        bbox: Some(BBox {
            west,
            south,
            east,
            north,
        }),
        ..q(None)
    };
    assert_eq!(
        ids(store
            .list_collections(&in_box(175.0, 0.0, 179.0, 1.0))
            .await
            .expect("bbox")),
        ["edu.x:misc/other"]
    );
    assert_eq!(
        ids(store
            .list_collections(&in_box(-170.0, 0.0, -165.0, 1.0))
            .await
            .expect("bbox")),
        ["edu.x:misc/other"]
    );
    assert_eq!(
        ids(store
            .list_collections(&in_box(0.0, 0.0, 1.0, 1.0))
            .await
            .expect("bbox")),
        ["edu.x:atmos/wind", "edu.x:ocean/SST"]
    );
    assert_eq!(
        store
            .list_collections(&in_box(179.0, -1.0, -179.0, 1.0))
            .await
            .expect("bbox")
            .len(),
        1,
        "both boxes cross"
    );
    assert_eq!(
        store
            .list_collections(&in_box(5.0, 4.0, 175.0, 30.0))
            .await
            .expect("bbox")
            .len(),
        3,
        "touching and overlapping"
    );
    assert!(
        store
            .list_collections(&in_box(20.0, 30.0, 30.0, 40.0))
            .await
            .expect("bbox")
            .is_empty()
    );

    // The hits of a search are the same collections, each with the same figures.
    for query in [
        q(None),
        q(Some("OCEAN")),
        q(Some("pacific")),
        q(Some("nothing-like-it")),
        by_source,
        by_time,
        late,
        paged,
        unlimited,
        in_box(175.0, 0.0, 179.0, 1.0),
        in_box(0.0, 0.0, 1.0, 1.0),
    ] {
        let full = store.list_collections(&query).await.expect("collections");
        let hits = store.list_collection_hits(&query).await.expect("hits");
        assert_eq!(
            hits,
            full.iter()
                .map(crate::CollectionHit::from)
                .collect::<Vec<_>>(),
            "{query:?}"
        );
    }
    let hits = store
        .list_collection_hits(&q(Some("pacific")))
        .await
        .expect("hits");
    assert_eq!(hits[0].title, "Sea Surface Temperature (ocean)");
    assert_eq!(
        hits[0].summary.as_deref(),
        Some("Daily analyses of the Pacific basin.")
    );
    assert_eq!(hits[0].bbox.map(|b| b.west), Some(170.0));
    let sst = store
        .list_collection_hits(&q(Some("sst")))
        .await
        .expect("hits");
    assert_eq!(
        (sst[0].granule_count, sst[0].start, sst[0].end),
        (2, Some(t(0)), Some(t(100))),
        "derived figures"
    );
}

/// Row counts and sizes.
pub async fn test_stats(store: &dyn Store) {
    let empty = store.stats().await.expect("stats");
    assert_eq!(
        (
            empty.sources,
            empty.catalogs,
            empty.collections,
            empty.granules
        ),
        (0, 0, 0, 0)
    );
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let granules = (0..300)
        .map(|i| {
            granule(
                "c",
                &format!("some/longer/path/file_{i:05}.nc"),
                cat,
                Some(t(i)),
            )
        })
        .collect();
    store
        .write_batch(&Batch {
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    let s = store.stats().await.expect("stats");
    assert_eq!(
        (
            s.sources,
            s.catalogs,
            s.failed_catalogs,
            s.collections,
            s.granules
        ),
        (1, 1, 0, 1, 300)
    );
    assert!(s.granule_bytes > 0, "{s:?}");
    assert!(s.collection_bytes > 0, "{s:?}");
}

/// The free-text syntax of collection searches: the same collections on every backend for a
/// table of expressions (words, prefixes, phrases, `OR`, exclusions, punctuation, ID text).
pub async fn test_free_text_syntax(store: &dyn Store) {
    let cat = "http://127.0.0.1/text/catalog.xml";
    const OTHER: &str = "zz:other";
    let src = setup(store, "text", cat, OTHER).await;
    const N0Q_FTG: &str = "edu.ucar.unidata:NWS/NEXRAD3/N0Q/FTG/Level3_FTG_N0Q.nids";
    const N0Q_LWX: &str = "edu.ucar.unidata:NWS/NEXRAD3/N0Q/LWX/Level3_LWX_N0Q.nids";
    const N0U_FTG: &str = "edu.ucar.unidata:NWS/NEXRAD3/N0U/FTG/Level3_FTG_N0U.nids";
    const GOES: &str = "noaa:goes16/abi/sst";
    const WIND: &str = "edu.x:atmos/wind";
    let described =
        |id: &str, title: &str, summary: Option<&str>, keywords: &[&str]| CollectionUpsert {
            title: title.into(),
            summary: summary.map(str::to_owned),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            ..collection(id, src, cat)
        };
    store
        .write_batch(&Batch {
            collections: vec![
                described(N0Q_FTG, "Level3 FTG N0Q", None, &["reflectivity"]),
                described(N0Q_LWX, "Level3 LWX N0Q", None, &["reflectivity"]),
                described(N0U_FTG, "Level3 FTG N0U", None, &["velocity"]),
                described(
                    GOES,
                    "GOES-16 ABI Sea Surface Temperature",
                    Some("Upper ocean temperature, gap-free; product v1.2 from www.star.noaa.gov."),
                    &["sea_ice", "Oceans > Ocean Temperature"],
                ),
                described(
                    WIND,
                    "Eastward wind, 100% of the time",
                    Some("Reanalysis."),
                    &["eastward_wind"],
                ),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    let all = [N0Q_FTG, N0Q_LWX, N0U_FTG, GOES, WIND, OTHER];
    let cases: &[(&str, &[&str])] = &[
        // Words: every one required, any case, the last one a word prefix.
        ("N0Q", &[N0Q_FTG, N0Q_LWX]),
        ("n0q", &[N0Q_FTG, N0Q_LWX]),
        ("Level3 FTG", &[N0Q_FTG, N0U_FTG]),
        ("refl", &[N0Q_FTG, N0Q_LWX]),
        ("eflectivity", &[]),
        ("temp", &[GOES]),
        ("temperatures", &[]),
        ("eastward wind", &[WIND]),
        ("wind eastward", &[WIND]),
        // Exclusions, also alone.
        ("N0Q -FTG", &[N0Q_LWX]),
        ("-FTG", &[N0Q_LWX, GOES, WIND, OTHER]),
        ("-FTG -LWX", &[GOES, WIND, OTHER]),
        ("reflectivity -LWX", &[N0Q_FTG]),
        ("ocean -gap", &[]),
        // OR, binding tighter than the implicit AND.
        ("FTG or LWX", &[N0Q_FTG, N0Q_LWX, N0U_FTG]),
        ("FTG OR LWX N0U", &[N0U_FTG]),
        ("Reflectivity OR velocity -N0U", &[N0Q_FTG, N0Q_LWX]),
        ("ocean OR wind -gap", &[WIND]),
        // Phrases: words in order, the last a prefix; an unclosed quote runs to the end.
        ("\"sea surface\"", &[GOES]),
        ("\"surface sea\"", &[]),
        ("\"sea surf", &[GOES]),
        ("\"wind eastward\"", &[]),
        ("-\"sea surface\" temperature", &[]),
        // Punctuation separates words: a term with several words is a phrase.
        ("GOES-16", &[GOES]),
        ("16", &[GOES]),
        ("sea_ice", &[GOES]),
        ("v1.2", &[GOES]),
        ("www.star.noaa.gov", &[GOES]),
        ("100%", &[WIND]),
        // Text within the ID, as typed.
        ("goes16", &[GOES]),
        ("nexrad3", &[N0Q_FTG, N0Q_LWX, N0U_FTG]),
        ("level3_ftg", &[N0Q_FTG, N0U_FTG]),
        ("_", &[N0Q_FTG, N0Q_LWX, N0U_FTG]),
        ("%", &[]),
        ("!!", &[]),
        // No terms: no text filter.
        ("", &all),
        ("   ", &all),
        ("OR", &all),
        ("-", &all),
    ];
    for (text, want) in cases {
        let got: Vec<String> = store
            .list_collections(&CollectionQuery {
                text: Some((*text).to_owned()),
                limit: 100,
                ..CollectionQuery::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .into_iter()
            .map(|c| c.info.id)
            .collect();
        let mut want: Vec<&str> = want.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "q={text:?}");
    }
}
