//! CollectionCatalog: collection search (JSON free text, bbox, time) and catalogue (CSW) queries.

use super::*;
use crate::{
    BBox, Batch, CollectionQuery, CollectionUpsert, CompareOp, LikePattern, Literal, Queryable,
    RecordFilter, SortKey, Store, StoreError, TextProperty,
};
use serde_json::json;

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

const A: &str = "t:a/sst";

const B: &str = "t:b/wind";

const C: &str = "t:c/radar";

/// Added by [`test_search_records_anytext_logic`] only.
const D: &str = "t:d/colour";

const DAY: i64 = 86_400;

/// Three collections: A (sea surface temperature, small box at 0°, days 0..=10), B (wind,
/// box across the antimeridian, day 20, a title with `%` and `_`), C (radar, no box, no
/// granules).
async fn fill(store: &dyn Store) {
    let cat = "http://127.0.0.1/csw/catalog.xml";
    let src = store
        .add_source(&new_source("csw", "http://127.0.0.1/csw/root.xml"))
        .await
        .expect("add source");
    let a = CollectionUpsert {
        title: "Sea Surface Temperature".into(),
        summary: Some("Daily SST analysis".into()),
        keywords: vec!["ocean".into(), "sst".into()],
        ..collection(A, src.id, cat)
    };
    let b = CollectionUpsert {
        title: "Wind speed 50%_gust".into(),
        summary: None,
        keywords: vec!["atmosphere".into()],
        bbox: Some(BBox {
            west: 170.0,
            south: -10.0,
            east: -170.0,
            north: 10.0,
        }),
        ..collection(B, src.id, cat)
    };
    let c = CollectionUpsert {
        title: "Radar reflectivity".into(),
        summary: Some("NEXRAD with sea clutter; it's \"quoted\"".into()),
        keywords: vec!["radar".into()],
        bbox: None,
        ..collection(C, src.id, cat)
    };
    let mut granules = Vec::new();
    for d in 0..=10 {
        granules.push(granule(A, &format!("a/{d}"), cat, Some(t(d * DAY))));
    }
    granules.push(granule(B, "b/20", cat, Some(t(20 * DAY))));
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(cat, src.id, None, 0)],
            collections: vec![a, b, c],
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    store
        .refresh_collection_stats(&[A.into(), B.into(), C.into()])
        .await
        .expect("stats");
}

async fn ids(store: &dyn Store, f: &RecordFilter) -> Vec<String> {
    let page = store
        .search_records(f, &[], 0, 100)
        .await
        .unwrap_or_else(|e| panic!("{f:?}: {e}"));
    // The item search's lighter query finds the same collections, records left out.
    let found = store
        .find_collections(f, &[], 100)
        .await
        .unwrap_or_else(|e| panic!("{f:?}: {e}"));
    let mut want = page.collections.clone();
    for c in &mut want {
        c.iso_record = None;
    }
    assert_eq!(found, want, "{f:?}: find_collections");
    let ids: Vec<String> = page.collections.into_iter().map(|c| c.info.id).collect();
    assert_eq!(
        page.matched as usize,
        ids.len(),
        "{f:?}: count and rows agree"
    );
    ids
}

fn like(prop: Queryable, pattern: &str, match_case: bool) -> RecordFilter {
    RecordFilter::like(
        prop,
        LikePattern::parse(pattern, '%', '_', Some('\\')),
        match_case,
    )
    .expect("a text property")
}

fn cmp(prop: Queryable, op: CompareOp, value: Literal) -> RecordFilter {
    RecordFilter::compare(prop, op, value, false).expect("typed")
}

fn text(s: &str) -> Literal {
    Literal::Text(s.into())
}

fn bbox(west: f64, south: f64, east: f64, north: f64) -> RecordFilter {
    RecordFilter::BBox(BBox {
        west,
        south,
        east,
        north,
    })
}

