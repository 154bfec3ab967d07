//! `/csw` through the router: KVP and XML requests on both backends, exception reports with
//! their HTTP statuses, and hostile bodies rejected before parsing.
#![allow(clippy::unwrap_used)]

use super::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use threddex_api::router;
use tower::ServiceExt;

async fn post(state: &threddex_api::AppState, body: Vec<u8>) -> (StatusCode, String) {
    let req = Request::builder()
        .method("POST")
        .uri("/csw")
        .header("host", "api.test")
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/xml"), "{ct}");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get_xml(state: &threddex_api::AppState, uri: &str) -> (StatusCode, String) {
    let (status, headers, body) = get(state, uri).await;
    let ct = headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/xml"), "{uri}: {ct}");
    (status, String::from_utf8(body).unwrap())
}

macro_rules! both {
    ($($name:ident),*) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(super::Backend::Postgres).await } )* }
    };
}

both!(kvp_and_xml_requests, exceptions_and_hostile_bodies);

async fn kvp_and_xml_requests(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let (status, caps) = get_xml(&st, "/csw?service=CSW&request=GetCapabilities").await;
    assert_eq!(status, StatusCode::OK);
    assert!(caps.contains("<csw:Capabilities"));
    assert!(
        caps.contains("xlink:href=\"http://api.test/csw\""),
        "DCP URL from Host"
    );

    let q = format!(
        "/csw?service=CSW&version=2.0.2&request=GetRecords&resultType=results&ElementSetName=brief&constraintLanguage=CQL_TEXT&constraint={}",
        enc(&format!("dc:identifier = '{DAILY}'"))
    );
    let (status, body) = get_xml(&st, &q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("numberOfRecordsMatched=\"1\""), "{body}");
    assert!(body.contains(&format!("<dc:identifier>{DAILY}</dc:identifier>")));

    let xml = String::from(
        r#"<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc"
            service="CSW" version="2.0.2" resultType="results" maxRecords="1">
          <csw:Query typeNames="csw:Record"><csw:ElementSetName>summary</csw:ElementSetName>
            <csw:Constraint version="1.1.0"><ogc:Filter><ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\">
              <ogc:PropertyName>dc:identifier</ogc:PropertyName><ogc:Literal>test:%</ogc:Literal>
            </ogc:PropertyIsLike></ogc:Filter></csw:Constraint>
            <ogc:SortBy><ogc:SortProperty><ogc:PropertyName>dc:identifier</ogc:PropertyName><ogc:SortOrder>DESC</ogc:SortOrder></ogc:SortProperty></ogc:SortBy>
          </csw:Query></csw:GetRecords>"#,
    );
    let (status, body) = post(&st, xml.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("numberOfRecordsMatched=\"2\""), "{body}");
    assert!(body.contains("numberOfRecordsReturned=\"1\""), "{body}");
    assert!(body.contains("nextRecord=\"2\""), "{body}");
    assert!(
        body.contains(&format!("<dc:identifier>{OTHER}</dc:identifier>")),
        "DESC first"
    );

    let (status, body) = get_xml(
        &st,
        &format!(
            "/csw?service=CSW&version=2.0.2&request=GetRecordById&outputSchema={}&id={}",
            enc("http://www.isotc211.org/2005/gmd"),
            enc(DAILY)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<gmd:MD_Metadata"), "{body}");
}

async fn exceptions_and_hostile_bodies(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let (status, body) = get_xml(&st, "/csw?service=CSW").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("exceptionCode=\"MissingParameterValue\"")
            && body.contains("locator=\"request\"")
    );
    let (status, body) = get_xml(&st, "/csw?service=CSW&version=2.0.2&request=Harvest").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("OperationNotSupported"), "{body}");
    let (status, body) = get_xml(
        &st,
        "/csw?service=CSW&version=2.0.2&request=GetRecords&constraintLanguage=CQL_TEXT&constraint=dc:title%20%3D",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("InvalidParameterValue") && body.contains("locator=\"Constraint\""));

    // Oversized: refused before parsing, as an exception report.
    let mut big = b"<csw:GetRecords xmlns:csw=\"http://www.opengis.net/cat/csw/2.0.2\">".to_vec();
    big.resize(2 * 1024 * 1024, b' ');
    let (status, body) = post(&st, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("ows:ExceptionReport"), "{body}");
    // Entity expansion, unparseable, empty.
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><csw:GetCapabilities xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW">&b;</csw:GetCapabilities>"#;
    for body in [
        bomb.to_vec(),
        b"<csw:GetRecords".to_vec(),
        Vec::new(),
        vec![0xff; 100],
    ] {
        let (status, text) = post(&st, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert!(
            text.contains("NoApplicableCode") || text.contains("OperationNotSupported"),
            "{text}"
        );
    }
    // A valid POST still works afterwards.
    let (status, _) = post(
        &st,
        br#"<csw:GetCapabilities xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW"/>"#
            .to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
