//! `threddex serve` with `[notify.mqtt]` against the Mosquitto at 127.0.0.1:1883: a harvest run
//! by another process is relayed, every collection and granule of it, as WIS2 messages on the
//! collections' topics. Fails under `CI=true` when the broker is not there.

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_threddex");

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_relays_a_harvest_to_mqtt() {
    if std::net::TcpStream::connect("127.0.0.1:1883").is_err() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "Mosquitto at 127.0.0.1:1883 is not available and CI=true"
        );
        eprintln!("skipped: Mosquitto at 127.0.0.1:1883 is not available");
        return;
    }
    let sim = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 2,
            days: 2,
            files_per_day: 6,
        }),
        clock: SimClock::fixed(Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap()),
        ..SimConfig::default()
    })
    .await
    .expect("start sim");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let prefix = unique("threddex-serve");
    let config = dir.path().join("threddex.toml");
    std::fs::write(
        &config,
        format!(
            "[changes]\npoll = \"50ms\"\n\n[notify.mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n\
             topic_prefix = \"{prefix}\"\nclient_id = \"{}\"\n",
            unique("relay")
        ),
    )
    .unwrap();

    // The subscriber, before anything is published.
    let mut opts = MqttOptions::new(unique("sub"), "127.0.0.1", 1883);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 64);
    client
        .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sub = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send(None);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                    let _ = tx.send(Some((p.topic.clone(), body)));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("subscribed");
    assert!(matches!(first, Some(None)), "{first:?}");

    let mut serve = tokio::process::Command::new(BIN)
        .args(["--config"])
        .arg(&config)
        .args([
            "serve",
            "--db",
            &db,
            "--bind",
            "127.0.0.1:0",
            "--no-scheduler",
        ])
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn,threddex_notify=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = serve.id().unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        let (mut base, mut connected) = (None, false);
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                base = rest.split_whitespace().next().map(str::to_owned);
            }
            // The relay has saved its cursor once it connects: later changes are relayed.
            connected |= line.contains("MQTT relay connected");
            if let (Some(b), true) = (&base, connected) {
                return b.clone();
            }
        }
        panic!("serve exited before the relay connected: {seen:?}");
    })
    .await
    .expect("serve starts its relay");
    let drain = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    });

    // Another process harvests into the same database.
    let harvest = tokio::process::Command::new(BIN)
        .args([
            "harvest",
            &sim.root_catalog_url(),
            "--db",
            &db,
            "--ignore-robots",
            "--rate",
            "1000",
        ])
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        harvest.status.success(),
        "{}",
        String::from_utf8_lossy(&harvest.stderr)
    );

    // Every collection created and every granule added arrives, on its collection's topic.
    let mut created = HashSet::new();
    let mut added: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids = HashSet::new();
    let want = sim.granule_count();
    tokio::time::timeout(Duration::from_secs(60), async {
        while added.values().sum::<u64>() < want || created.len() < 4 {
            let Some(Some((topic, m))) = rx.recv().await else {
                continue;
            };
            let c = &m["properties"]["threddex:change"];
            let id = c["collection"].as_str().unwrap().to_owned();
            assert_eq!(topic, threddex_notify::wis2::topic(&prefix, &id));
            if !ids.insert(m["id"].as_str().unwrap().to_owned()) {
                continue; // a repeat
            }
            match c["kind"].as_str().unwrap() {
                "collection.created" => {
                    created.insert(id);
                }
                "granules.added" => {
                    *added.entry(id).or_default() += c["count"].as_u64().unwrap();
                    let canonical = m["links"][0]["href"].as_str().unwrap();
                    assert!(
                        canonical.starts_with(&format!("{base}/index?collection=")),
                        "links below the listening address: {canonical}"
                    );
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("relayed: created {created:?}, added {added:?} of {want}"));
    assert_eq!(created.len(), 4, "2 products x 2 stations");
    assert_eq!(added.values().sum::<u64>(), want);
    assert_eq!(
        added.keys().collect::<HashSet<_>>(),
        created.iter().collect::<HashSet<_>>()
    );

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), serve.wait())
        .await
        .expect("serve exits promptly after SIGTERM")
        .unwrap();
    let rest = drain.await.unwrap();
    assert!(status.success(), "exit {status:?}; stderr: {rest:?}");
    sub.abort();
    sim.shutdown().await;
}