/// Every node type of the filter AST, on every queryable, with the expected matches.
pub async fn test_search_records_filters(store: &dyn Store) {
    fill(store).await;
    use CompareOp::*;
    use Queryable::*;
    let cases: Vec<(RecordFilter, Vec<&str>)> = vec![
        (RecordFilter::All, vec![A, B, C]),
        (RecordFilter::And(vec![]), vec![A, B, C]),
        (RecordFilter::Or(vec![]), vec![]),
        // AnyText: title, abstract, keywords and ID, any case.
        (like(AnyText, "%sea%", false), vec![A, C]),
        (like(AnyText, "%SEA%", true), vec![A, C]),
        (like(AnyText, "%atmosph%", false), vec![B]),
        (like(AnyText, "%b/wi%", false), vec![B]),
        (like(AnyText, "%zzzz%", false), vec![]),
        // Several literal runs (index prefilter, then LIKE), short runs (LIKE only), anchors.
        (like(AnyText, "%surface%temp%", false), vec![A]),
        (like(AnyText, "%temp%surface%", false), vec![]),
        (like(AnyText, "%s_a%", false), vec![A, C]),
        (like(AnyText, "t:a/%", false), vec![A]),
        (like(AnyText, "sst%", false), vec![]),
        (like(AnyText, "%", false), vec![A, B, C]),
        (like(AnyText, "%50\\%\\_g%", false), vec![B]),
        (like(AnyText, "%50\\%\\_x%", false), vec![]),
        // Literal wildcards in a title.
        (like(Title, "Wind speed 50\\%\\_gust", true), vec![B]),
        (like(Title, "Wind speed 50\\%\\_gusts", true), vec![]),
        (like(Title, "Wind speed 5_\\%%", true), vec![B]),
        (like(Title, "Radar%", true), vec![C]),
        (like(Title, "radar%", true), vec![]),
        (like(Title, "radar%", false), vec![C]),
        (like(Abstract, "%analysis", false), vec![A]),
        (like(Subject, "atmo%", false), vec![B]),
        (like(Subject, "oce_n", false), vec![A]),
        (like(Identifier, "t:_/%", true), vec![A, B, C]),
        (cmp(Subject, Eq, text("OCEAN")), vec![A]),
        (cmp(Subject, Eq, text("oce")), vec![]),
        (cmp(Identifier, Eq, text(B)), vec![B]),
        (
            RecordFilter::CompareText {
                prop: TextProperty::Identifier,
                op: Eq,
                value: "T:B/WIND".into(),
                match_case: true,
            },
            vec![],
        ),
        (cmp(Identifier, Ne, text(B)), vec![A, C]),
        (cmp(Title, Lt, text("S")), vec![C]),
        (cmp(Title, Ge, text("S")), vec![A, B]),
        (cmp(Type, Eq, text("series")), vec![A, B, C]),
        (cmp(Type, Eq, text("dataset")), vec![]),
        // Times.
        (cmp(TempBegin, Ge, Literal::Time(t(15 * DAY))), vec![B]),
        (cmp(TempBegin, Lt, Literal::Time(t(15 * DAY))), vec![A]),
        (cmp(TempEnd, Le, Literal::Time(t(10 * DAY))), vec![A]),
        (cmp(TempEnd, Gt, Literal::Time(t(10 * DAY))), vec![B]),
        (
            cmp(Modified, Gt, Literal::Time(t(-100 * DAY))),
            vec![A, B, C],
        ),
        (
            RecordFilter::between(TempBegin, Literal::Time(t(-DAY)), Literal::Time(t(0)))
                .expect("times"),
            vec![A],
        ),
        (
            RecordFilter::between(Title, text("R"), text("T")).expect("texts"),
            vec![C, A].into_iter().collect::<Vec<_>>(),
        ),
        (RecordFilter::IsNull(TempBegin), vec![C]),
        // Boxes: antimeridian aware, touching edges count, no box never matches.
        (bbox(0.0, 0.0, 1.0, 1.0), vec![A]),
        (bbox(10.0, 5.0, 20.0, 20.0), vec![A]),
        (bbox(175.0, 0.0, 179.0, 5.0), vec![B]),
        (bbox(-179.0, 0.0, -175.0, 5.0), vec![B]),
        (bbox(160.0, -1.0, -160.0, 1.0), vec![B]),
        (bbox(-180.0, -90.0, 180.0, 90.0), vec![A, B]),
        (bbox(20.0, 20.0, 30.0, 30.0), vec![]),
        // Logic.
        (
            RecordFilter::Not(Box::new(bbox(0.0, 0.0, 1.0, 1.0))),
            vec![B, C],
        ),
        (
            RecordFilter::And(vec![
                like(AnyText, "%sea%", false),
                bbox(-180.0, -90.0, 180.0, 90.0),
            ]),
            vec![A],
        ),
        (
            RecordFilter::Or(vec![
                cmp(Identifier, Eq, text(C)),
                bbox(175.0, 0.0, 179.0, 5.0),
            ]),
            vec![B, C],
        ),
        (
            RecordFilter::Not(Box::new(RecordFilter::Or(vec![
                cmp(Identifier, Eq, text(C)),
                cmp(Identifier, Eq, text(A)),
            ]))),
            vec![B],
        ),
    ];
    for (f, want) in cases {
        let mut want: Vec<String> = want.into_iter().map(str::to_owned).collect();
        want.sort();
        assert_eq!(ids(store, &f).await, want, "{f:?}");
    }

    // Type errors are refused when the filter is built; nesting beyond the limit by the
    // store: never mis-translated.
    let nested = (0..crate::MAX_FILTER_DEPTH + 5)
        .fold(RecordFilter::All, |f, _| RecordFilter::Not(Box::new(f)));
    let err = store.search_records(&nested, &[], 0, 10).await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    // A test on granules (a STAC item filter) never selects collections, even inside an Or.
    let on_items = RecordFilter::Or(vec![
        RecordFilter::All,
        RecordFilter::Item(crate::ItemTest::Intersects {
            start: Some(t(0)),
            end: None,
        }),
    ]);
    let err = store.search_records(&on_items, &[], 0, 10).await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    for bad in [
        RecordFilter::compare(TempBegin, Eq, text("yesterday"), false),
        RecordFilter::compare(Title, Eq, Literal::Time(t(0)), false),
        RecordFilter::compare(AnyText, Lt, text("x"), false),
        RecordFilter::like(BoundingBox, LikePattern::contains("x"), false),
        RecordFilter::like(Modified, LikePattern::contains("x"), false),
        RecordFilter::between(Title, text("a"), Literal::Time(t(0))),
        RecordFilter::between(AnyText, text("a"), text("b")),
    ] {
        assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    }
}

