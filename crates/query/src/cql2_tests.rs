use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use threddex_store::{
    BBox, CompareOp, Granule, ItemTest, ItemText, ItemTime, RecordFilter, TextProperty,
};

use super::*;

fn t(d: u32, h: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2024, 1, d, h, 0, 0).unwrap()
}

fn granule(id: &str, start: Option<Timestamp>, end: Option<Timestamp>) -> Granule {
    Granule {
        collection_id: "c:sst".into(),
        granule_id: id.into(),
        name: format!("{id}.nc"),
        start,
        end,
        url_path: None,
        size: None,
        modified: None,
        catalog_url: String::new(),
    }
}

#[test]
fn text_and_json_read_the_same_tree() {
    let cases = [
        (
            "id = 'a' AND collection <> 'x'",
            json!({"op": "and", "args": [
                {"op": "=", "args": [{"property": "id"}, "a"]},
                {"op": "<>", "args": [{"property": "collection"}, "x"]}]}),
        ),
        (
            "NOT (\"id\" LIKE 'g1%' OR id IN ('a', 'b'))",
            json!({"op": "not", "args": [{"op": "or", "args": [
                {"op": "like", "args": [{"property": "id"}, "g1%"]},
                {"op": "in", "args": [{"property": "id"}, ["a", "b"]]}]}]}),
        ),
        (
            "datetime BETWEEN TIMESTAMP('2024-01-01T00:00:00Z') AND TIMESTAMP('2024-01-02T00:00:00Z')",
            json!({"op": "between", "args": [{"property": "datetime"},
                {"timestamp": "2024-01-01T00:00:00Z"}, {"timestamp": "2024-01-02T00:00:00Z"}]}),
        ),
        (
            "T_INTERSECTS(datetime, INTERVAL('2024-01-01T00:00:00Z', '..'))",
            json!({"op": "t_intersects", "args": [{"property": "datetime"},
                {"interval": ["2024-01-01T00:00:00Z", ".."]}]}),
        ),
        (
            "S_INTERSECTS(geometry, POLYGON((0 0, 10 0, 0 10, 0 0)))",
            json!({"op": "s_intersects", "args": [{"property": "geometry"},
                {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [0, 10], [0, 0]]]}]}),
        ),
        (
            "s_intersects(geometry, bbox(-10, -5.5, 10, 5))",
            json!({"op": "s_intersects", "args": [{"property": "geometry"},
                {"bbox": [-10, -5.5, 10, 5]}]}),
        ),
        (
            "properties.end_datetime IS NULL",
            json!({"op": "isNull", "args": [{"property": "properties.end_datetime"}]}),
        ),
    ];
    for (text, j) in cases {
        let a = parse_text(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let b = parse_json(&j).unwrap_or_else(|e| panic!("{j}: {e}"));
        assert_eq!(a, b, "{text}");
    }
}

#[test]
fn the_tree_it_reads() {
    assert_eq!(
        parse_text("collection = 'c:sst'").unwrap(),
        RecordFilter::CompareText {
            prop: TextProperty::Identifier,
            op: CompareOp::Eq,
            value: "c:sst".into(),
            match_case: true
        }
    );
    assert_eq!(
        parse_text("id > 'g2'").unwrap(),
        RecordFilter::Item(ItemTest::CompareText {
            prop: ItemText::Id,
            op: CompareOp::Gt,
            value: "g2".into()
        })
    );
    assert_eq!(
        parse_text("datetime >= TIMESTAMP('2024-01-02T00:00:00Z')").unwrap(),
        RecordFilter::Item(ItemTest::CompareTime {
            prop: ItemTime::Datetime,
            op: CompareOp::Ge,
            value: t(2, 0)
        })
    );
    assert_eq!(
        parse_text("T_INTERSECTS(datetime, DATE('2024-01-03'))").unwrap(),
        RecordFilter::Item(ItemTest::Intersects {
            start: Some(t(3, 0)),
            end: Some(t(4, 0) - chrono::TimeDelta::microseconds(1))
        })
    );
    assert_eq!(
        parse_text("S_INTERSECTS(geometry, BBOX(1, 2, 3, 4))").unwrap(),
        RecordFilter::BBox(BBox {
            west: 1.0,
            south: 2.0,
            east: 3.0,
            north: 4.0
        })
    );
}

