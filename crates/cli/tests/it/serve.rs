//! `threddex serve` as a process: starts, answers over HTTP, stops cleanly on SIGTERM.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_threddex");

async fn sim() -> SimServer {
    SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 2,
            days: 2,
            files_per_day: 6,
        }),
        clock: SimClock::fixed(Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap()),
        ..SimConfig::default()
    })
    .await
    .expect("start sim")
}

fn command(args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn serve_answers_and_stops_on_sigterm() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let root = sim.root_catalog_url();
    let harvest = command(&[
        "harvest",
        &root,
        "--db",
        &db,
        "--ignore-robots",
        "--rate",
        "1000",
    ])
    .output()
    .await
    .unwrap();
    assert!(
        harvest.status.success(),
        "{}",
        String::from_utf8_lossy(&harvest.stderr)
    );

    let mut child = command(&["serve", "--db", &db, "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("serve exited before listening: {seen:?}");
    })
    .await
    .expect("serve logs its URL");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    // Keep draining stderr so the child never blocks on a full pipe.
    let drain = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    });

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) if r.status().is_success() => break,
            other => assert!(Instant::now() < deadline, "never healthy: {other:?}"),
        }
        tokio::task::yield_now().await;
    }
    let resp = client
        .get(format!("{base}/collections?q=N0Q"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let ids: Vec<&str> = body["collections"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{body}");
    assert!(ids.iter().all(|id| id.contains("N0Q")), "{ids:?}");
    let resp = client
        .get(format!(
            "{base}/index?collection={}&start=2019-08-31&end=2019-09-01",
            url::form_urlencoded::byte_serialize(ids[0].as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(page["granules"].as_array().unwrap().len(), 6, "{page}");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("serve exits promptly after SIGTERM")
        .unwrap();
    let rest = drain.await.unwrap();
    assert!(status.success(), "exit {status:?}; stderr: {rest:?}");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "nothing listens after the exit"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn serve_rejects_a_bad_bind_address() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = command(&["serve", "--db", &db, "--bind", "not-an-address"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
    let out = command(&[
        "serve",
        "--db",
        &db,
        "--bind",
        "127.0.0.1:0",
        "--refresh-deadline",
        "soon",
    ])
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a duration"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
