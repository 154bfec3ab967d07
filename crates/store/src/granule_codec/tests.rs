#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta};
use proptest::prelude::*;

use super::*;

// A stand-in for `threddex_ids` (this crate depends on no other): `{t}` shows the start and
// `{e}` the end, as `yyyyMMddHHmmss`.
const FMT: &str = "%Y%m%d%H%M%S";

fn render(template: &str, start: Timestamp, end: Option<Timestamp>) -> Option<String> {
    let mut out = template.replace("{t}", &start.format(FMT).to_string());
    if out.contains("{e}") {
        out = out.replace("{e}", &end?.format(FMT).to_string());
    }
    Some(out)
}

fn read_start(template: &str, raw: &str) -> Option<Timestamp> {
    let (pre, _) = template.split_once("{t}")?;
    let digits = raw.strip_prefix(pre)?.get(..14)?;
    chrono::NaiveDateTime::parse_from_str(digits, FMT)
        .ok()
        .map(|t| t.and_utc())
}

fn renders_back(template: &str, raw: &str, start: Timestamp, end: Option<Timestamp>) -> bool {
    render(template, start, end).is_some_and(|r| r == raw)
        && read_start(template, raw) == Some(start)
}

fn derive_template(raw: &str) -> Option<String> {
    let at = raw.find(|c: char| c.is_ascii_digit())?;
    let digits = raw.get(at..at + 14)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.replace(digits, "{t}"))
}

/// A column that keeps whole microseconds (rounding the rest away).
fn store_time(t: Timestamp) -> Timestamp {
    let us = (t.timestamp_subsec_nanos() + 500) / 1_000;
    DateTime::from_timestamp(t.timestamp(), 0).unwrap() + TimeDelta::microseconds(i64::from(us))
}

/// A backend that renders only from times its columns keep exactly.
const EXACT: Codec = Codec {
    render,
    renders_back,
    derive_template,
    read_back: |t| (store_time(t) == t).then_some(t),
};

/// A backend that renders from the times as its columns round them.
const ROUNDING: Codec = Codec {
    render,
    renders_back,
    derive_template,
    read_back: |t| Some(store_time(t)),
};

const LAYOUT: FlagLayout = FlagLayout {
    url_path_ends_with_name: 1,
    url_path_is_id: 2,
    url_path_rendered: 16,
    modified_is_start: 32,
    inverted: 16 | 32,
};

fn t0() -> Timestamp {
    DateTime::from_timestamp(1_567_185_180, 0).unwrap()
}

const ID_TEMPLATE: &str = "radar/{t}/scan_{t}.nids";
const PATH_TEMPLATE: &str = "files/radar/{t}/scan_{t}.nids";

/// Write `f` and read it back through a column layout, as a backend does.
fn roundtrip(codec: &Codec, t: &Templates<'_>, f: &Fields<'_>, may_render_id: bool) -> Decoded {
    let e = codec.encode(
        t,
        f,
        may_render_id && codec.id_renders_back(t, f.id, f.start, f.end),
    );
    let column = LAYOUT.encode(e.flags);
    let row = Stored {
        flags: LAYOUT.decode(column),
        id: e.id.map(str::to_owned),
        name: e.name.map(str::to_owned),
        url_path: e.url_path.map(str::to_owned),
        start: f.start.map(store_time),
        end: f.end.map(store_time),
        modified: e.modified.map(store_time),
    };
    codec.decode(t, row).unwrap()
}

fn usual(id: &str, path: &str) -> Fields<'static> {
    let id: &'static str = Box::leak(id.to_owned().into_boxed_str());
    let path: &'static str = Box::leak(path.to_owned().into_boxed_str());
    Fields {
        id,
        name: last_segment(id),
        url_path: Some(path),
        start: Some(t0()),
        end: None,
        modified: Some(t0()),
    }
}

#[test]
fn usual_rows_store_no_text() {
    let id = render(ID_TEMPLATE, t0(), None).unwrap();
    let path = render(PATH_TEMPLATE, t0(), None).unwrap();
    let f = usual(&id, &path);
    let both = Templates {
        id: Some(ID_TEMPLATE),
        url_path: Some(PATH_TEMPLATE),
    };
    for codec in [EXACT, ROUNDING] {
        let e = codec.encode(&both, &f, true);
        assert_eq!(
            e,
            Encoded {
                flags: GranuleFlags::URL_PATH_RENDERED | GranuleFlags::MODIFIED_IS_START,
                id: None,
                name: None,
                url_path: None,
                modified: None,
            }
        );
        // The usual row stores flags 0 in a layout that inverts these two bits.
        assert_eq!(LAYOUT.encode(e.flags), 0);
        // Without a urlPath template, the urlPath is a prefix the name completes.
        let id_only = Templates {
            id: Some(ID_TEMPLATE),
            url_path: None,
        };
        assert!(codec.id_renders_back(&both, f.id, f.start, f.end));
        let e = codec.encode(&id_only, &f, true);
        assert_eq!(
            e.flags,
            GranuleFlags::URL_PATH_ENDS_WITH_NAME | GranuleFlags::MODIFIED_IS_START
        );
        assert_eq!(e.url_path, Some("files/radar/20190830171300/"));
        // A row the backend keeps its ID for.
        assert_eq!(codec.encode(&both, &f, false).id, Some(f.id));
        // The learnt urlPath template is the one used above.
        assert_eq!(
            codec
                .path_template_from(f.id, &path, f.start, f.end)
                .as_deref(),
            Some(PATH_TEMPLATE)
        );
        assert_eq!(codec.path_template_from(f.id, f.id, f.start, f.end), None);
    }
}

