//! The direct item writer against its oracle, the `Value` builder [`crate::item`]: over
//! generated granules and collections, the writer's bytes are those `serde_json` writes for the
//! builder's item (so also the same JSON once parsed).

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::Value;
use threddex_store::{AccessService, BBox, Granule, Timestamp};

use super::*;
use crate::{ItemContext, item};

/// Text with what needs escaping or percent-encoding: quotes, backslashes, controls, `/`, `:`,
/// `%`, spaces, non-ASCII (two-, three- and four-byte UTF-8, U+2028), or anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_./:%-]{0,24}",
        3 => "[a-z\"\\\\/ :%?&#=é€😀\u{2028}\u{7f}\u{0}\u{1}\u{8}\t\n\r\u{c}\u{1f}-]{0,24}",
        1 => any::<String>(),
    ]
}

/// A `urlPath`: text with one of the extensions the media types know (in any case), an
/// unknown one, or none.
fn url_path() -> impl Strategy<Value = Option<String>> {
    let ext = prop_oneof![
        Just(""),
        Just(".nc"),
        Just(".NC4"),
        Just(".netCDF"),
        Just(".grib2"),
        Just(".Grb"),
        Just(".h5"),
        Just(".hdf"),
        Just(".TIFF"),
        Just(".json"),
        Just(".xml"),
        Just(".csv"),
        Just(".gz"),
        Just(".zip"),
        Just(".bz2"),
        Just(".xyz"),
        Just(".netcdf4"),
        Just(".é"),
        Just("."),
    ];
    proptest::option::weighted(0.9, (text(), ext).prop_map(|(t, e)| format!("{t}{e}")))
}

/// A time anywhere chrono's range allows (so also years outside 0..=9999), at whole seconds,
/// milliseconds, microseconds or nanoseconds.
fn time() -> impl Strategy<Value = Timestamp> {
    let secs = prop_oneof![
        4 => 0i64..4_102_444_800,
        1 => -100_000_000_000i64..400_000_000_000,
    ];
    let nanos = prop_oneof![
        Just(0u32),
        (0u32..1_000).prop_map(|m| m * 1_000_000),
        (0u32..1_000_000).prop_map(|u| u * 1_000),
        0u32..1_000_000_000,
    ];
    (secs, nanos).prop_map(|(s, n)| DateTime::<Utc>::from_timestamp(s, n).unwrap_or_default())
}

fn service() -> impl Strategy<Value = AccessService> {
    let ty = prop_oneof![
        Just("HTTPServer".to_owned()),
        Just("httpserver".to_owned()),
        Just("File".to_owned()),
        Just("OPENDAP".to_owned()),
        Just("dods".to_owned()),
        Just("DAP4".to_owned()),
        Just("WCS".to_owned()),
        Just("WMS".to_owned()),
        Just("NetcdfSubset".to_owned()),
        Just("CdmRemote".to_owned()),
        Just("ISO".to_owned()),
        Just("NCML".to_owned()),
        Just("UDDC".to_owned()),
        Just("Compound".to_owned()),
        text(),
    ];
    let base = prop_oneof![
        1 => Just(String::new()),
        4 => text().prop_map(|t| format!("http://h/{t}")),
    ];
    let suffix = prop_oneof![2 => Just(String::new()), 1 => text()];
    (text(), ty, base, suffix).prop_map(|(name, service_type, base, suffix)| AccessService {
        name,
        service_type,
        base,
        suffix,
    })
}

/// A footprint: a box (possibly across the antimeridian, possibly a point), or an odd one
/// (negative zero, tiny or non-finite numbers), or none.
fn footprint() -> impl Strategy<Value = Option<BBox>> {
    let coord = prop_oneof![
        6 => -180.0f64..180.0,
        1 => Just(-0.0f64),
        1 => Just(1e-7f64),
        1 => Just(180.0f64),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
    ];
    let b = (coord.clone(), coord.clone(), coord.clone(), coord).prop_map(|(w, s, e, n)| BBox {
        west: w,
        south: s,
        east: e,
        north: n,
    });
    let point = (-180.0f64..180.0, -90.0f64..90.0).prop_map(|(x, y)| BBox {
        west: x,
        south: y,
        east: x,
        north: y,
    });
    proptest::option::weighted(0.8, prop_oneof![4 => b, 1 => point])
}

fn granule() -> impl Strategy<Value = Granule> {
    (
        text(),
        text(),
        proptest::option::of(time()),
        proptest::option::of(time()),
        url_path(),
        proptest::option::of(prop_oneof![
            -3i64..3,
            0i64..10_000_000_000_000,
            Just(i64::MAX),
            Just(i64::MIN)
        ]),
    )
        .prop_map(|(granule_id, name, start, end, url_path, size)| Granule {
            collection_id: String::new(),
            granule_id,
            name,
            start,
            end,
            url_path,
            size,
            modified: None,
            catalog_url: "http://h/thredds/catalog/catalog.xml".into(),
        })
}

