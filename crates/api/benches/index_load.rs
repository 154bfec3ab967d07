//! Load figures of the API: `/index` one-day lookups and `/collections?q=` searches.
//!
//! `cargo bench -p threddex-api --bench index_load`
//!
//! Environment:
//! - `THREDDEX_BENCH_URL`: an already running server (e.g. `threddex serve` on a Postgres
//!   holding the benchmark data set) to load; when unset, the API is served in this process
//!   (which then shares the CPU with the load generator: figures are a lower bound);
//! - `THREDDEX_BENCH_DB`: the database of the in-process server (`sqlite://…` or
//!   `postgres://…`; default a temporary SQLite file). When it holds no granules,
//!   `THREDDEX_BENCH_COLLECTIONS` (default 50) collections of `THREDDEX_BENCH_GRANULES`
//!   (default 5 000) hourly granules each are generated first;
//! - `THREDDEX_BENCH_CONNECTIONS` (default 64) and `THREDDEX_BENCH_SECONDS` (default 10).
//!
//! Prints requests/s and p50/p90/p99/max latency per phase, and the count of non-200 answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use threddex_api::{ApiConfig, AppState};
use threddex_store::{AccessService, Batch, CollectionUpsert, Granule, NewSource, Store};
use threddex_store_postgres::PostgresStore;
use threddex_store_sqlite::SqliteStore;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_577_836_800, 0).unwrap() // 2020-01-01
}

/// xorshift64*: enough randomness for picking windows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const WORDS: &[&str] = &[
    "temperature",
    "salinity",
    "wind",
    "chlorophyll",
    "precipitation",
];

async fn open(url: &str) -> Arc<dyn Store> {
    if url.starts_with("postgres") {
        Arc::new(PostgresStore::connect(url).await.expect("connect postgres"))
    } else {
        Arc::new(SqliteStore::connect(url).await.expect("connect sqlite"))
    }
}

