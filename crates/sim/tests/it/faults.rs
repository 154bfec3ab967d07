//! Fault injection behaviour.
#![allow(clippy::unwrap_used)]

use super::common;

use std::time::Duration;

use common::{get, parse};
use threddex_sim::*;

const DAY: &str = "/thredds/catalog/nexrad/level3/N0Q/FTG/20240108/catalog.xml";
const STATION: &str = "/thredds/catalog/nexrad/level3/N0Q/FTG/catalog.xml";

async fn server(faults: Vec<FaultRule>) -> SimServer {
    SimServer::start(SimConfig {
        faults,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn status_and_retry_after() {
    let s = server(vec![
        FaultRule::times("/N0Q/FTG/20240108/", Fault::Status(500), 2),
        FaultRule::always(
            "/N0Q/FTG/20240107/",
            Fault::TooMany {
                retry_after_secs: 7,
            },
        ),
        FaultRule::always(
            "/N0U/",
            Fault::Unavailable {
                retry_after_secs: 3,
            },
        ),
        FaultRule::always("/N0Q/TLX/", Fault::Status(404)),
    ])
    .await;
    let url = format!("{}{DAY}", s.base_url());
    assert_eq!(get(&url).await.status(), 500);
    assert_eq!(get(&url).await.status(), 500);
    let ok = get(&url).await;
    assert_eq!(ok.status(), 200, "times = 2 exhausted");
    parse(&ok.text().await.unwrap()).unwrap();
    assert_eq!(s.counters().for_path(DAY), 3);

    let r = get(&format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/FTG/20240107/catalog.xml",
        s.base_url()
    ))
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let r = get(&format!(
        "{}/thredds/catalog/nexrad/level3/N0U/catalog.xml",
        s.base_url()
    ))
    .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    let r = get(&format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/TLX/catalog.xml",
        s.base_url()
    ))
    .await;
    assert_eq!(r.status(), 404);
    s.shutdown().await;
}

#[tokio::test]
async fn html_truncated_malformed_cycle() {
    let s = server(vec![
        FaultRule::always("/N0Q/FTG/20240108/", Fault::HtmlErrorPage),
        FaultRule::always("/N0Q/FTG/20240107/", Fault::Truncated),
        FaultRule::always("/N0U/FTG/20240108/", Fault::Malformed),
        FaultRule::always("/N0U/FTG/catalog.xml", Fault::Cycle),
    ])
    .await;
    let b = s.base_url();
    let r = get(&format!("{b}{DAY}")).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("<html>") && !body.contains("<catalog"));

    let full = get(&format!(
        "{b}/thredds/catalog/nexrad/level3/N0U/FTG/20240107/catalog.xml"
    ))
    .await
    .text()
    .await
    .unwrap();
    let cut = get(&format!(
        "{b}/thredds/catalog/nexrad/level3/N0Q/FTG/20240107/catalog.xml"
    ))
    .await
    .text()
    .await
    .unwrap();
    assert!(parse(&full).is_ok());
    assert!(cut.len() < full.len() * 3 / 4 && cut.len() > full.len() / 3);
    assert!(parse(&cut).is_err(), "truncated XML must not parse");

    let bad = get(&format!(
        "{b}/thredds/catalog/nexrad/level3/N0U/FTG/20240108/catalog.xml"
    ))
    .await
    .text()
    .await
    .unwrap();
    assert!(parse(&bad).is_err(), "malformed XML must not parse");

    let cyc = get(&format!(
        "{b}/thredds/catalog/nexrad/level3/N0U/FTG/catalog.xml"
    ))
    .await
    .text()
    .await
    .unwrap();
    let p = parse(&cyc).unwrap();
    assert!(
        p.refs.iter().any(|r| r == "/thredds/catalog.xml"),
        "{:?}",
        p.refs
    );
    assert!(p.refs.iter().any(|r| r == "20240108/catalog.xml"));
    s.shutdown().await;
}

#[tokio::test]
async fn redirect_chain_ends_at_real_path() {
    let s = server(vec![FaultRule::always(
        STATION,
        Fault::Redirect { hops: 3 },
    )])
    .await;
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = format!("{}{STATION}", s.base_url());
    let mut hops = 0;
    loop {
        let r = no_follow.get(&url).send().await.unwrap();
        if r.status() == 302 {
            hops += 1;
            let loc = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(hops == 3 || loc.starts_with("/redirect/"), "{loc}");
            url = format!("{}{loc}", s.base_url());
            assert!(hops <= 3, "too many hops");
        } else {
            assert_eq!(r.status(), 200);
            parse(&r.text().await.unwrap()).unwrap();
            break;
        }
    }
    assert_eq!(hops, 3);
    assert!(url.ends_with(STATION));
    // A following client gets there too, and the rule still applies afterwards.
    let r = get(&format!("{}{STATION}", s.base_url())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().path(), STATION);
    assert_eq!(s.counters().for_path(STATION), 4);
    assert_eq!(s.counters().matching("/redirect/"), 4);
    s.shutdown().await;
}

#[tokio::test]
async fn slow_body_triggers_read_timeout_and_delay() {
    let s = server(vec![
        FaultRule::always(
            "/N0Q/FTG/20240108/",
            Fault::SlowBody {
                delay: Duration::from_millis(300),
            },
        ),
        FaultRule::times(STATION, Fault::Delay(Duration::from_millis(300)), 1),
    ])
    .await;
    let client = reqwest::Client::builder()
        .read_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let r = client
        .get(format!("{}{DAY}", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "headers arrive promptly");
    assert!(r.text().await.is_err(), "body read times out");

    let patient = reqwest::Client::new();
    let body = patient
        .get(format!("{}{DAY}", s.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse(&body).unwrap();

    let err = client
        .get(format!("{}{STATION}", s.base_url()))
        .send()
        .await;
    assert!(err.is_err(), "delayed response times out");
    let ok = client
        .get(format!("{}{STATION}", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "Delay was limited to one request");
    s.shutdown().await;
}

#[tokio::test]
async fn faults_can_be_replaced_at_runtime() {
    let s = server(vec![FaultRule::always("catalog", Fault::Status(502))]).await;
    assert_eq!(get(&s.root_catalog_url()).await.status(), 502);
    s.set_faults(Vec::new());
    assert_eq!(get(&s.root_catalog_url()).await.status(), 200);
    s.shutdown().await;
}

#[tokio::test]
async fn redirect_loop_never_ends() {
    let s = server(vec![FaultRule::always(STATION, Fault::RedirectLoop)]).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = format!("{}{STATION}", s.base_url());
    for hop in 0..6 {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 302, "hop {hop}");
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        let want = if hop % 2 == 0 {
            format!("/loop{STATION}")
        } else {
            STATION.to_owned()
        };
        assert_eq!(loc, want, "hop {hop}");
        url = format!("{}{loc}", s.base_url());
    }
    // A client that follows redirects gives up.
    let follows = reqwest::Client::builder().no_proxy().build().unwrap();
    let err = follows
        .get(format!("{}{STATION}", s.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
}

#[tokio::test]
async fn reset_drops_the_connection_mid_body() {
    let s = server(vec![FaultRule::times(DAY, Fault::Reset, 1)]).await;
    let url = format!("{}{DAY}", s.base_url());
    // Cut off: the request fails, whether before or after the client saw the headers.
    let cut = match reqwest::get(&url).await {
        Ok(r) => r.bytes().await.is_err(),
        Err(e) => e.is_request() || e.is_body(),
    };
    assert!(cut, "the response is cut off");
    let ok = get(&url).await;
    parse(&ok.text().await.unwrap()).unwrap();
}
