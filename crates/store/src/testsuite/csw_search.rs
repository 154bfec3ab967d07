//! Suite: catalogue search ([`CollectionCatalog::search_records`]) — every filter node, paging, sorting,
//! and hostile text that must stay data.

use super::*;
use crate::{
    BBox, Batch, CompareOp, LikePattern, Literal, Queryable, RecordFilter, SortKey, Store,
    StoreError, TextProperty,
};

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
