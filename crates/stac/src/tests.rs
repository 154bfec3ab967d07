use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use threddex_store::{
    AccessService, BBox, Collection, CollectionUpsert, CollectionView, Granule, Timestamp, View,
    ViewAccess, ViewKind,
};

use crate::*;

fn t(h: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2024, 5, 1, h, 0, 0).unwrap()
}

fn svc(name: &str, ty: &str, base: &str, suffix: &str) -> AccessService {
    AccessService {
        name: name.into(),
        service_type: ty.into(),
        base: base.into(),
        suffix: suffix.into(),
    }
}

fn services() -> Vec<AccessService> {
    vec![
        svc("all", "Compound", "", ""),
        svc("http", "HTTPServer", "http://h/thredds/fileServer/", ""),
        svc("odap", "OPENDAP", "http://h/thredds/dodsC/", ""),
        svc("iso", "ISO", "http://h/thredds/iso/", ""),
        svc("wms", "WMS", "", ""),
    ]
}

fn granule(start: Option<Timestamp>, end: Option<Timestamp>, size: Option<i64>) -> Granule {
    Granule {
        collection_id: "edu.ucar:sst/SST.nc".into(),
        granule_id: "sst/2024/SST_20240501.nc".into(),
        name: "SST_20240501.nc".into(),
        start,
        end,
        url_path: Some("sst/2024/SST_20240501.nc".into()),
        size,
        modified: Some(t(23)),
        catalog_url: "http://h/thredds/catalog/sst/catalog.xml".into(),
    }
}

fn collection(bbox: Option<BBox>, metadata: Value) -> Collection {
    Collection {
        info: CollectionUpsert {
            id: "edu.ucar:sst/SST.nc".into(),
            source_id: 1,
            title: "Sea surface temperature".into(),
            template: None,
            catalog_url: "http://h/thredds/catalog/sst/catalog.xml".into(),
            services: services(),
            metadata,
            summary: Some("Daily SST".into()),
            keywords: vec!["sst".into()],
            bbox,
        },
        granule_count: 3,
        start: Some(t(0)),
        end: Some(t(12)),
        iso_record: None,
        updated_at: t(13),
        views_version: 0,
    }
}

const ROOT: &str = "http://api/stac";

#[test]
fn an_item_with_a_footprint_a_time_range_and_a_size() {
    let services = services();
    let b = BBox {
        west: -10.0,
        south: 20.0,
        east: 30.0,
        north: 40.0,
    };
    let ctx = ItemContext {
        root: ROOT,
        collection_id: "edu.ucar:sst/SST.nc",
        services: &services,
        footprint: Some(b),
    };
    let it = item(&granule(Some(t(0)), Some(t(6)), Some(1234)), &ctx);
    assert_eq!(it["type"], "Feature");
    assert_eq!(it["stac_version"], "1.0.0");
    assert_eq!(it["id"], "sst/2024/SST_20240501.nc");
    assert_eq!(it["collection"], "edu.ucar:sst/SST.nc");
    assert_eq!(it["properties"]["datetime"], "2024-05-01T00:00:00Z");
    assert_eq!(it["properties"]["start_datetime"], "2024-05-01T00:00:00Z");
    assert_eq!(it["properties"]["end_datetime"], "2024-05-01T06:00:00Z");
    assert_eq!(it["bbox"], json!([-10.0, 20.0, 30.0, 40.0]));
    assert_eq!(it["geometry"]["type"], "Polygon");
    assert_eq!(
        it["geometry"]["coordinates"][0][2],
        json!([30.0, 40.0]),
        "counter-clockwise ring"
    );
    assert_eq!(it["stac_extensions"], json!([FILE_EXTENSION]));
    let assets = it["assets"].as_object().unwrap();
    let keys: Vec<&str> = assets.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "no compound, no base-less WMS: {keys:?}");
    assert_eq!(
        assets["data"]["href"],
        "http://h/thredds/fileServer/sst/2024/SST_20240501.nc"
    );
    assert_eq!(assets["data"]["type"], "application/x-netcdf");
    assert_eq!(assets["data"]["roles"], json!(["data"]));
    assert_eq!(assets["data"]["file:size"], 1234);
    assert!(assets["opendap"].get("file:size").is_none());
    assert_eq!(
        assets["opendap"]["href"],
        "http://h/thredds/dodsC/sst/2024/SST_20240501.nc"
    );
    assert_eq!(assets["iso"]["roles"], json!(["metadata", "iso-19139"]));
    let rels: Vec<(&str, &str)> = it["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["rel"].as_str().unwrap(), l["href"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rels,
        [
            (
                "self",
                "http://api/stac/collections/edu.ucar%3Asst%2FSST.nc/items/sst%2F2024%2FSST_20240501.nc"
            ),
            (
                "collection",
                "http://api/stac/collections/edu.ucar%3Asst%2FSST.nc"
            ),
            (
                "parent",
                "http://api/stac/collections/edu.ucar%3Asst%2FSST.nc"
            ),
            ("root", "http://api/stac"),
        ]
    );
}