/// Offsets, limits, counts and sort orders (ties in insertion order, missing values last).
pub async fn test_search_records_paging_and_sort(store: &dyn Store) {
    fill(store).await;
    let sorted = |prop, descending| vec![SortKey::new(prop, descending).expect("sortable")];
    let page_ids = |p: crate::RecordPage| -> Vec<String> {
        p.collections.into_iter().map(|c| c.info.id).collect()
    };
    let all = RecordFilter::All;
    let p = store
        .search_records(&all, &sorted(Queryable::Title, false), 0, 10)
        .await
        .expect("search");
    assert_eq!(p.matched, 3);
    assert_eq!(page_ids(p), [C, A, B]);
    let p = store
        .search_records(&all, &sorted(Queryable::Title, true), 0, 10)
        .await
        .expect("search");
    assert_eq!(page_ids(p), [B, A, C]);
    let p = store
        .search_records(&all, &sorted(Queryable::Title, false), 1, 1)
        .await
        .expect("search");
    assert_eq!(p.matched, 3);
    assert_eq!(page_ids(p), [A]);
    let p = store
        .search_records(&all, &[], 5, 10)
        .await
        .expect("past the end");
    assert_eq!((p.matched, p.collections.len()), (3, 0));
    let p = store
        .search_records(&all, &[], 0, 0)
        .await
        .expect("count only");
    assert_eq!((p.matched, p.collections.len()), (3, 0));
    // Missing values sort last both ways.
    let p = store
        .search_records(&all, &sorted(Queryable::TempBegin, false), 0, 10)
        .await
        .expect("search");
    assert_eq!(page_ids(p), [A, B, C]);
    let p = store
        .search_records(&all, &sorted(Queryable::TempBegin, true), 0, 10)
        .await
        .expect("search");
    assert_eq!(page_ids(p), [B, A, C]);
    // Default order: insertion. Paging through one by one visits each once.
    let mut seen = Vec::new();
    for offset in 0..4 {
        let p = store
            .search_records(&all, &[], offset, 1)
            .await
            .expect("page");
        seen.extend(page_ids(p));
    }
    assert_eq!(seen, [A, B, C]);
    // Rows come back complete.
    let p = store
        .search_records(
            &RecordFilter::CompareText {
                prop: TextProperty::Identifier,
                op: CompareOp::Eq,
                value: A.into(),
                match_case: true,
            },
            &[],
            0,
            1,
        )
        .await
        .expect("one");
    let c = p.collections.first().expect("A");
    assert_eq!(c.granule_count, 11);
    assert_eq!(c.start, Some(t(0)));
    assert_eq!(c.info.keywords, ["ocean", "sst"]);
    for prop in [
        Queryable::BoundingBox,
        Queryable::AnyText,
        Queryable::Subject,
    ] {
        assert!(
            matches!(SortKey::new(prop, false), Err(StoreError::Invalid(_))),
            "cannot sort on {prop:?}"
        );
    }
    // The item search's lighter query: the same order and limit, records left out.
    store
        .set_iso_records(&[crate::IsoRecordUpdate {
            collection_id: A.into(),
            xml: "<record/>".into(),
            start: c.start,
            end: c.end,
            date_stamp: t(7),
            views_version: c.views_version,
        }])
        .await
        .expect("record");
    for (sort, limit) in [
        (sorted(Queryable::Title, false), 10),
        (sorted(Queryable::Title, true), 2),
        (Vec::new(), 10),
        (Vec::new(), 0),
    ] {
        let full = store
            .search_records(&all, &sort, 0, limit)
            .await
            .expect("search");
        let light = store
            .find_collections(&all, &sort, limit)
            .await
            .expect("find");
        let mut want = full.collections;
        assert_eq!(
            want.iter().filter(|c| c.iso_record.is_some()).count(),
            usize::from(want.iter().any(|c| c.info.id == A)),
        );
        for c in &mut want {
            c.iso_record = None;
        }
        assert_eq!(light, want, "{sort:?} {limit}");
    }
}

