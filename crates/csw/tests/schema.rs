//! Every kind of response validates against the CSW 2.0.2 and ISO schemas (`shared/schemas`,
//! `validate-iso.sh --csw`, xmllint) whatever records it holds, several of them rewritten from
//! real ncISO documents (`shared/fixtures/real`); and the requests QGIS MetaSearch sends find
//! what they should. Without xmllint or the shared files the tests fail when `CI=true` and are
//! skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use threddex_store::prelude::*;

use chrono::{DateTime, Utc};
use threddex_csw::{Csw, CswConfig, ns};
use threddex_records::{Extent, SeriesInput, series_from_iso};
use threddex_store::{
    AccessService, BBox, Batch, CatalogState, CatalogStatus, CatalogViews, CollectionUpsert,
    Granule, IsoRecordUpdate, NewSource, Store, View, ViewAccess, ViewKind,
};
use threddex_store_sqlite::SqliteStore;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
}

/// The collection ID of the SST granules, as the identity rules derive it.
static SST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    threddex_ids::Deriver::new()
        .derive("sst/sst_20240101.nc", "t")
        .collection_id
});

pub const GEFS: &str = "fixtures/real/csiss-thredds-crawler/thredds.ucar.edu/thredds/iso/grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana_20181223_0000.grib2.iso.xml";
/// ncISO output of Unidata's threddsIso test grid (GML 3.2).
pub const TESTGRID: &str =
    "fixtures/real/unidata-threddsIso/tds-plugin/src/test/resources/thredds/testgrid1.iso.xml";
/// ncISO output of a PacIOOS aggregation (as pycsw's test suite holds it).
pub const PACIOOS: &str =
    "fixtures/real/pycsw/tests/functionaltests/suites/apiso/data/pacioos-NS06agg.xml";

/// Collections whose series records are rewritten from real ncISO documents, as the crawler
/// stores them: (collection ID, title, abstract, fixture).
pub const FROM_NCISO: [(&str, &str, &str, &str); 2] = [
    (
        "t:grid/testgrid",
        "Test grid",
        "A small grid for tests.",
        TESTGRID,
    ),
    (
        "t:pacioos/ns06",
        "PacIOOS nearshore sensor 06",
        "Water temperature and salinity in Pohnpei lagoon.",
        PACIOOS,
    ),
];