/// Name and urlPath without templates: the name when it is the ID's last segment, the
/// urlPath when it is the ID, or the prefix the name completes, are not stored.
#[test]
fn names_and_paths_without_templates() {
    let cases: [(&str, &str, Option<&str>); 16] = [
        ("a/b/file.nc", "file.nc", Some("x/y/file.nc")),
        ("a/b/file.nc", "file.nc", Some("a/b/file.nc")),
        ("a/b/file.nc", "other", Some("a/b/file.nc")),
        ("a/b/file.nc", "Other", Some("x/y/file.nc")),
        ("file.nc", "file.nc", Some("file.nc")),
        ("a/b/", "", Some("x")),
        ("id", "name", None),
        ("a/b/file.nc", "file.nc", Some("x/y/other.nc")),
        ("é/ü", "ü", Some("pré/ü")),
        ("a/b/c.nc", "c.nc", Some("data/b/c.nc")),
        ("a/b/c.nc", "c.nc", Some("c.nc")),
        ("a/b/c.nc", "", Some("x")),
        ("a/b/c.nc", "", None),
        ("a/b/", "", Some("")),
        ("plain", "plain", None),
        ("x/y", "y", Some("")),
    ];
    for codec in [EXACT, ROUNDING] {
        for (id, name, url_path) in cases {
            let f = Fields {
                id,
                name,
                url_path,
                start: None,
                end: None,
                modified: None,
            };
            let back = roundtrip(&codec, &Templates::default(), &f, true);
            assert_eq!(back.id, id);
            assert_eq!(
                (back.name.as_str(), back.url_path.as_deref()),
                (name, url_path),
                "{id}"
            );
        }
        let f = |id, name, url_path| Fields {
            id,
            name,
            url_path: Some(url_path),
            start: None,
            end: None,
            modified: None,
        };
        let e = codec.encode(
            &Templates::default(),
            &f("a/b/file.nc", "file.nc", "x/y/file.nc"),
            false,
        );
        assert_eq!(
            (e.id, e.name, e.flags, e.url_path),
            (
                Some("a/b/file.nc"),
                None,
                GranuleFlags::URL_PATH_ENDS_WITH_NAME,
                Some("x/y/")
            )
        );
        let e = codec.encode(
            &Templates::default(),
            &f("a/b/file.nc", "file.nc", "a/b/file.nc"),
            false,
        );
        assert_eq!(
            (e.name, e.flags, e.url_path),
            (None, GranuleFlags::URL_PATH_IS_ID, None)
        );
        let e = codec.encode(
            &Templates::default(),
            &f("x/GFS_2020.grib2", "GFS_2020.grib2", "ds/GFS_2020.grib2"),
            false,
        );
        assert_eq!(
            (e.name, e.flags, e.url_path),
            (None, GranuleFlags::URL_PATH_ENDS_WITH_NAME, Some("ds/"))
        );
    }
}

#[test]
fn times_a_column_would_change_are_not_rendered_from_by_an_exact_backend() {
    let id = render(ID_TEMPLATE, t0(), None).unwrap();
    let mut f = usual(&id, &id);
    let t = Templates {
        id: Some(ID_TEMPLATE),
        url_path: None,
    };
    f.start = Some(t0() + TimeDelta::nanoseconds(1));
    f.modified = f.start;
    assert!(!EXACT.id_renders_back(&t, f.id, f.start, f.end));
    let e = EXACT.encode(&t, &f, false);
    assert_eq!(e.id, Some(f.id));
    assert_eq!(e.modified, f.modified);
    assert_eq!(e.flags, GranuleFlags::URL_PATH_IS_ID);
    // A rounding backend renders from the start as its column keeps it.
    assert!(ROUNDING.id_renders_back(&t, f.id, f.start, f.end));
    let e = ROUNDING.encode(&t, &f, true);
    assert_eq!(e.id, None);
    assert_eq!(
        e.flags,
        GranuleFlags::URL_PATH_IS_ID | GranuleFlags::MODIFIED_IS_START
    );
}

