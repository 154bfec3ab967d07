use std::collections::{BTreeSet, HashSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use threddex_notify::{MqttConfig, MqttRelay, wis2};
use threddex_store::prelude::*;
use threddex_store::testsuite::{collection, fetched, granule, new_source, t};
use threddex_store::{Batch, ChangeQuery};
use threddex_store_sqlite::SqliteStore;
use tokio::sync::{mpsc, watch};

const SYSTEM_BROKER: &str = "127.0.0.1:1883";
const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const CAT: &str = "http://127.0.0.1/relay/catalog.xml";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the test can run: true when `ok`; false (skip, with a note) outside CI; a failure
/// under CI.
fn available(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(!in_ci(), "{what} is not available and CI=true");
        eprintln!("skipped: {what} is not available");
    }
    ok
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{nanos}", std::process::id())
}

async fn store(dir: &Path) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.join("relay.db").display());
    let s = SqliteStore::connect(&url).await.expect("open the store");
    let s: Arc<dyn Store> = Arc::new(s);
    let src = s
        .add_source(&new_source("relay", CAT))
        .await
        .expect("source");
    assert!(src.id > 0);
    s
}

/// Add granule `n` to collection `id` (one transaction: one `granules.added` entry, and a
/// `collection.created` the first time).
async fn add_granule(store: &dyn Store, id: &str, n: i64) {
    let src = store
        .source_by_name("relay")
        .await
        .expect("source")
        .expect("registered")
        .id;
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(CAT, src, None, 0)],
            collections: vec![collection(id, src, CAT)],
            granules: vec![granule(id, &format!("{id}/g{n}.nc"), CAT, Some(t(n * 60)))],
            ..Batch::default()
        })
        .await
        .expect("write");
}

/// Every entry after `after` as `(seq, collection)`.
async fn log_after(store: &dyn Store, after: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = store
            .changes(&ChangeQuery {
                after: cursor,
                ..ChangeQuery::default()
            })
            .await
            .expect("changes");
        if page.changes.is_empty() {
            return out;
        }
        cursor = page.next;
        out.extend(page.changes.into_iter().map(|c| (c.seq, c.collection_id)));
    }
}

/// A message as the subscriber got it.
#[derive(Debug)]
struct Received {
    topic: String,
    body: Value,
}

impl Received {
    fn seq(&self) -> i64 {
        self.body["properties"]["threddex:change"]["seq"]
            .as_i64()
            .unwrap_or_else(|| panic!("no seq in {}", self.body))
    }
}

/// A QoS 1 subscriber to `topics` on `port`, forwarding every message; it keeps polling (so
/// reconnecting) until dropped. `persistent`: a session the broker keeps (clean session off).
/// Returns once subscribed.
async fn subscriber(
    port: u16,
    topics: Vec<String>,
    persistent: bool,
) -> (
    mpsc::UnboundedReceiver<Received>,
    tokio::task::JoinHandle<()>,
) {
    let mut opts = MqttOptions::new(unique("sub"), "127.0.0.1", port);
    opts.set_clean_session(!persistent);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, mut subscribed) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for t in &topics {
                        client
                            .subscribe(t.clone(), QoS::AtLeastOnce)
                            .await
                            .expect("subscribe");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = subscribed_tx.send(true);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let body: Value = serde_json::from_slice(&p.payload).expect("JSON message");
                    let _ = tx.send(Received {
                        topic: p.topic.clone(),
                        body,
                    });
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed.wait_for(|s| *s))
        .await
        .expect("subscribed in time")
        .expect("subscriber running");
    (rx, task)
}

/// Receive until every position of `want` arrived; returns everything received, in order.
async fn receive_all(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    want: &BTreeSet<i64>,
    within: Duration,
) -> Vec<Received> {
    let mut got = Vec::new();
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + within;
    while !want.iter().all(|s| seen.contains(s)) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                seen.insert(m.seq());
                got.push(m);
            }
            _ => {
                let missing: Vec<_> = want.iter().filter(|s| !seen.contains(s)).collect();
                panic!("missing positions {missing:?} after {within:?}");
            }
        }
    }
    got
}