#[test]
fn refusals_name_the_problem() {
    for (text, needle) in [
        ("foo = 'x'", "unknown queryable"),
        ("id = ", "expected a property or a literal"),
        ("id LIKE 3", "expected a string"),
        ("geometry = 'x'", "only tested with s_intersects"),
        (
            "S_INTERSECTS(geometry, BBOX(0, 10, 5, 0))",
            "south <= north",
        ),
        (
            "S_INTERSECTS(geometry, POLYGON((0 0, 1 1)))",
            "three positions",
        ),
        (
            "T_INTERSECTS(datetime, INTERVAL('2024-02-01', '2024-01-01'))",
            "after its end",
        ),
        ("datetime > TIMESTAMP('yesterday')", "not an RFC 3339"),
        ("(id = 'a'", "expected RParen"),
        ("id = 'a' id", "unexpected"),
        ("id = 'unterminated", "unterminated"),
        ("", "empty"),
    ] {
        let e = parse_text(text).expect_err(text).to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
    let deep = format!("{}id = 'a'{}", "(".repeat(200), ")".repeat(200));
    assert!(parse_text(&deep).is_err());
    let many = (0..2_000)
        .map(|i| format!("id = '{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert!(parse_text(&many).unwrap_err().to_string().contains("nodes"));
    assert!(parse_json(&json!({"op": "frobnicate", "args": []})).is_err());
    assert!(parse_json(&json!(["not", "an", "op"])).is_err());
}

#[test]
fn items_are_tested_as_stac_says() {
    let f = parse_text(
        "T_INTERSECTS(datetime, INTERVAL('2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z')) AND id LIKE 'g%'",
    )
    .unwrap();
    assert!(f.matches_item(&granule("g1", Some(t(2, 5)), None), None));
    assert!(
        f.matches_item(&granule("g1", Some(t(1, 0)), Some(t(2, 0))), None),
        "touching start"
    );
    assert!(!f.matches_item(&granule("g1", Some(t(3, 1)), None), None));
    assert!(!f.matches_item(&granule("h1", Some(t(2, 5)), None), None));
    assert!(
        !f.matches_item(&granule("g1", None, None), None),
        "no time, no match"
    );
    let geo = parse_text("S_INTERSECTS(geometry, POLYGON((0 0, 10 0, 0 10, 0 0)))").unwrap();
    let near = BBox {
        west: 1.0,
        south: 1.0,
        east: 2.0,
        north: 2.0,
    };
    let far = BBox {
        west: 8.0,
        south: 8.0,
        east: 9.0,
        north: 9.0,
    };
    let g = granule("g", Some(t(1, 0)), None);
    assert!(geo.matches_item(&g, Some(&near)));
    assert!(!geo.matches_item(&g, Some(&far)));
    assert!(!geo.matches_item(&g, None), "no footprint, no match");
    let null = parse_text("geometry IS NULL").unwrap();
    assert!(null.matches_item(&g, None) && !null.matches_item(&g, Some(&near)));
    let coll = parse_text("collection IN ('c:sst', 'c:x')").unwrap();
    assert!(coll.matches_item(&g, None));
}

#[test]
fn what_sql_gets_of_an_item_filter() {
    let f = parse_text(
        "collection = 'c:sst' AND T_INTERSECTS(datetime, INTERVAL('2024-01-02T00:00:00Z', '..')) \
         AND S_INTERSECTS(geometry, POLYGON((0 0, 10 0, 0 10, 0 0))) AND (id = 'a' OR collection = 'b')",
    )
    .unwrap();
    let p = f.item_pushdown();
    assert_eq!(p.start, Some(t(2, 0)));
    assert_eq!(p.end, None);
    let RecordFilter::And(kept) = &p.collections else {
        panic!("{:?}", p.collections)
    };
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(matches!(kept[1], RecordFilter::BBox(b) if b.east == 10.0 && b.north == 10.0));
    assert!(!p.collections.has_item_tests());
}

/// A generated CQL2 expression, written in both encodings.
#[derive(Clone, Debug)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(&'static str, &'static str, String),
    Time(&'static str, &'static str, i64),
    Like(&'static str, String),
    In(&'static str, Vec<String>),
    Between(i64, i64),
    TInt(Option<i64>, Option<i64>),
    BBox(f64, f64, f64, f64),
    Poly(Vec<(f64, f64)>),
}

fn ts(s: i64) -> String {
    Utc.timestamp_opt(s, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Expr {
    fn text(&self) -> String {
        match self {
            Expr::And(v) => format!(
                "({})",
                v.iter().map(Expr::text).collect::<Vec<_>>().join(" AND ")
            ),
            Expr::Or(v) => format!(
                "({})",
                v.iter().map(Expr::text).collect::<Vec<_>>().join(" or ")
            ),
            Expr::Not(e) => format!("NOT {}", e.text()),
            Expr::Cmp(p, op, v) => format!("{p} {op} {}", quote(v)),
            Expr::Time(p, op, s) => format!("{p} {op} TIMESTAMP('{}')", ts(*s)),
            Expr::Like(p, v) => format!("{p} LIKE {}", quote(v)),
            Expr::In(p, v) => format!(
                "\"{p}\" IN ({})",
                v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
            ),
            Expr::Between(a, b) => format!(
                "datetime BETWEEN TIMESTAMP('{}') AND TIMESTAMP('{}')",
                ts(*a),
                ts(*b)
            ),
            Expr::TInt(a, b) => format!(
                "T_INTERSECTS(datetime, INTERVAL({}, {}))",
                a.map_or("'..'".into(), |s| quote(&ts(s))),
                b.map_or("'..'".into(), |s| quote(&ts(s)))
            ),
            Expr::BBox(w, s, e, n) => format!("S_INTERSECTS(geometry, BBOX({w}, {s}, {e}, {n}))"),
            Expr::Poly(pts) => format!(
                "S_INTERSECTS(geometry, POLYGON(({})))",
                pts.iter()
                    .map(|(x, y)| format!("{x} {y}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn json(&self) -> Value {
        let p = |n: &str| json!({"property": n});
        match self {
            Expr::And(v) => {
                json!({"op": "and", "args": v.iter().map(Expr::json).collect::<Vec<_>>()})
            }
            Expr::Or(v) => {
                json!({"op": "or", "args": v.iter().map(Expr::json).collect::<Vec<_>>()})
            }
            Expr::Not(e) => json!({"op": "not", "args": [e.json()]}),
            Expr::Cmp(n, op, v) => json!({"op": op, "args": [p(n), v]}),
            Expr::Time(n, op, s) => json!({"op": op, "args": [p(n), {"timestamp": ts(*s)}]}),
            Expr::Like(n, v) => json!({"op": "like", "args": [p(n), v]}),
            Expr::In(n, v) => json!({"op": "in", "args": [p(n), v]}),
            Expr::Between(a, b) => {
                json!({"op": "between", "args": [p("datetime"), {"timestamp": ts(*a)}, {"timestamp": ts(*b)}]})
            }
            Expr::TInt(a, b) => json!({"op": "t_intersects", "args": [p("datetime"),
                {"interval": [a.map_or("..".into(), ts), b.map_or("..".into(), ts)]}]}),
            Expr::BBox(w, s, e, n) => {
                json!({"op": "s_intersects", "args": [p("geometry"), {"bbox": [w, s, e, n]}]})
            }
            Expr::Poly(pts) => json!({"op": "s_intersects", "args": [p("geometry"),
                {"type": "Polygon", "coordinates": [pts.iter().map(|(x, y)| json!([x, y])).collect::<Vec<_>>()]}]}),
        }
    }
}

fn leaf() -> impl Strategy<Value = Expr> {
    let text = "[a-z0-9 '%_:/.-]{0,12}";
    let ops = prop::sample::select(vec!["=", "<>", "<", "<=", ">", ">="]);
    let texts = prop::sample::select(vec!["id", "collection", "title"]);
    let times = prop::sample::select(vec!["datetime", "start_datetime", "end_datetime"]);
    let secs = 0i64..4_000_000_000;
    prop_oneof![
        (texts.clone(), ops.clone(), text).prop_map(|(p, o, v)| Expr::Cmp(p, o, v)),
        (times, ops, secs.clone()).prop_map(|(p, o, s)| Expr::Time(p, o, s)),
        (texts.clone(), text).prop_map(|(p, v)| Expr::Like(p, v)),
        (texts, prop::collection::vec(text, 1..4)).prop_map(|(p, v)| Expr::In(p, v)),
        (secs.clone(), 0i64..1_000_000).prop_map(|(a, d)| Expr::Between(a, a + d)),
        (
            prop::option::of(secs.clone()),
            prop::option::of(0i64..1_000_000)
        )
            .prop_map(|(a, d)| Expr::TInt(a, d.map(|d| a.unwrap_or(0) + d))),
        (-180i32..180, -90i32..90, -180i32..180, 0i32..90).prop_map(|(w, s, e, n)| Expr::BBox(
            f64::from(w) / 2.0,
            f64::from(s),
            f64::from(e),
            f64::from((s + n).min(90))
        )),
        prop::collection::vec((-180i32..=180, -90i32..=90), 3..8).prop_map(|v| Expr::Poly(
            v.into_iter()
                .map(|(x, y)| (f64::from(x) * 0.5, f64::from(y) * 0.5))
                .collect()
        )),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any expression reads into the same tree from its text and from its JSON.
    #[test]
    fn text_and_json_agree(e in expr()) {
        let text = e.text();
        let from_text = parse_text(&text);
        let from_json = parse_json(&e.json());
        prop_assert_eq!(from_text, from_json, "{}", text);
    }

    /// Deciding the footprint tests once per collection changes no answer; and whatever a
    /// filter on items says, SQL on collections only ever drops collections that hold no
    /// matching granule: a granule that matches lies in the pushed-down window, and
    /// its collection passes the pushed-down collection test.
    #[test]
    fn pushdown_never_loses_a_match(
        e in expr(),
        start in 0i64..4_000_000_000,
        len in prop::option::of(0i64..2_000_000),
        fp in prop::option::of((-180i32..180, -90i32..80, 0i32..60, 1i32..30)),
    ) {
        let Ok(f) = parse_json(&e.json()) else { return Ok(()) };
        let g = Granule {
            collection_id: "c".into(),
            granule_id: "a".into(),
            name: "a".into(),
            start: Some(Utc.timestamp_opt(start, 0).unwrap()),
            end: len.map(|l| Utc.timestamp_opt(start + l, 0).unwrap()),
            url_path: None,
            size: None,
            modified: None,
            catalog_url: String::new(),
        };
        let footprint = fp.map(|(w, s, dw, dn)| BBox {
            west: f64::from(w),
            south: f64::from(s),
            east: f64::from((w + dw).min(180)),
            north: f64::from((s + dn).min(90)),
        });
        prop_assert_eq!(
            f.with_footprint(footprint.as_ref()).matches_item(&g, footprint.as_ref()),
            f.matches_item(&g, footprint.as_ref()),
            "the footprint decided once tests the same"
        );
        if f.matches_item(&g, footprint.as_ref()) {
            let p = f.item_pushdown();
            let gs = g.start.unwrap();
            let ge = g.end.unwrap_or(gs);
            prop_assert!(p.start.is_none_or(|s| ge >= s));
            prop_assert!(p.end.is_none_or(|e| gs < e));
            prop_assert!(p.collections.matches_item(&g, footprint.as_ref()),
                "{:?} lost by {:?}", e.text(), p.collections);
        }
    }
}