#[test]
fn corrupt_rows_are_errors() {
    let none = Templates::default();
    let row = Stored {
        start: Some(t0()),
        ..Stored::default()
    };
    assert!(matches!(
        EXACT.decode(&none, row.clone()),
        Err(StoreError::Corrupt(_))
    ));
    let rendered_path = Stored {
        id: Some("x".into()),
        flags: GranuleFlags::URL_PATH_RENDERED,
        ..row
    };
    assert!(matches!(
        EXACT.decode(&none, rendered_path),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn flag_layouts_round_trip_every_combination() {
    for bits in 0u8..16 {
        let flags = GranuleFlags(bits);
        let column = LAYOUT.encode(flags);
        assert_eq!(LAYOUT.decode(column), flags);
        // Bits outside the layout (a backend's own) do not disturb it.
        assert_eq!(LAYOUT.decode(column | 4 | 8), flags);
        assert_eq!(column & !LAYOUT.mask(), 0);
    }
}

fn time() -> impl Strategy<Value = Timestamp> {
    (
        0i64..4_000_000_000,
        prop_oneof![
            Just(0u32),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..1_000_000_000
        ],
    )
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9/._]{0,16}"
}

#[derive(Debug, Clone)]
struct Case {
    id: String,
    name: String,
    url_path: Option<String>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    modified: Option<Timestamp>,
    id_template: Option<&'static str>,
    path_template: Option<&'static str>,
    may_render_id: bool,
    rounding: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let templates = (
        prop_oneof![
            Just(None),
            Just(Some(ID_TEMPLATE)),
            Just(Some("span/{t}_{e}.nc"))
        ],
        prop_oneof![
            Just(None),
            Just(Some(PATH_TEMPLATE)),
            Just(Some("data/{t}-{e}"))
        ],
    );
    let times = (
        proptest::option::of(time()),
        proptest::option::weighted(0.5, 0i64..100_000),
    );
    (
        templates,
        times,
        (0u8..3, 0u8..3, 0u8..5, 0u8..3),
        (text(), text(), text(), time()),
        any::<(bool, bool)>(),
    )
        .prop_map(
            |(
                (id_t, path_t),
                (start, span),
                (id_k, name_k, path_k, mod_k),
                (x, y, z, m),
                (may, rounding),
            )| {
                let end = start.zip(span).map(|(s, d)| s + TimeDelta::seconds(d));
                let rendered = |t: Option<&str>| {
                    t.zip(start)
                        .and_then(|(t, s)| render(t, s, end))
                        .unwrap_or_else(|| x.clone())
                };
                let id = match id_k {
                    0 => rendered(id_t),
                    1 => format!("{}/{y}", rendered(id_t)),
                    _ => x.clone(),
                };
                let name = match name_k {
                    0 => last_segment(&id).to_owned(),
                    1 => String::new(),
                    _ => y.clone(),
                };
                let url_path = match path_k {
                    0 => None,
                    1 => Some(id.clone()),
                    2 => Some(rendered(path_t)),
                    3 => Some(format!("{z}{name}")),
                    _ => Some(z.clone()),
                };
                let modified = match mod_k {
                    0 => None,
                    1 => start,
                    _ => Some(m),
                };
                Case {
                    id,
                    name,
                    url_path,
                    start,
                    end,
                    modified,
                    id_template: id_t,
                    path_template: path_t,
                    may_render_id: may,
                    rounding,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever is written reads back exactly (times as the columns keep them), and what is
    /// left out is only what the templates and flags give back.
    #[test]
    fn every_row_reads_back_as_written(c in case()) {
        let codec = if c.rounding { ROUNDING } else { EXACT };
        let t = Templates { id: c.id_template, url_path: c.path_template };
        let f = Fields {
            id: &c.id,
            name: &c.name,
            url_path: c.url_path.as_deref(),
            start: c.start,
            end: c.end,
            modified: c.modified,
        };
        let back = roundtrip(&codec, &t, &f, c.may_render_id);
        prop_assert_eq!(&back.id, &c.id);
        prop_assert_eq!(&back.name, &c.name);
        prop_assert_eq!(&back.url_path, &c.url_path);
        prop_assert_eq!(back.modified, c.modified.map(store_time));
        let renders = codec.id_renders_back(&t, &c.id, c.start, c.end);
        let e = codec.encode(&t, &f, c.may_render_id && renders);
        prop_assert_eq!(e.id.is_none(), c.may_render_id && renders);
        if e.name.is_none() {
            prop_assert_eq!(c.name.as_str(), last_segment(&c.id));
        }
    }
}