#[test]
fn an_item_without_footprint_end_or_size_invents_none() {
    let c = collection(None, json!({}));
    let it = item(&granule(Some(t(3)), None, None), &ItemContext::of(ROOT, &c));
    assert_eq!(it["geometry"], Value::Null);
    assert!(it.get("bbox").is_none());
    assert_eq!(it["properties"]["datetime"], "2024-05-01T03:00:00Z");
    assert!(it["properties"].get("start_datetime").is_none());
    assert!(it["assets"]["data"].get("file:size").is_none());
    assert_eq!(it["stac_extensions"], json!([]));
    // A box out of range is no footprint either.
    let bad = collection(
        Some(BBox {
            west: 0.0,
            south: 50.0,
            east: 10.0,
            north: 40.0,
        }),
        json!({}),
    );
    assert_eq!(footprint(&bad), None);
}

#[test]
fn boxes_across_the_antimeridian_and_points() {
    let g = geometry(&BBox {
        west: 170.0,
        south: -10.0,
        east: -170.0,
        north: 10.0,
    });
    assert_eq!(g["type"], "MultiPolygon");
    assert_eq!(g["coordinates"][0][0][1], json!([180.0, -10.0]));
    assert_eq!(g["coordinates"][1][0][0], json!([-180.0, -10.0]));
    let p = geometry(&BBox {
        west: 5.0,
        south: 6.0,
        east: 5.0,
        north: 6.0,
    });
    assert_eq!(p, json!({"type": "Point", "coordinates": [5.0, 6.0]}));
}

#[test]
fn asset_keys_are_stable_and_unique() {
    let s = vec![
        svc("a", "OPENDAP", "http://x/", ""),
        svc("b", "OpenDAP", "http://y/", ""),
        svc("c", "Compound", "http://z/", ""),
        svc("d", "Mystery", "http://w/", ""),
    ];
    let keys: Vec<String> = item_asset_keys(&s).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["opendap", "opendap-2", "service"]);
    assert_eq!(
        asset_kind("HTTPServer", "a/b.grib2").media_type,
        Some("application/wmo-GRIB2")
    );
    assert_eq!(
        asset_kind("HTTPServer", "a/b").media_type,
        Some("application/octet-stream")
    );
    assert_eq!(asset_kind("Mystery", "x").media_type, None);
}