/// The positions in order of first arrival (repeats after a reconnection dropped).
fn first_arrivals(got: &[Received]) -> Vec<i64> {
    let mut seen = HashSet::new();
    got.iter()
        .map(Received::seq)
        .filter(|s| seen.insert(*s))
        .collect()
}

fn relay_config(port: u16, prefix: &str, in_flight: u16) -> MqttConfig {
    MqttConfig {
        topic_prefix: prefix.into(),
        client_id: unique("relay"),
        max_in_flight: in_flight,
        ..MqttConfig::new(format!("mqtt://127.0.0.1:{port}"))
    }
}

/// Start the relay; returns once its cursor is saved (so later writes are relayed).
async fn start_relay(
    store: &Arc<dyn Store>,
    config: &MqttConfig,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>, i64) {
    let relay = MqttRelay::new(
        Arc::clone(store),
        config.clone(),
        "http://127.0.0.1:8080/api",
        Duration::from_millis(20),
    )
    .expect("relay");
    let (stop_tx, mut stop) = watch::channel(false);
    let task = tokio::spawn(relay.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let name = config.cursor_name();
    let start = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(c) = store.relay_cursor(&name).await.expect("cursor") {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the relay saves its cursor");
    (stop_tx, task, start)
}

/// Every change of the subscribed collections arrives, in log order, on its collection's
/// topic, as a WIS2 notification message; other collections' messages do not; the relay's
/// cursor reaches the head once the broker acknowledged everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_every_change_in_order() {
    if !available(
        TcpStream::connect(SYSTEM_BROKER).is_ok(),
        "Mosquitto at 127.0.0.1:1883",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let prefix = unique("threddex-test");
    let ids = [
        "edu.test:radar/N0Q+a b/#1",
        "edu.test:sat/x",
        "edu.test:other",
    ];
    // Collections exist before the relay starts (their creation is not relayed).
    for (i, id) in ids.iter().enumerate() {
        add_granule(store.as_ref(), id, i as i64).await;
    }
    let topics: Vec<String> = ids[..2].iter().map(|id| wis2::topic(&prefix, id)).collect();
    let (mut rx, sub) = subscriber(1883, topics.clone(), false).await;
    let config = relay_config(1883, &prefix, 8);
    let (stop, relay, start) = start_relay(&store, &config).await;

    for n in 0..60 {
        add_granule(store.as_ref(), ids[(n % 3) as usize], 100 + n).await;
    }
    let log = log_after(store.as_ref(), start).await;
    assert_eq!(log.len(), 60, "one entry per write");
    let want: Vec<i64> = log
        .iter()
        .filter(|(_, c)| ids[..2].contains(&c.as_str()))
        .map(|(s, _)| *s)
        .collect();
    let got = receive_all(
        &mut rx,
        &want.iter().copied().collect(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(first_arrivals(&got), want, "every change, in log order");
    // Nothing else arrives (the third collection's entries are on another topic).
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(m) = rx.try_recv() {
        assert!(want.contains(&m.seq()), "unexpected message {}", m.body);
    }
    for m in &got {
        let c = &m.body["properties"]["threddex:change"];
        let id = c["collection"].as_str().expect("collection");
        assert_eq!(m.topic, wis2::topic(&prefix, id), "a collection's topic");
        assert_eq!(m.body["type"], "Feature");
        assert_eq!(c["kind"], "granules.added");
        assert_eq!(m.body["geometry"]["type"], "Polygon");
        let p = &m.body["properties"];
        assert_eq!(p["data_id"], format!("{id}/{}", m.seq()));
        assert!(p["pubtime"].is_string() && p["datetime"].is_string());
        let links = m.body["links"].as_array().expect("links");
        assert!(links.iter().any(|l| {
            l["rel"] == "canonical"
                && l["href"]
                    .as_str()
                    .is_some_and(|h| h.starts_with("http://127.0.0.1:8080/api/index?collection="))
        }));
        assert!(links.iter().any(|l| l["rel"] == "collection"));
    }
    // The cursor reaches the head: everything was acknowledged.
    let head = log.last().map(|(s, _)| *s).expect("entries");
    tokio::time::timeout(Duration::from_secs(10), async {
        while store
            .relay_cursor(&config.cursor_name())
            .await
            .expect("cursor")
            != Some(head)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cursor reaches the head");
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(5), relay)
        .await
        .expect("the relay stops")
        .expect("relay task");
    sub.abort();
}

/// A Mosquitto of the test's own, with persistence (the subscriber's session and its queued
/// messages survive a restart, as on a production broker).
struct Broker {
    port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Broker {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let data = dir.join("mosquitto");
        std::fs::create_dir_all(&data).expect("broker dir");
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nautosave_interval 1\nlog_dest none\n",
                data.display()
            ),
        )
        .expect("broker config");
        let mut b = Self {
            port,
            conf,
            child: None,
        };
        b.run();
        b
    }

    fn run(&mut self) {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        for _ in 0..100 {
            if TcpStream::connect(&addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mosquitto does not listen on {addr}");
    }

    /// Stop it as a service manager would (SIGTERM), and wait for it to exit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The broker stops in the middle of a stream of changes and starts again a moment later:
/// the relay reconnects and catches up from its cursor, so the subscriber has every change,
/// in order (repeats of messages in flight at the stop allowed, with the same `id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_catches_up_after_the_broker_restarts() {
    if !available(Path::new(MOSQUITTO).exists(), MOSQUITTO) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(dir.path());
    let store = store(dir.path()).await;
    let prefix = unique("threddex-restart");
    let ids = ["edu.test:a", "edu.test:b"];
    for (i, id) in ids.iter().enumerate() {
        add_granule(store.as_ref(), id, i as i64).await;
    }
    let topics: Vec<String> = ids.iter().map(|id| wis2::topic(&prefix, id)).collect();
    let (mut rx, sub) = subscriber(broker.port, topics, true).await;
    let config = relay_config(broker.port, &prefix, 4);
    let (stop, relay, start) = start_relay(&store, &config).await;

    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for n in 0..120 {
                add_granule(store.as_ref(), ids[(n % 2) as usize], 100 + n).await;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    // Let some messages flow, then stop the broker while changes keep coming.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let c = store
                .relay_cursor(&config.cursor_name())
                .await
                .expect("cursor");
            if c.is_some_and(|c| c >= start + 20) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("messages flow before the stop");
    broker.stop();
    // Acknowledgements the broker sent before it died may still be in the relay's socket:
    // once the cursor has stood still for half a second, nothing more can arrive.
    let mut at_stop = None;
    for _ in 0..50 {
        let c = store
            .relay_cursor(&config.cursor_name())
            .await
            .expect("cursor");
        if at_stop.is_some() && c == at_stop {
            break;
        }
        at_stop = c;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = store
        .relay_cursor(&config.cursor_name())
        .await
        .expect("cursor");
    assert_eq!(
        during, at_stop,
        "the cursor does not move while the broker is down"
    );
    broker.run();
    writer.await.expect("writer");

    let log = log_after(store.as_ref(), start).await;
    assert_eq!(log.len(), 120);
    let want: Vec<i64> = log.iter().map(|(s, _)| *s).collect();
    assert!(
        want.iter().any(|s| Some(*s) > during),
        "changes were made while the broker was down"
    );
    let got = receive_all(
        &mut rx,
        &want.iter().copied().collect(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(first_arrivals(&got), want, "every change, in order, no gap");
    // A repeated message is the same message (same id).
    for m in &got {
        assert_eq!(
            m.body["id"],
            wis2::message_id("http://127.0.0.1:8080/api", m.seq())
        );
    }
    let head = *want.last().expect("entries");
    tokio::time::timeout(Duration::from_secs(20), async {
        while store
            .relay_cursor(&config.cursor_name())
            .await
            .expect("cursor")
            != Some(head)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cursor reaches the head after the restart");
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(5), relay)
        .await
        .expect("the relay stops")
        .expect("relay task");
    sub.abort();
}