/// Quotes, backslashes, SQL and FTS syntax and NUL characters in values stay data.
pub async fn test_search_records_hostile_text(store: &dyn Store) {
    fill(store).await;
    for s in [
        "'; DROP TABLE collections; --",
        "\" OR 1=1 --",
        "\\",
        "%' OR '1'='1",
        "NEAR(a b)",
        "a\0b",
        "it's",
        "\"quoted\"",
        "ünïcødé ☃",
        "[*]?",
    ] {
        for prop in [Queryable::AnyText, Queryable::Title, Queryable::Subject] {
            let f = RecordFilter::like(prop, LikePattern::contains(s), false).expect("text");
            let got = ids(store, &f).await;
            let want: Vec<&str> = match (s, prop) {
                ("it's" | "\"quoted\"", Queryable::AnyText) => vec![C],
                _ => vec![],
            };
            assert_eq!(got, want, "{s:?} on {prop:?}");
            let f = RecordFilter::compare(
                if prop == Queryable::AnyText {
                    Queryable::Identifier
                } else {
                    prop
                },
                CompareOp::Eq,
                Literal::Text(s.into()),
                false,
            )
            .expect("text");
            assert!(ids(store, &f).await.is_empty(), "{s:?}");
        }
    }
    assert_eq!(store.stats().await.expect("stats").collections, 3);
}

