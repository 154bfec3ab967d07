//! The API over a real socket, with graceful shutdown.
#![allow(clippy::unwrap_used)]

use super::common;

use common::*;

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_cleanly() {
    let st = state(store().await, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, st, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}");
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let text = client
        .get(format!(
            "{base}/index?collection={}&start=2024-01-02&end=2024-01-03",
            enc(DAILY)
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = page["granules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sst_long.nc", "sst_20240102.nc"]);
    let text = client
        .get(format!("{base}/collections?limit=5"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hits: serde_json::Value = serde_json::from_str(&text).unwrap();
    let link = hits["collections"][0]["index"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{base}/index?collection=")),
        "{link}"
    );
    tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops after the shutdown signal")
        .unwrap()
        .unwrap();
    assert!(client.get(format!("{base}/healthz")).send().await.is_err());
}