/// A store with five collections (one across the antimeridian, one without a box, one with a
/// stored ncISO `gmi:MI_Metadata` record as the server wrote it, two with series records
/// rewritten from two other ncISO documents) and a few granules. None (with a note) when the
/// shared fixtures are absent outside CI; with `CI=true` they are required.
pub async fn filled() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
    let real = shared().join("fixtures/real");
    if !real.is_dir() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "{} is missing (CI=true)", real.display());
        eprintln!("skipping: {} is missing", real.display());
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
        .await
        .unwrap();
    let src = store
        .add_source(&NewSource {
            name: "t".into(),
            url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let cat = "http://127.0.0.1:9/thredds/catalog/sst/catalog.xml";
    let services = vec![AccessService {
        name: "odap".into(),
        service_type: "OpenDAP".into(),
        base: "http://127.0.0.1:9/thredds/dodsC/".into(),
        suffix: String::new(),
    }];
    let coll = |id: &str, title: &str, bbox: Option<BBox>| CollectionUpsert {
        id: id.into(),
        source_id: src.id,
        title: title.into(),
        template: Some("sst_{time}.nc".into()),
        catalog_url: cat.into(),
        services: services.clone(),
        metadata: serde_json::json!({"keywords": ["sea surface temperature"], "creator": {"name": "Ocean Lab <&>"}}),
        summary: Some("Daily sea surface temperature & ice <analysis>.".into()),
        keywords: vec!["ocean".into(), "sst".into()],
        bbox,
    };
    let ncis_coll = |(id, title, summary, _): (&str, &str, &str, &str)| CollectionUpsert {
        summary: Some(summary.into()),
        keywords: Vec::new(),
        ..coll(id, title, None)
    };
    let granule = |c: &str, name: &str, start| Granule {
        collection_id: c.into(),
        granule_id: format!("sst/{name}"),
        name: name.into(),
        start: Some(start),
        end: None,
        url_path: Some(format!("sst/{name}")),
        size: Some(2_000_000),
        modified: None,
        catalog_url: cat.into(),
    };
    store
        .write_batch(&Batch {
            catalogs: vec![CatalogState {
                status: CatalogStatus::Ok,
                ..CatalogState::pending(cat, src.id, None, 0)
            }],
            collections: vec![
                coll(
                    SST.as_str(),
                    "Sea surface temperature",
                    Some(BBox {
                        west: 170.0,
                        south: -10.0,
                        east: -170.0,
                        north: 10.0,
                    }),
                ),
                coll("t:wind/hourly", "Wind", None),
                ncis_coll(FROM_NCISO[0]),
                ncis_coll(FROM_NCISO[1]),
                coll(
                    "t:gefs/ana",
                    "GEFS analysis",
                    Some(BBox {
                        west: -180.0,
                        south: -90.0,
                        east: 180.0,
                        north: 90.0,
                    }),
                ),
            ],
            granules: vec![
                granule(SST.as_str(), "sst_20240101.nc", t(0)),
                granule(SST.as_str(), "sst_20240102.nc", t(86_400)),
                granule("t:wind/hourly", "wind_20240101.nc", t(3_600)),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    store
        .refresh_collection_stats(&[SST.as_str().into(), "t:wind/hourly".into()])
        .await
        .unwrap();
    // Virtual views of the catalog listing the SST and wind granules.
    store
        .write_batch(&Batch {
            catalog_views: vec![CatalogViews {
                catalog_url: cat.into(),
                views: vec![
                    View {
                        name: "Best SST Time Series".into(),
                        kind: ViewKind::Best,
                        id: Some("sst/Best".into()),
                        url_path: Some("sst/Best".into()),
                        catalog_ref: None,
                        access: vec![ViewAccess {
                            service: "odap".into(),
                            service_type: "OPENDAP".into(),
                            url: BEST_URL.into(),
                        }],
                        start: Some(t(0)),
                        end: Some(t(86_400)),
                    },
                    View {
                        name: "Latest <SST> & co".into(),
                        kind: ViewKind::Latest,
                        id: Some("latest.xml".into()),
                        url_path: Some("latest.xml".into()),
                        catalog_ref: None,
                        access: vec![ViewAccess {
                            service: "latest".into(),
                            service_type: "Resolver".into(),
                            url: LATEST_URL.into(),
                        }],
                        start: None,
                        end: None,
                    },
                ],
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    let read =
        |f: &str| std::fs::read(shared().join(f)).unwrap_or_else(|e| panic!("fixture {f}: {e}"));
    let mut records = vec![IsoRecordUpdate {
        collection_id: "t:gefs/ana".into(),
        xml: String::from_utf8(read(GEFS)).unwrap(),
        start: None,
        end: None,
        date_stamp: t(0),
        views_version: 0,
    }];
    for c in FROM_NCISO {
        let (id, fixture) = (c.0, c.3);
        let input = SeriesInput::from_collection(&ncis_coll(c), None);
        let xml = series_from_iso(&read(fixture), &input, &Extent::default(), t(0)).unwrap();
        records.push(IsoRecordUpdate {
            collection_id: id.into(),
            xml,
            start: None,
            end: None,
            date_stamp: t(0),
            views_version: 0,
        });
    }
    store.set_iso_records(&records).await.unwrap();
    Some((Arc::new(store), dir))
}

/// The Best view's OPeNDAP URL and the latest.xml resolver of the SST catalog.
const BEST_URL: &str = "http://127.0.0.1:9/thredds/dodsC/sst/Best";
const LATEST_URL: &str = "http://127.0.0.1:9/thredds/catalog/sst/latest.xml";

/// Virtual views are `dct:references` of full Dublin Core records and online resources of
/// ISO records (here synthesised: the collection has no stored record); brief and summary
/// records carry no links.
#[tokio::test]
async fn views_are_references_of_full_records() {
    let Some((store, _dir)) = filled().await else {
        return;
    };
    let csw = Csw::new(store, CswConfig::default());
    let base = "http://127.0.0.1:8080";
    let common = "service=CSW&version=2.0.2";
    let sst = SST.as_str();
    let full = csw
        .get(
            &kvp(&format!(
                "{common}&request=GetRecordById&id={sst}&ElementSetName=full"
            )),
            base,
        )
        .await;
    assert_eq!(full.status, 200, "{}", full.body);
    assert!(
        full.body.contains(&format!(
            "<dct:references scheme=\"OPeNDAP:OPeNDAP\">{BEST_URL}</dct:references>"
        )),
        "{}",
        full.body
    );
    assert!(full.body.contains(LATEST_URL), "{}", full.body);
    let records = csw
        .get(
            &kvp(&format!(
                "{common}&request=GetRecords&resultType=results&ElementSetName=full&outputSchema={}",
                ns::GMD
            )),
            base,
        )
        .await;
    assert_eq!(records.status, 200, "{}", records.body);
    assert!(records.body.contains(BEST_URL), "{}", records.body);
    assert!(
        records
            .body
            .contains("<gco:CharacterString>Best SST Time Series</gco:CharacterString>"),
        "{}",
        records.body
    );
    assert!(records.body.contains("Latest &lt;SST&gt; &amp; co"));
    let brief = csw
        .get(
            &kvp(&format!(
                "{common}&request=GetRecordById&id={sst}&ElementSetName=summary"
            )),
            base,
        )
        .await;
    assert!(!brief.body.contains(BEST_URL), "{}", brief.body);
}

fn kvp(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%25", "%").replace('+', " ")))
        .collect()
}

/// Every XML ID (`id`, `gml:id`, `xml:id`) of a document, in document order.
fn xml_ids(doc: &str) -> Vec<String> {
    use threddex_records::tree::{TreeLimits, parse};
    let root = parse(doc.as_bytes(), &TreeLimits::default()).unwrap();
    let mut ids = Vec::new();
    root.walk(&mut |e| {
        ids.extend(
            e.attrs
                .iter()
                .filter(|a| {
                    a.local == "id"
                        && (a.ns.is_empty()
                            || a.ns.starts_with("http://www.opengis.net/gml")
                            || a.ns == "http://www.w3.org/XML/1998/namespace")
                })
                .map(|a| a.value.clone()),
        );
    });
    ids
}

/// Checks every document: IDs unique (always), and valid against the CSW 2.0.2 and ISO
/// schemas with `validate-iso.sh --csw` (xmllint). Without xmllint or the schemas the schema
/// part fails when `CI=true` and is skipped otherwise.
fn validate_all(docs: &[(String, String)]) {
    for (q, body) in docs {
        let ids = xml_ids(body);
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{q}: repeated IDs in {ids:?}");
    }
    let script = shared().join("schemas/validate-iso.sh");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let have_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if !have_xmllint || !script.exists() {
        assert!(!ci, "xmllint or {} missing", script.display());
        eprintln!("skipping schema validation: xmllint or the schemas are missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (q, body)) in docs.iter().enumerate() {
        let f = dir.path().join(format!("r{i:02}.xml"));
        std::fs::write(&f, body).unwrap();
        files.push((f, q));
    }
    let out = Command::new("bash")
        .arg(&script)
        .arg("--csw")
        .args(files.iter().map(|(f, _)| f))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        for (f, q) in &files {
            if text.contains(&format!("{} fails", f.display())) {
                eprintln!("INVALID {q}:\n{}\n", std::fs::read_to_string(f).unwrap());
            }
        }
    }
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches(" validates").count(),
        files.len(),
        "every file reported valid:\n{text}"
    );
}

#[tokio::test]
async fn every_response_validates_against_the_csw_schemas() {
    let Some((store, _dir)) = filled().await else {
        return;
    };
    let sst = SST.as_str();
    let all = [
        sst,
        "t:wind/hourly",
        "t:gefs/ana",
        FROM_NCISO[0].0,
        FROM_NCISO[1].0,
    ]
    .join(",");
    let csw = Csw::new(store, CswConfig::default());
    let base = "http://127.0.0.1:8080";
    let common = "service=CSW&version=2.0.2";
    let mut docs: Vec<(String, String)> = Vec::new();
    let gets = [
        "service=CSW&request=GetCapabilities".to_owned(),
        format!("{common}&request=DescribeRecord"),
        format!("{common}&request=DescribeRecord&typeName=gmd:MD_Metadata"),
        format!("{common}&request=GetDomain&PropertyName=dc:type"),
        format!("{common}&request=GetDomain&PropertyName=apiso:TempExtent_begin"),
        format!("{common}&request=GetDomain&PropertyName=dc:title"),
        format!("{common}&request=GetDomain&ParameterName=GetRecords.outputSchema"),
        format!("{common}&request=GetRecords&resultType=hits"),
        format!("{common}&request=GetRecords&resultType=results&ElementSetName=brief"),
        format!(
            "{common}&request=GetRecords&resultType=results&ElementSetName=summary&maxRecords=2"
        ),
        format!("{common}&request=GetRecords&resultType=results&ElementSetName=full"),
        format!(
            "{common}&request=GetRecords&resultType=results&ElementName=dc:title,dc:identifier,ows:BoundingBox,dct:modified,dc:subject,dct:abstract,dc:type"
        ),
        format!(
            "{common}&request=GetRecords&resultType=results&ElementSetName=full&outputSchema={}",
            ns::GMD
        ),
        format!(
            "{common}&request=GetRecords&resultType=results&ElementSetName=brief&outputSchema={}&constraintLanguage=CQL_TEXT&constraint=csw:AnyText+LIKE+'%25sea%25'&requestId=r-1",
            ns::GMD
        ),
        format!(
            "{common}&request=GetRecords&resultType=results&ElementSetName=summary&outputSchema={}",
            ns::GMD
        ),
        format!(
            "{common}&request=GetRecords&resultType=results&ElementSetName=brief&outputSchema={}&maxRecords=3&startPosition=3",
            ns::GMD
        ),
        format!("{common}&request=GetRecordById&id={sst},t:wind/hourly&ElementSetName=full"),
        format!("{common}&request=GetRecordById&id={all}&ElementSetName=full"),
        format!("{common}&request=GetRecordById&id={all}&ElementSetName=summary"),
        format!(
            "{common}&request=GetRecordById&id={all},t:gefs/ana,sst/sst_20240102.nc&outputSchema={}",
            ns::GMD
        ),
        format!("{common}&request=GetRecordById&id={sst}&ElementSetName=brief"),
        format!(
            "{common}&request=GetRecordById&id=t:gefs/ana&outputSchema={}",
            ns::GMD
        ),
        format!(
            "{common}&request=GetRecordById&id={sst}&outputSchema={}",
            ns::GMD
        ),
        format!(
            "{common}&request=GetRecordById&id=sst/sst_20240102.nc&outputSchema={}",
            ns::GMD
        ),
        format!("{common}&request=GetRecordById&id=sst/sst_20240102.nc&ElementSetName=full"),
        format!("{common}&request=GetRecordById&id=no-such-id"),
    ];
    for q in &gets {
        let r = csw.get(&kvp(q), base).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        docs.push((q.clone(), r.body));
    }
    // Dublin Core records carry the collection; the ISO ones the converted gmi record.
    let full = &docs
        .iter()
        .find(|(q, _)| q.contains("id=t:gefs/ana"))
        .unwrap()
        .1;
    assert!(
        full.contains("<gmd:MD_Metadata") && !full.contains("MI_Metadata"),
        "gmi converted"
    );
    let granule = &docs
        .iter()
        .find(|(q, _)| q.contains("sst_20240102.nc&outputSchema"))
        .unwrap()
        .1;
    assert!(granule.contains("sst/sst_20240102.nc"), "{granule}");
    // The ISO answers hold several records, three of them from ncISO documents (which all
    // carry id="DataIdentification"), each with its IDs suffixed by its position.
    let whole_iso = docs.iter().filter(|(q, _)| {
        (q.contains("request=GetRecords&resultType=results&ElementSetName=")
            && q.ends_with(ns::GMD))
            || q.contains(&format!("id={all},"))
    });
    assert_eq!(whole_iso.clone().count(), 3);
    for (q, body) in whole_iso {
        assert!(body.matches("<gmd:MD_Metadata").count() >= 5, "{q}: {body}");
        assert!(
            body.matches("id=\"DataIdentification-r").count() >= 3,
            "{q}: {body}"
        );
    }
    let post = format!(
        r#"<?xml version="1.0"?>
<csw:GetRecords xmlns:csw="{csw}" xmlns:ogc="{ogc}" xmlns:gml="{gml}" service="CSW" version="2.0.2"
  resultType="results" maxRecords="5" outputSchema="{csw}">
  <csw:Query typeNames="csw:Record">
    <csw:ElementSetName>summary</csw:ElementSetName>
    <csw:Constraint version="1.1.0"><ogc:Filter><ogc:And>
      <ogc:PropertyIsLike wildCard="*" singleChar="?" escapeChar="!"><ogc:PropertyName>csw:AnyText</ogc:PropertyName><ogc:Literal>*temperature*</ogc:Literal></ogc:PropertyIsLike>
      <ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope><gml:lowerCorner>175 -5</gml:lowerCorner><gml:upperCorner>179 5</gml:upperCorner></gml:Envelope></ogc:BBOX>
    </ogc:And></ogc:Filter></csw:Constraint>
    <ogc:SortBy><ogc:SortProperty><ogc:PropertyName>dc:title</ogc:PropertyName><ogc:SortOrder>DESC</ogc:SortOrder></ogc:SortProperty></ogc:SortBy>
  </csw:Query>
</csw:GetRecords>"#,
        csw = ns::CSW,
        ogc = ns::OGC,
        gml = ns::GML
    );
    let r = csw.post(post.as_bytes(), base).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("numberOfRecordsMatched=\"2\""),
        "{}",
        r.body
    );
    assert!(r.body.contains(SST.as_str()));
    docs.push(("POST GetRecords".into(), r.body));
    for bad in [
        format!("{common}&request=GetRecords&outputSchema=urn:x"),
        "service=CSW&request=Transaction".to_owned(),
        format!("{common}&request=GetRecordById"),
    ] {
        let r = csw.get(&kvp(&bad), base).await;
        assert_eq!(r.status, 400, "{bad}");
        docs.push((bad, r.body));
    }

    validate_all(&docs);
}

/// A `GetRecords` body exactly as OWSLib 0.35.0's `getrecords2` writes it (QGIS MetaSearch's
/// client): its namespace declarations, attributes and `csw:Query`, around `filter`.
fn owslib_get_records(filter: &str, output_schema: &str) -> String {
    const NAMESPACES: &str = r#"xmlns:atom="http://www.w3.org/2005/Atom" xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:csw30="http://www.opengis.net/cat/csw/3.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dct="http://purl.org/dc/terms/" xmlns:dif="http://gcmd.gsfc.nasa.gov/Aboutus/xml/dif/" xmlns:draw="gov.usgs.cida.gdp.draw" xmlns:fes="http://www.opengis.net/fes/2.0" xmlns:fgdc="http://www.opengis.net/cat/csw/csdgm" xmlns:gco="http://www.isotc211.org/2005/gco" xmlns:gfc="http://www.isotc211.org/2005/gfc" xmlns:gm03="http://www.interlis.ch/INTERLIS2.3" xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gmi="http://www.isotc211.org/2005/gmi" xmlns:gml="http://www.opengis.net/gml" xmlns:gml311="http://www.opengis.net/gml" xmlns:gml32="http://www.opengis.net/gml/3.2" xmlns:gmx="http://www.isotc211.org/2005/gmx" xmlns:gts="http://www.isotc211.org/2005/gts" xmlns:ogc="http://www.opengis.net/ogc" xmlns:om="http://www.opengis.net/om/1.0" xmlns:om10="http://www.opengis.net/om/1.0" xmlns:om100="http://www.opengis.net/om/1.0" xmlns:om20="http://www.opengis.net/om/2.0" xmlns:ows="http://www.opengis.net/ows" xmlns:ows100="http://www.opengis.net/ows" xmlns:ows110="http://www.opengis.net/ows/1.1" xmlns:ows200="http://www.opengis.net/ows/2.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:sa="http://www.opengis.net/sampling/1.0" xmlns:sml="http://www.opengis.net/sensorML/1.0.1" xmlns:sml101="http://www.opengis.net/sensorML/1.0.1" xmlns:sos="http://www.opengis.net/sos/1.0" xmlns:sos20="http://www.opengis.net/sos/2.0" xmlns:srv="http://www.isotc211.org/2005/srv" xmlns:swe="http://www.opengis.net/swe/1.0.1" xmlns:swe10="http://www.opengis.net/swe/1.0" xmlns:swe101="http://www.opengis.net/swe/1.0.1" xmlns:swe20="http://www.opengis.net/swe/2.0" xmlns:swes="http://www.opengis.net/swes/2.0" xmlns:tml="ttp://www.opengis.net/tml" xmlns:wfs="http://www.opengis.net/wfs" xmlns:wfs20="http://www.opengis.net/wfs/2.0" xmlns:wcs="http://www.opengis.net/wcs" xmlns:wms="http://www.opengis.net/wms" xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:wps100="http://www.opengis.net/wps/1.0.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xs2="http://www.w3.org/XML/Schema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:wml2="http://www.opengis.net/waterml/2.0""#;
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"no\"?>\n<csw:GetRecords {NAMESPACES} \
         outputSchema=\"{output_schema}\" outputFormat=\"application/xml\" version=\"2.0.2\" service=\"CSW\" \
         resultType=\"results\" startPosition=\"1\" maxRecords=\"10\" \
         xsi:schemaLocation=\"http://www.opengis.net/cat/csw/2.0.2 http://schemas.opengis.net/csw/2.0.2/CSW-discovery.xsd\">\
         <csw:Query typeNames=\"csw:Record\"><csw:ElementSetName>full</csw:ElementSetName>\
         <csw:Constraint version=\"1.1.0\"><ogc:Filter>{filter}</ogc:Filter></csw:Constraint></csw:Query></csw:GetRecords>"
    )
}

/// OWSLib's `fes.PropertyIsLike('csw:AnyText', text)`: the text as typed, no wildcards.
fn owslib_keywords(text: &str) -> String {
    format!(
        "<ogc:PropertyIsLike wildCard=\"%\" singleChar=\"_\" escapeChar=\"\\\"><ogc:PropertyName>csw:AnyText</ogc:PropertyName><ogc:Literal>{text}</ogc:Literal></ogc:PropertyIsLike>"
    )
}

/// OWSLib's `fes.BBox([miny, minx, maxy, maxx], crs='urn:ogc:def:crs:EPSG::4326')` as MetaSearch
/// builds it from the map extent (strings, latitude first).
fn owslib_bbox(minx: &str, miny: &str, maxx: &str, maxy: &str) -> String {
    format!(
        "<ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope srsName=\"urn:ogc:def:crs:EPSG::4326\"><gml:lowerCorner>{miny} {minx}</gml:lowerCorner><gml:upperCorner>{maxy} {maxx}</gml:upperCorner></gml:Envelope></ogc:BBOX>"
    )
}

/// `numberOfRecordsMatched` and the identifiers of the records of an answer (Dublin Core
/// `dc:identifier` or ISO `gmd:fileIdentifier`), in order.
fn matched_and_ids(doc: &str) -> (u64, Vec<String>) {
    use threddex_records::tree::{TreeLimits, parse};
    let root = parse(doc.as_bytes(), &TreeLimits::default()).unwrap();
    let mut matched = None;
    let mut ids = Vec::new();
    root.walk(&mut |e| {
        if e.local == "SearchResults" {
            matched = e
                .attrs
                .iter()
                .find(|a| a.local == "numberOfRecordsMatched")
                .and_then(|a| a.value.parse().ok());
        }
        if (e.ns == ns::DC && e.local == "identifier")
            || (e.ns == ns::GMD && e.local == "fileIdentifier")
        {
            ids.push(e.text().trim().to_owned());
        }
    });
    (matched.unwrap_or(u64::MAX), ids)
}

/// What QGIS MetaSearch sends (OWSLib 0.35.0 bodies, byte for byte): a keyword typed without
/// wildcards, the map extent as an EPSG:4326 box in latitude/longitude order, both together
/// (`ogc:And`), then `GetRecordById` of a result. Keywords match records containing every
/// word in any case; every answer holds several records and validates.
#[tokio::test]
async fn qgis_metasearch_requests_find_records_and_validate() {
    let Some((store, _dir)) = filled().await else {
        return;
    };
    let sst = SST.as_str();
    let (grid, pacioos) = (FROM_NCISO[0].0, FROM_NCISO[1].0);
    let csw = Csw::new(store, CswConfig::default());
    let base = "http://127.0.0.1:8080";
    // Map extent 160..180 E, 20 S..20 N: the antimeridian box of SST and the global GEFS box.
    let bbox = owslib_bbox("160", "-20", "180", "20");
    let and = |a: &str, b: &str| format!("<ogc:And>{a}{b}</ogc:And>");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            owslib_keywords("Sea temperature"),
            vec![sst, "t:wind/hourly", "t:gefs/ana"],
        ),
        (
            owslib_keywords("sea"),
            vec![sst, "t:wind/hourly", "t:gefs/ana"],
        ),
        (owslib_keywords("TEMPERATURE pohnpei"), vec![pacioos]),
        (
            owslib_keywords("temperature"),
            vec![sst, "t:wind/hourly", "t:gefs/ana", pacioos],
        ),
        (owslib_keywords("grid"), vec![grid]),
        (owslib_keywords("lagoon sea"), vec![]),
        (bbox.clone(), vec![sst, "t:gefs/ana"]),
        (
            and(&bbox, &owslib_keywords("Sea temperature")),
            vec![sst, "t:gefs/ana"],
        ),
        (and(&bbox, &owslib_keywords("GEFS")), vec!["t:gefs/ana"]),
        (and(&bbox, &owslib_keywords("pohnpei")), vec![]),
    ];
    let mut docs = Vec::new();
    for (filter, want) in &cases {
        for schema in [ns::CSW, ns::GMD] {
            let body = owslib_get_records(filter, schema);
            let r = csw.post(body.as_bytes(), base).await;
            assert_eq!(r.status, 200, "{filter}: {}", r.body);
            let (matched, mut ids) = matched_and_ids(&r.body);
            assert_eq!(matched, want.len() as u64, "{filter} ({schema})");
            if schema == ns::CSW {
                ids.sort();
                let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
                want.sort();
                assert_eq!(ids, want, "{filter}");
            } else {
                // (GEFS's record is stored as the server wrote it, its own fileIdentifier.)
                assert_eq!(ids.len(), want.len(), "{filter} (ISO)");
            }
            docs.push((format!("POST {filter} ({schema})"), r.body));
        }
    }
    // The chosen record, as OWSLib's getrecordbyid([id]) asks for it (KVP).
    for id in [sst, pacioos, grid] {
        let pairs: Vec<(String, String)> = [
            ("service", "CSW"),
            ("version", "2.0.2"),
            ("request", "GetRecordById"),
            ("outputFormat", "application/xml"),
            ("outputSchema", ns::CSW),
            ("elementsetname", "full"),
            ("id", id),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let r = csw.get(&pairs, base).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        assert_eq!(matched_and_ids(&r.body).1, [id], "{}", r.body);
        docs.push((format!("GetRecordById {id}"), r.body));
    }
    validate_all(&docs);
}