/// AnyText tests combined by And/Or/Not, with paging and counts (on Postgres the one-statement
/// path over its side table), mixed with other tests, and the any text following later writes
/// of a collection's description and the removal of its source.
pub async fn test_search_records_anytext_logic(store: &dyn Store) {
    fill(store).await;
    use Queryable::*;
    let sea = || like(AnyText, "%sea%", false);
    let cases: Vec<(RecordFilter, Vec<&str>)> = vec![
        (RecordFilter::Not(Box::new(sea())), vec![B]),
        (
            RecordFilter::Or(vec![sea(), like(AnyText, "%WIND%", false)]),
            vec![A, B, C],
        ),
        (
            RecordFilter::And(vec![sea(), like(AnyText, "%radar%", false)]),
            vec![C],
        ),
        (
            RecordFilter::And(vec![
                sea(),
                RecordFilter::Not(Box::new(like(AnyText, "%nexrad%", false))),
            ]),
            vec![A],
        ),
        (
            RecordFilter::Not(Box::new(RecordFilter::Or(vec![
                sea(),
                like(AnyText, "%gust%", false),
            ]))),
            vec![],
        ),
        (
            RecordFilter::Or(vec![sea(), bbox(175.0, 0.0, 179.0, 5.0)]),
            vec![A, B, C],
        ),
        (
            RecordFilter::Not(Box::new(RecordFilter::And(vec![
                sea(),
                bbox(-180.0, -90.0, 180.0, 90.0),
            ]))),
            vec![B, C],
        ),
    ];
    for (f, want) in cases {
        assert_eq!(ids(store, &f).await, want, "{f:?}");
    }

    // Paging: the count stays exact whatever the page, also past the end and with no rows.
    let all = like(AnyText, "%t:%", false);
    for (offset, limit, want) in [
        (0, 10, vec![A, B, C]),
        (0, 2, vec![A, B]),
        (1, 1, vec![B]),
        (2, 5, vec![C]),
        (3, 5, vec![]),
        (100, 5, vec![]),
        (0, 0, vec![]),
        (u64::MAX, 1, vec![]),
    ] {
        let page = store
            .search_records(&all, &[], offset, limit)
            .await
            .expect("search");
        assert_eq!(page.matched, 3, "offset {offset} limit {limit}");
        let got: Vec<String> = page.collections.into_iter().map(|c| c.info.id).collect();
        assert_eq!(got, want, "offset {offset} limit {limit}");
    }
    let none = store
        .search_records(&like(AnyText, "%zzzz%", false), &[], 0, 10)
        .await
        .expect("search");
    assert_eq!((none.matched, none.collections.len()), (0, 0));

    // A description filled in later is searchable; removing the source removes the text.
    let src = store
        .source_by_name("csw")
        .await
        .expect("source")
        .expect("exists");
    let bare = CollectionUpsert {
        title: String::new(),
        summary: None,
        keywords: Vec::new(),
        ..collection(D, src.id, "http://127.0.0.1/csw/catalog.xml")
    };
    let described = CollectionUpsert {
        title: "Ocean colour".into(),
        summary: Some("Chlorophyll".into()),
        keywords: vec!["biology".into()],
        ..bare.clone()
    };
    let chloro = || like(AnyText, "%CHLORO%", false);
    for (c, want) in [(bare, vec![]), (described, vec![D])] {
        store
            .write_batch(&Batch {
                collections: vec![c],
                ..Batch::default()
            })
            .await
            .expect("write");
        assert_eq!(ids(store, &chloro()).await, want);
        assert_eq!(
            ids(store, &like(AnyText, "%t:d/%", false)).await,
            vec![D],
            "the ID is searchable from the start"
        );
    }
    assert_eq!(ids(store, &like(AnyText, "%biolog%", false)).await, vec![D]);
    assert_eq!(
        ids(store, &RecordFilter::Not(Box::new(chloro()))).await,
        vec![A, B, C]
    );
    assert!(store.remove_source("csw").await.expect("remove"));
    for f in [all, RecordFilter::Not(Box::new(sea())), chloro()] {
        assert!(ids(store, &f).await.is_empty(), "{f:?}");
    }
}

/// Added by [`test_search_records_keywords`] only.
const E: &str = "t:e/sst-fr";