async fn generate(store: &dyn Store, collections: usize, per: usize) {
    let source = store
        .ensure_source(&NewSource {
            name: "bench".into(),
            url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let started = Instant::now();
    let mut ids = Vec::new();
    for c in 0..collections {
        let id = format!("bench:model{c}/{}/hourly", WORDS[c % WORDS.len()]);
        let catalog = format!("http://127.0.0.1:9/thredds/catalog/model{c}/catalog.xml");
        let upsert = CollectionUpsert {
            id: id.clone(),
            source_id: source.id,
            title: format!("Model {c} {} hourly", WORDS[c % WORDS.len()]),
            catalog_url: catalog.clone(),
            services: vec![AccessService {
                name: "odap".into(),
                service_type: "OpenDAP".into(),
                base: "http://127.0.0.1:9/thredds/dodsC/".into(),
                suffix: String::new(),
            }],
            summary: Some(format!("Synthetic {} fields", WORDS[c % WORDS.len()])),
            keywords: vec![WORDS[c % WORDS.len()].into()],
            ..CollectionUpsert::default()
        };
        let mut first = true;
        for chunk in (0..per).collect::<Vec<_>>().chunks(5_000) {
            let granules = chunk
                .iter()
                .map(|&i| {
                    let start = epoch() + TimeDelta::hours(i as i64);
                    let name = format!("m{c}_{}.nc", start.format("%Y%m%dT%H"));
                    Granule {
                        collection_id: id.clone(),
                        granule_id: name.clone(),
                        url_path: Some(format!("model{c}/{name}")),
                        name,
                        start: Some(start),
                        end: Some(start + TimeDelta::hours(1)),
                        size: Some(1_000_000),
                        modified: None,
                        catalog_url: catalog.clone(),
                    }
                })
                .collect();
            store
                .write_batch(&Batch {
                    collections: if first {
                        vec![upsert.clone()]
                    } else {
                        Vec::new()
                    },
                    granules,
                    ..Batch::default()
                })
                .await
                .unwrap();
            first = false;
        }
        ids.push(id);
    }
    store.refresh_collection_stats(&ids).await.unwrap();
    println!(
        "generated {collections} collections x {per} granules in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Collection IDs with their time extents, read through the API.
async fn collections(client: &reqwest::Client, base: &str) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/collections?limit=1000");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let text = client.get(&url).send().await.unwrap().text().await.unwrap();
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        for c in page["collections"].as_array().unwrap() {
            let t = |k: &str| {
                c[k].as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.timestamp())
            };
            if let (Some(s), Some(e)) = (t("start"), t("end")) {
                out.push((c["id"].as_str().unwrap().to_owned(), s, e));
            }
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return out,
        }
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn phase(
    name: &str,
    client: &reqwest::Client,
    connections: usize,
    seconds: u64,
    make_url: Arc<dyn Fn(&mut Rng) -> String + Send + Sync>,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let client = client.clone();
            let make_url = Arc::clone(&make_url);
            tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
                let mut lat = Vec::new();
                let mut bad = 0u64;
                while Instant::now() < deadline {
                    let url = make_url(&mut rng);
                    let t = Instant::now();
                    match client.get(&url).send().await {
                        Ok(r) => {
                            let ok = r.status() == 200;
                            let _ = r.bytes().await;
                            if !ok {
                                bad += 1;
                            }
                        }
                        Err(_) => bad += 1,
                    }
                    lat.push(t.elapsed());
                }
                (lat, bad)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut bad = 0;
    for t in tasks {
        let (l, b) = t.await.unwrap();
        all.extend(l);
        bad += b;
    }
    all.sort();
    let q = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name}: {} requests in {seconds} s = {:.0} req/s at {connections} connections; \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; non-200: {bad}",
        all.len(),
        all.len() as f64 / seconds as f64,
        q(0.50).as_secs_f64() * 1e3,
        q(0.90).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let connections: usize = env_or("THREDDEX_BENCH_CONNECTIONS", 64);
    let seconds: u64 = env_or("THREDDEX_BENCH_SECONDS", 10);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let mut _tmp: Option<tempfile::TempDir> = None;
    let (base, shutdown) = match std::env::var("THREDDEX_BENCH_URL") {
        Ok(url) => (url.trim_end_matches('/').to_owned(), None),
        Err(_) => {
            let db = match std::env::var("THREDDEX_BENCH_DB") {
                Ok(db) => db,
                Err(_) => {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                    _tmp = Some(dir);
                    url
                }
            };
            let store = open(&db).await;
            if store.stats().await.unwrap().granules == 0 {
                generate(
                    store.as_ref(),
                    env_or("THREDDEX_BENCH_COLLECTIONS", 50),
                    env_or("THREDDEX_BENCH_GRANULES", 5_000),
                )
                .await;
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let state = AppState::new(store, None, ApiConfig::default());
            tokio::spawn(threddex_api::serve(listener, state, async {
                let _ = rx.await;
            }));
            (format!("http://{addr}"), Some(tx))
        }
    };
    let cols = Arc::new(collections(&client, &base).await);
    assert!(
        !cols.is_empty(),
        "no collections with a time extent at {base}"
    );
    println!("{} collections at {base}", cols.len());
    let b = base.clone();
    phase(
        "/healthz (HTTP ceiling)",
        &client,
        connections,
        seconds,
        Arc::new(move |_: &mut Rng| format!("{b}/healthz")),
    )
    .await;
    let b = base.clone();
    let c = Arc::clone(&cols);
    phase(
        "/index one day",
        &client,
        connections,
        seconds,
        Arc::new(move |rng: &mut Rng| {
            let (id, s, e) = &c[rng.below(c.len() as u64) as usize];
            let days = ((e - s) / 86_400).max(1) as u64;
            let day0 = s - s.rem_euclid(86_400);
            let start =
                DateTime::from_timestamp(day0 + 86_400 * rng.below(days) as i64, 0).unwrap();
            let end = start + TimeDelta::days(1);
            format!(
                "{b}/index?collection={}&start={}&end={}",
                enc(id),
                start.format("%Y-%m-%d"),
                end.format("%Y-%m-%d")
            )
        }),
    )
    .await;
    let b = base.clone();
    phase(
        "/collections?q=",
        &client,
        connections,
        seconds,
        Arc::new(move |rng: &mut Rng| {
            let w = WORDS[rng.below(WORDS.len() as u64) as usize];
            format!("{b}/collections?q={w}&limit=100")
        }),
    )
    .await;
    if let Some(tx) = shutdown {
        let _ = tx.send(());
    }
}
