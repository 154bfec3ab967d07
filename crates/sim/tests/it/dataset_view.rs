//! `catalog.xml?dataset=ID`: the single-dataset view (what `thredds_crawler` asks per dataset).
#![allow(clippy::unwrap_used)]

use threddex_sim::*;

const DAY: &str = "/thredds/catalog/nexrad/level3/N0Q/FTG/20240108/catalog.xml";

#[tokio::test]
async fn dataset_query_returns_that_dataset_only() {
    let s = SimServer::start(SimConfig::default()).await.unwrap();
    let c = reqwest::Client::new();
    let full = c
        .get(format!("{}{DAY}", s.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let leaves = full.matches(" urlPath=\"").count();
    assert!(leaves > 1, "the day catalog lists several datasets");

    // The last leaf, asked by ID with the slashes percent-encoded (as a client may send it).
    let id_start = full.rfind(" ID=\"").unwrap() + " ID=\"".len();
    let id = &full[id_start..id_start + full[id_start..].find('"').unwrap()];
    let r = c
        .get(format!(
            "{}{DAY}?dataset={}",
            s.base_url(),
            id.replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let one = r.text().await.unwrap();
    assert_eq!(one.matches("<dataset ").count(), 1, "{one}");
    assert!(one.contains(&format!(" ID=\"{id}\"")), "{one}");
    assert!(
        one.contains("<serviceName>"),
        "inherited metadata kept: {one}"
    );
    assert!(
        one.contains("serviceType=\"Compound\""),
        "services kept: {one}"
    );
    assert!(one.trim_end().ends_with("</catalog>"));

    // An unknown ID falls back to the whole catalog (the query is otherwise ignored).
    let other = c
        .get(format!("{}{DAY}?dataset=nope", s.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(other.matches(" urlPath=\"").count(), leaves);
    s.shutdown().await;
}