/// Keyword searches as the CSW front-end builds them from `csw:AnyText` tests without a
/// multi-character wildcard (QGIS MetaSearch's search box): every word contained, any case and
/// order, short words (below the trigram length) included, escaped wildcards literal,
/// single-character wildcards inside a word, combined with boxes and logic, paged.
pub async fn test_search_records_keywords(store: &dyn Store) {
    fill(store).await;
    let src = store
        .source_by_name("csw")
        .await
        .expect("source")
        .expect("exists");
    store
        .write_batch(&Batch {
            collections: vec![CollectionUpsert {
                title: "Température de surface".into(),
                summary: Some("Analyse quotidienne, Ünïcødé".into()),
                keywords: vec!["océan".into()],
                ..collection(E, src.id, "http://127.0.0.1/csw/catalog.xml")
            }],
            ..Batch::default()
        })
        .await
        .expect("write");
    let kw = |text: &str| {
        RecordFilter::contains_all_words(&LikePattern::parse(text, '%', '_', Some('\\')))
    };
    let cases: Vec<(RecordFilter, Vec<&str>)> = vec![
        (kw("sea"), vec![A, C]),
        (kw("SEA temperature"), vec![A]),
        (kw("temperature  Sea"), vec![A]),
        (kw("sea surface temperature"), vec![A]),
        (kw("sea radar"), vec![C]),
        (kw("nexrad CLUTTER radar"), vec![C]),
        (kw("sea wind"), vec![]),
        (kw("gust ocean"), vec![]),
        (kw("Sea Surface Temperatures"), vec![]),
        // Words from the ID, keywords and abstract.
        (kw("b/wind atmosphere"), vec![B]),
        (kw("sst ocean daily"), vec![A]),
        // Short words (no trigram), alone and with long ones.
        (kw("a/"), vec![A]),
        (kw("t: b/"), vec![B]),
        (kw("t: sst"), vec![A, E]),
        (kw("50"), vec![B]),
        // Escaped wildcards are literal; single-character wildcards stay wildcards.
        (kw("50\\%"), vec![B]),
        (kw("50\\%\\_g wind"), vec![B]),
        (kw("50\\%\\_x"), vec![]),
        (kw("5_\\%"), vec![B]),
        (kw("s_a"), vec![A, C]),
        (kw("ss_ ocean"), vec![A]),
        // Quotes and FTS syntax are text.
        (kw("it's \"quoted\""), vec![C]),
        (kw("NEAR(a"), vec![]),
        // Case folding beyond ASCII.
        (kw("TEMPÉRATURE ünïCØDÉ"), vec![E]),
        (kw("OCÉAN"), vec![E]),
        (kw("température"), vec![E]),
        (kw("temperature"), vec![A]),
        // ... and for short words and words with single-character wildcards.
        (kw("üN"), vec![E]),
        (kw("ÉR OC"), vec![E]),
        (kw("T_MPÉRATURE"), vec![E]),
        (kw("t_mpérature"), vec![E]),
        // No words: every record.
        (kw("   "), vec![A, B, C, E]),
        // Combined.
        (
            RecordFilter::And(vec![kw("sea"), bbox(-180.0, -90.0, 180.0, 90.0)]),
            vec![A],
        ),
        (
            RecordFilter::And(vec![
                kw("Temperature SEA"),
                bbox(-180.0, -90.0, 180.0, 90.0),
            ]),
            vec![A],
        ),
        (RecordFilter::Not(Box::new(kw("sea radar"))), vec![A, B, E]),
        (
            RecordFilter::Or(vec![kw("wind 50"), kw("radar nexrad")]),
            vec![B, C],
        ),
    ];
    for (f, want) in cases {
        let mut want: Vec<String> = want.into_iter().map(str::to_owned).collect();
        want.sort();
        let mut got = ids(store, &f).await;
        got.sort();
        assert_eq!(got, want, "{f:?}");
    }
    // Paged: the count is exact whatever the page.
    let f = kw("T: RA");
    for (offset, limit, want) in [
        (0, 10, vec![A, C, E]),
        (0, 2, vec![A, C]),
        (2, 2, vec![E]),
        (3, 2, vec![]),
        (0, 0, vec![]),
    ] {
        let page = store
            .search_records(&f, &[], offset, limit)
            .await
            .expect("search");
        assert_eq!(page.matched, 3, "offset {offset} limit {limit}");
        let got: Vec<String> = page.collections.into_iter().map(|c| c.info.id).collect();
        assert_eq!(got, want, "offset {offset} limit {limit}");
    }
}
