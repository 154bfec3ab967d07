//! Latency of CSW `GetRecords` with a `csw:AnyText` `PropertyIsLike` filter, through the
//! router (XML POST → Filter → store AST → SQL → Dublin Core response).
//!
//! `cargo bench -p threddex-api --bench csw_load`
//!
//! Environment:
//! - `THREDDEX_BENCH_DB`: the database (`sqlite://…` or `postgres://…`; default a temporary
//!   SQLite file). When it holds fewer than `THREDDEX_BENCH_COLLECTIONS` (default 100 000)
//!   collections, synthetic ones are added first (titles, abstracts and keywords drawn from a
//!   fixed vocabulary, boxes, so every search word matches a few percent of them);
//! - `THREDDEX_BENCH_REQUESTS` (default 2 000): requests timed, one at a time, each with a
//!   search word picked in turn from the vocabulary (`%word%`), plus 100 warm-up requests.
//!
//! Prints p50/p90/p99/max latency, the mean number of matches, and non-200 answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use threddex_api::{ApiConfig, AppState, router};
use threddex_store::{BBox, Batch, CollectionUpsert, NewSource, Store};
use threddex_store_postgres::PostgresStore;
use threddex_store_sqlite::SqliteStore;
use tower::ServiceExt;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const VARIABLES: &[&str] = &[
    "temperature",
    "salinity",
    "chlorophyll",
    "reflectivity",
    "precipitation",
    "humidity",
    "pressure",
    "velocity",
    "radiance",
    "albedo",
    "ozone",
    "aerosol",
    "snowfall",
    "turbidity",
    "nitrate",
    "oxygen",
    "wind",
    "waves",
    "current",
    "ice",
];
const PLATFORMS: &[&str] = &[
    "radar",
    "satellite",
    "buoy",
    "glider",
    "model",
    "reanalysis",
    "mooring",
    "drifter",
    "aircraft",
    "lidar",
];
const REGIONS: &[&str] = &[
    "pacific",
    "atlantic",
    "arctic",
    "gulf",
    "coastal",
    "global",
    "conus",
    "alaska",
    "hawaii",
    "caribbean",
    "indian",
    "southern",
    "mediterranean",
    "baltic",
    "andes",
];
const FILLER: &[&str] = &[
    "daily",
    "hourly",
    "monthly",
    "analysis",
    "forecast",
    "gridded",
    "level",
    "product",
    "composite",
    "mosaic",
    "ensemble",
    "anomaly",
    "climatology",
    "surface",
    "profile",
    "subsurface",
    "derived",
    "quality",
    "controlled",
    "archive",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

fn synthetic(i: usize, source_id: i64, rng: &mut Rng) -> CollectionUpsert {
    let var = rng.pick(VARIABLES);
    let platform = rng.pick(PLATFORMS);
    let region = rng.pick(REGIONS);
    let words: Vec<&str> = (0..12).map(|_| rng.pick(FILLER)).collect();
    let west = (rng.next() % 300) as f64 - 180.0;
    let south = (rng.next() % 150) as f64 - 90.0;
    CollectionUpsert {
        id: format!("bench:{platform}/{region}/{var}/c{i:06}"),
        source_id,
        title: format!("{} {} {} {i}", capital(var), platform, region),
        template: None,
        catalog_url: format!("http://127.0.0.1:9/thredds/catalog/{platform}/{region}/catalog.xml"),
        services: Vec::new(),
        metadata: serde_json::Value::Null,
        summary: Some(format!(
            "{} {} from {platform} over the {region} region.",
            capital(words[0]),
            words[1..].join(" ")
        )),
        keywords: vec![
            var.to_owned(),
            platform.to_owned(),
            format!("{region} {}", rng.pick(FILLER)),
        ],
        bbox: Some(BBox {
            west,
            south,
            east: west + 20.0,
            north: south + 20.0,
        }),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

async fn open(url: &str) -> Arc<dyn Store> {
    if url.starts_with("postgres") {
        Arc::new(PostgresStore::connect(url).await.expect("postgres"))
    } else {
        Arc::new(SqliteStore::connect(url).await.expect("sqlite"))
    }
}

fn body(word: &str) -> String {
    format!(
        r#"<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc" service="CSW" version="2.0.2" resultType="results" maxRecords="10"><csw:Query typeNames="csw:Record"><csw:ElementSetName>summary</csw:ElementSetName><csw:Constraint version="1.1.0"><ogc:Filter><ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\"><ogc:PropertyName>csw:AnyText</ogc:PropertyName><ogc:Literal>%{word}%</ogc:Literal></ogc:PropertyIsLike></ogc:Filter></csw:Constraint></csw:Query></csw:GetRecords>"#
    )
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let url = std::env::var("THREDDEX_BENCH_DB")
        .unwrap_or_else(|_| format!("sqlite://{}", tmp.path().join("csw.db").display()));
    let want: usize = env_or("THREDDEX_BENCH_COLLECTIONS", 100_000);
    let requests: usize = env_or("THREDDEX_BENCH_REQUESTS", 2_000);
    let store = open(&url).await;
    let have = store.stats().await.unwrap().collections as usize;
    if have < want {
        let src = store
            .ensure_source(&NewSource {
                name: "csw-bench".into(),
                url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
                ..NewSource::default()
            })
            .await
            .unwrap();
        let started = Instant::now();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut i = have;
        while i < want {
            let n = (want - i).min(5_000);
            let collections = (i..i + n).map(|k| synthetic(k, src.id, &mut rng)).collect();
            store
                .write_batch(&Batch {
                    collections,
                    ..Batch::default()
                })
                .await
                .unwrap();
            i += n;
        }
        eprintln!(
            "filled {} collections in {:.1?}",
            want - have,
            started.elapsed()
        );
    }
    let total = store.stats().await.unwrap().collections;
    let app = router(AppState::new(
        Arc::clone(&store),
        None,
        ApiConfig::default(),
    ));
    let words: Vec<&str> = VARIABLES
        .iter()
        .chain(PLATFORMS)
        .chain(REGIONS)
        .copied()
        .collect();
    let mut lat = Vec::with_capacity(requests);
    let mut errors = 0usize;
    let mut matched_sum = 0u64;
    for k in 0..requests + 100 {
        let word = words[k % words.len()];
        let req = Request::builder()
            .method("POST")
            .uri("/csw")
            .header("host", "bench.test")
            .body(Body::from(body(word)))
            .unwrap();
        let t0 = Instant::now();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        let dt = t0.elapsed();
        if k < 100 {
            continue;
        }
        if !status.is_success() {
            errors += 1;
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Some(m) = text
            .split("numberOfRecordsMatched=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse::<u64>().ok())
        {
            matched_sum += m;
        }
        lat.push(dt);
    }
    lat.sort();
    println!(
        "csw GetRecords AnyText PropertyIsLike %word%, maxRecords=10, summary: backend {}, {total} collections, {} requests (sequential)",
        store.backend(),
        lat.len()
    );
    println!(
        "  p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}  mean matches {}  non-200 {errors}",
        pct(&lat, 0.50),
        pct(&lat, 0.90),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        matched_sum / lat.len().max(1) as u64,
    );
}