#[test]
fn a_collection_with_its_metadata_views_and_extents() {
    let meta = json!({
        "documentation": [
            {"doc_type": "rights", "href": "https://example.org/licence", "title": "Licence"},
            {"doc_type": "rights", "text": "Free to use"},
            {"href": "https://example.org/about", "title": "About"}
        ],
        "creators": [{"name": {"value": "Unidata"}, "contact_url": "https://unidata.ucar.edu"}],
        "publishers": [{"name": {"value": "UCAR"}}],
        "variables": [{"vocabulary": "CF-1.0", "variables": [{"name": "sst", "units": "K"}]}],
        "keywords": [{"value": "ocean"}]
    });
    let c = collection(
        Some(BBox {
            west: -10.0,
            south: 20.0,
            east: 30.0,
            north: 40.0,
        }),
        meta,
    );
    let views = vec![CollectionView {
        catalog_url: "http://h/thredds/catalog/sst/catalog.xml".into(),
        view: View {
            name: "Best".into(),
            kind: ViewKind::Best,
            id: None,
            url_path: Some("sst/best".into()),
            catalog_ref: None,
            access: vec![ViewAccess {
                service: "odap".into(),
                service_type: "OPENDAP".into(),
                url: "http://h/thredds/dodsC/sst/best".into(),
            }],
            start: None,
            end: None,
        },
    }];
    let urls = Urls::new("http://api/");
    assert_eq!(urls.stac, "http://api/stac");
    let j = super::collection(&c, &views, &urls);
    assert_eq!(j["type"], "Collection");
    assert_eq!(j["id"], "edu.ucar:sst/SST.nc");
    assert_eq!(j["description"], "Daily SST");
    assert_eq!(j["license"], "other");
    assert_eq!(
        j["extent"]["spatial"]["bbox"],
        json!([[-10.0, 20.0, 30.0, 40.0]])
    );
    assert_eq!(
        j["extent"]["temporal"]["interval"],
        json!([["2024-05-01T00:00:00Z", "2024-05-01T12:00:00Z"]])
    );
    let kw = j["keywords"].as_array().unwrap();
    assert!(
        kw.contains(&json!("ocean")) && kw.contains(&json!("sst")),
        "{kw:?}"
    );
    assert_eq!(j["summaries"]["variables"], json!(["sst"]));
    let providers = j["providers"].as_array().unwrap();
    assert_eq!(providers[0]["roles"], json!(["producer"]));
    assert_eq!(providers[0]["url"], "https://unidata.ucar.edu");
    assert_eq!(providers[1]["roles"], json!(["host"]));
    let link = |rel: &str| {
        j["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == rel)
            .map(|l| l["href"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(link("license"), ["https://example.org/licence"]);
    assert_eq!(
        link("describedby"),
        ["http://api/collections/edu.ucar%3Asst%2FSST.nc?f=iso"]
    );
    assert_eq!(
        link("items"),
        ["http://api/stac/collections/edu.ucar%3Asst%2FSST.nc/items"]
    );
    assert!(link("alternate")[0].contains("request=GetRecordById"));
    assert!(link("related")[0].ends_with("/timeline"));
    assert_eq!(link("about"), ["https://example.org/about"]);
    let best = &j["assets"]["view-1-best"];
    assert_eq!(best["href"], "http://h/thredds/dodsC/sst/best");
    assert_eq!(best["roles"], json!(["virtual", "best", "data", "opendap"]));
    let ia = j["item_assets"].as_object().unwrap();
    assert_eq!(
        ia.keys().map(String::as_str).collect::<Vec<_>>(),
        ["data", "iso", "opendap"]
    );
    // Without coverage the extent is the world (required), and no rights link is invented.
    let bare = super::collection(&collection(None, json!({})), &[], &urls);
    assert_eq!(
        bare["extent"]["spatial"]["bbox"],
        json!([[-180.0, -90.0, 180.0, 90.0]])
    );
    assert!(link_rels(&bare).iter().all(|r| r != "license"));
    assert!(bare.get("assets").is_none());
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn link_rels(j: &Value) -> Vec<String> {
    j["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap().to_owned())
        .collect()
}

proptest! {
    /// Whatever the granule, the item keeps its ID, its time (never another one) and its
    /// footprint (null exactly when unknown), and each asset's URL is the service's.
    #[test]
    fn items_follow_their_granule(
        id in "[a-zA-Z0-9_/.:%-]{1,40}",
        start in proptest::option::of(0i64..4_000_000_000),
        len in proptest::option::of(0i64..1_000_000),
        size in proptest::option::of(-5i64..1_000_000_000_000),
        bbox in proptest::option::of((-180.0f64..180.0, -90.0f64..90.0, -180.0f64..180.0, 0.0f64..90.0)),
    ) {
        let start_t = start.map(|s| Utc.timestamp_opt(s, 0).unwrap());
        let end_t = start.zip(len).map(|(s, l)| Utc.timestamp_opt(s + l, 0).unwrap());
        let g = Granule {
            granule_id: id.clone(),
            url_path: Some(id.clone()),
            ..granule(start_t, end_t, size)
        };
        let footprint = bbox.map(|(w, s, e, n)| BBox { west: w, south: s, east: e, north: (s + n).min(90.0) });
        let services = services();
        let it = item(&g, &ItemContext { root: ROOT, collection_id: "c", services: &services, footprint });
        prop_assert_eq!(&it["id"], &json!(id));
        prop_assert_eq!(&it["properties"]["datetime"], &start_t.map_or(Value::Null, |s| json!(time(s))));
        prop_assert_eq!(it["properties"].get("end_datetime").cloned(), end_t.filter(|_| start_t.is_some()).map(|e| json!(time(e))));
        prop_assert_eq!(it["geometry"].is_null(), footprint.is_none());
        prop_assert_eq!(it.get("bbox").is_some(), footprint.is_some());
        prop_assert_eq!(&it["assets"]["opendap"]["href"], &json!(format!("http://h/thredds/dodsC/{id}")));
        prop_assert_eq!(it["assets"]["data"].get("file:size").is_some(), size.is_some_and(|s| s >= 0));
        let self_href = it["links"][0]["href"].as_str().unwrap().to_owned();
        let seg = self_href.strip_prefix("http://api/stac/collections/c/items/").unwrap();
        prop_assert!(!seg.contains('/'));
        prop_assert_eq!(percent_decode(seg), id);
    }
}