fn oracle(g: &Granule, ctx: &ItemContext<'_>) -> Vec<u8> {
    serde_json::to_vec(&item(g, ctx)).expect("an item serializes")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// One item: the same bytes as the builder's, and the same JSON once parsed.
    #[test]
    fn the_writer_writes_the_builders_item(
        g in granule(),
        services in proptest::collection::vec(service(), 0..7),
        collection_id in text(),
        root in prop_oneof![Just("http://api/stac".to_owned()), text()],
        footprint in footprint(),
    ) {
        let ctx = ItemContext { root: &root, collection_id: &collection_id, services: &services, footprint };
        let mut ours = Vec::new();
        write_item(&mut ours, &g, &ctx);
        let theirs = oracle(&g, &ctx);
        // Both parsed by the same parser (serde_json's default float parsing may be off by
        // one unit in the last place, so the builder's own `Value` is not compared with it).
        let parsed: Value = serde_json::from_slice(&ours).expect("the writer writes JSON");
        let expected: Value = serde_json::from_slice(&theirs).expect("the builder writes JSON");
        prop_assert_eq!(&parsed, &expected);
        prop_assert_eq!(&parsed["id"], &Value::String(g.granule_id.clone()));
        prop_assert_eq!(String::from_utf8(ours).expect("UTF-8"), String::from_utf8(theirs).expect("UTF-8"));
    }

    /// One template, many granules: each item as the builder writes it.
    #[test]
    fn one_template_serves_every_item_of_its_collection(
        granules in proptest::collection::vec(granule(), 1..12),
        services in proptest::collection::vec(service(), 0..5),
        collection_id in text(),
        footprint in footprint(),
    ) {
        let ctx = ItemContext { root: "https://x.org/a b/stac", collection_id: &collection_id, services: &services, footprint };
        let template = ItemTemplate::new(&ctx);
        for g in &granules {
            let mut ours = Vec::new();
            template.write(&mut ours, g);
            prop_assert!(template.estimate(g) > 0);
            prop_assert_eq!(ours, oracle(g, &ctx));
        }
    }

    /// The media type read from a file's extension, against the former lower-casing lookup.
    #[test]
    fn media_types_as_before(path in url_path()) {
        let path = path.unwrap_or_default();
        prop_assert_eq!(crate::assets::file_media_type(&path), former_media_type(&path));
    }
}

/// The media type lookup as it was (allocating a lower-cased extension).
fn former_media_type(url_path: &str) -> &'static str {
    let name = url_path.rsplit('/').next().unwrap_or(url_path);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "nc" | "nc4" | "cdf" | "netcdf" | "ncd" => "application/x-netcdf",
        "grib" | "grb" | "grib1" | "grb1" => "application/wmo-GRIB1",
        "grib2" | "grb2" => "application/wmo-GRIB2",
        "h5" | "hdf5" | "he5" => "application/x-hdf5",
        "hdf" | "hdf4" | "he4" => "application/x-hdf",
        "tif" | "tiff" => "image/tiff; application=geotiff",
        "json" => "application/json",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        "bz2" => "application/x-bzip2",
        _ => "application/octet-stream",
    }
}

/// The writer is not trivially right: a hand-picked item with every kind of part, checked
/// against literal expectations as well as the builder.
#[test]
fn an_item_with_every_part() {
    let services = vec![
        AccessService {
            name: "odap \"x\"".into(),
            service_type: "OPENDAP".into(),
            base: "http://h/dodsC/".into(),
            suffix: ".html".into(),
        },
        AccessService {
            name: "http".into(),
            service_type: "HTTPServer".into(),
            base: "http://h/fileServer/".into(),
            suffix: String::new(),
        },
    ];
    let ctx = ItemContext {
        root: "http://api/stac",
        collection_id: "c:1",
        services: &services,
        footprint: Some(BBox {
            west: 170.0,
            south: -10.0,
            east: -170.0,
            north: 10.5,
        }),
    };
    let g = Granule {
        collection_id: "c:1".into(),
        granule_id: "a/b é.nc".into(),
        name: "b\té.nc".into(),
        start: DateTime::<Utc>::from_timestamp(1_700_000_000, 5_000_000),
        end: DateTime::<Utc>::from_timestamp(1_700_003_600, 0),
        url_path: Some("a/b é.nc".into()),
        size: Some(42),
        modified: None,
        catalog_url: "http://h/catalog.xml".into(),
    };
    let mut ours = Vec::new();
    write_item(&mut ours, &g, &ctx);
    let text = String::from_utf8(ours.clone()).expect("UTF-8");
    assert!(text.starts_with(
        "{\"assets\":{\"data\":{\"file:size\":42,\"href\":\"http://h/fileServer/a/b é.nc\",\
         \"roles\":[\"data\"],\"title\":\"http\",\"type\":\"application/x-netcdf\"},\
         \"opendap\":{\"href\":\"http://h/dodsC/a/b é.nc.html\",\"roles\":[\"data\",\"opendap\"],\
         \"title\":\"odap \\\"x\\\"\",\"type\":\"application/vnd.opendap.dap2\"}},\
         \"bbox\":[170.0,-10.0,-170.0,10.5],\"collection\":\"c:1\",\
         \"geometry\":{\"coordinates\":[[[[170.0,-10.0],"
    ));
    assert!(text.contains(
        "\"id\":\"a/b é.nc\",\"links\":[{\"href\":\
         \"http://api/stac/collections/c%3A1/items/a%2Fb%20%C3%A9.nc\",\"rel\":\"self\""
    ));
    assert!(text.ends_with(
        "\"properties\":{\"datetime\":\"2023-11-14T22:13:20.005Z\",\
         \"end_datetime\":\"2023-11-14T23:13:20Z\",\"start_datetime\":\"2023-11-14T22:13:20.005Z\",\
         \"title\":\"b\\té.nc\"},\"stac_extensions\":[\"https://stac-extensions.github.io/file/v2.1.0/schema.json\"],\
         \"stac_version\":\"1.0.0\",\"type\":\"Feature\"}"
    ));
    assert_eq!(ours, oracle(&g, &ctx));
}
