//! Every kind of response validates against the CSW 2.0.2 schemas (`shared/schemas`,
//! `validate-iso.sh --csw`, xmllint). Without xmllint the test fails when `CI=true` and is
//! skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use threddex_csw::{Csw, CswConfig, ns};
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

/// A store with three collections (one across the antimeridian, one without a box, one with a
/// stored ncISO `gmi:MI_Metadata` record) and a few granules.
pub async fn filled() -> (Arc<dyn Store>, tempfile::TempDir) {
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
    if let Ok(xml) = std::fs::read_to_string(shared().join(GEFS)) {
        store
            .set_iso_records(&[IsoRecordUpdate {
                collection_id: "t:gefs/ana".into(),
                xml,
                start: None,
                end: None,
                date_stamp: t(0),
                views_version: 0,
            }])
            .await
            .unwrap();
    }
    (Arc::new(store), dir)
}

/// The Best view's OPeNDAP URL and the latest.xml resolver of the SST catalog.
const BEST_URL: &str = "http://127.0.0.1:9/thredds/dodsC/sst/Best";
const LATEST_URL: &str = "http://127.0.0.1:9/thredds/catalog/sst/latest.xml";

/// Virtual views are `dct:references` of full Dublin Core records and online resources of
/// ISO records (here synthesised: the collection has no stored record); brief and summary
/// records carry no links.
#[tokio::test]
async fn views_are_references_of_full_records() {
    let (store, _dir) = filled().await;
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

#[tokio::test]
async fn every_response_validates_against_the_csw_schemas() {
    let script = shared().join("schemas/validate-iso.sh");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let have_xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if !have_xmllint || !script.exists() {
        assert!(!ci, "xmllint or {} missing", script.display());
        eprintln!("skipping schema validation: xmllint or the schemas are missing");
        return;
    }
    let (store, _dir) = filled().await;
    let sst = SST.as_str();
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
        format!("{common}&request=GetRecordById&id={sst},t:wind/hourly&ElementSetName=full"),
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
