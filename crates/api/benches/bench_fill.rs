//! Fill a database with the API benchmark data set, through the store's own `write_batch`, and
//! write the request lists the load generator (wrk, see `bench/api-load.sh`) draws from.
//!
//! `THREDDEX_BENCH_DB=postgres://… cargo bench -p threddex-api --bench bench_fill`
//!
//! Environment:
//! - `THREDDEX_BENCH_DB` (required): `postgres://…` or `sqlite://…`;
//! - `THREDDEX_BENCH_COLLECTIONS` (default 1 000) collections of `THREDDEX_BENCH_GRANULES`
//!   (default 10 000) hourly granules each: 10 M granules by default. Skipped when the
//!   database already holds at least that many granules;
//! - `THREDDEX_BENCH_WRITERS` (default 4): batches written at once;
//! - `THREDDEX_BENCH_OUT` (default `/tmp/threddex-bench`): directory receiving `index.txt`
//!   (20 000 `/index` paths, one random day of a random collection each) and `search.txt`
//!   (`/collections?q=` paths).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use threddex_store::{
    AccessService, Batch, CatalogState, CatalogStatus, CollectionUpsert, Granule, NewSource,
    NodeClass, Store,
};
use threddex_store_postgres::PostgresStore;
use threddex_store_sqlite::SqliteStore;

const WORDS: &[&str] = &[
    "temperature",
    "salinity",
    "wind",
    "chlorophyll",
    "precipitation",
    "humidity",
    "pressure",
    "radiance",
    "reflectivity",
    "velocity",
];

/// Granules per written batch.
const BATCH: usize = 10_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_577_836_800, 0).unwrap() // 2020-01-01
}

fn collection_id(c: usize) -> String {
    format!("bench:model{c}/{}/hourly", WORDS[c % WORDS.len()])
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn batch(source_id: i64, c: usize, per: usize, from: usize, to: usize) -> Batch {
    let id = collection_id(c);
    let word = WORDS[c % WORDS.len()];
    let catalog = format!("http://127.0.0.1:9/thredds/catalog/model{c}/catalog.xml");
    let collections = if from == 0 {
        vec![CollectionUpsert {
            id: id.clone(),
            source_id,
            title: format!("Model m{c} {word} hourly"),
            catalog_url: catalog.clone(),
            services: vec![
                AccessService {
                    name: "odap".into(),
                    service_type: "OpenDAP".into(),
                    base: "http://127.0.0.1:9/thredds/dodsC/".into(),
                    suffix: String::new(),
                },
                AccessService {
                    name: "http".into(),
                    service_type: "HTTPServer".into(),
                    base: "http://127.0.0.1:9/thredds/fileServer/".into(),
                    suffix: String::new(),
                },
            ],
            summary: Some(format!("Synthetic hourly {word} fields of model m{c}")),
            keywords: vec![word.into(), "model".into()],
            ..CollectionUpsert::default()
        }]
    } else {
        Vec::new()
    };
    let granules = (from..to)
        .map(|i| {
            let start = epoch() + TimeDelta::hours(i as i64);
            let name = format!("m{c}_{}.nc", start.format("%Y%m%dT%H"));
            Granule {
                collection_id: id.clone(),
                granule_id: name.clone(),
                url_path: Some(format!("model{c}/{name}")),
                name,
                start: Some(start),
                end: Some(start + TimeDelta::hours(1)),
                size: Some(1_000_000 + i as i64),
                modified: None,
                catalog_url: catalog.clone(),
            }
        })
        .collect();
    // The catalog is archival (its day folders are long closed), as most of a large
    // archive is: `/index` never re-reads it.
    let catalogs = if from == 0 {
        let mut state = CatalogState::pending(catalog.clone(), source_id, None, 1);
        state.class = NodeClass::Archival;
        state.status = CatalogStatus::Ok;
        state.last_fetch = Some(Utc::now());
        state.granule_count = per as i64;
        vec![state]
    } else {
        Vec::new()
    };
    Batch {
        catalogs,
        collections,
        granules,
        ..Batch::default()
    }
}

#[tokio::main]
async fn main() {
    let db = std::env::var("THREDDEX_BENCH_DB").expect("set THREDDEX_BENCH_DB");
    let collections: usize = env_or("THREDDEX_BENCH_COLLECTIONS", 1_000);
    let per: usize = env_or("THREDDEX_BENCH_GRANULES", 10_000);
    let writers: usize = env_or("THREDDEX_BENCH_WRITERS", 4usize).max(1);
    let out: String = env_or("THREDDEX_BENCH_OUT", "/tmp/threddex-bench".to_owned());
    let store: Arc<dyn Store> = if db.starts_with("postgres") {
        Arc::new(PostgresStore::connect(&db).await.expect("connect postgres"))
    } else {
        Arc::new(SqliteStore::connect(&db).await.expect("connect sqlite"))
    };
    let want = (collections * per) as u64;
    let have = store.stats().await.unwrap().granules;
    if have >= want {
        println!("the database already holds {have} granules (>= {want}); not filling");
    } else {
        let source = store
            .ensure_source(&NewSource {
                name: "bench".into(),
                url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
                ..NewSource::default()
            })
            .await
            .unwrap();
        let started = Instant::now();
        // One job per collection: its batches in order (the first one creates it).
        let jobs = Arc::new(std::sync::Mutex::new(0..collections));
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let store = Arc::clone(&store);
                let jobs = Arc::clone(&jobs);
                let done = Arc::clone(&done);
                let sid = source.id;
                tokio::spawn(async move {
                    loop {
                        let Some(c) = jobs.lock().unwrap().next() else {
                            return;
                        };
                        for from in (0..per).step_by(BATCH) {
                            let to = (from + BATCH).min(per);
                            store
                                .write_batch(&batch(sid, c, per, from, to))
                                .await
                                .unwrap();
                        }
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if n.is_multiple_of(100) {
                            println!(
                                "{n} collections ({} granules) in {:.0} s",
                                n * per as u64,
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let ids: Vec<String> = (0..collections).map(collection_id).collect();
        for chunk in ids.chunks(500) {
            store.refresh_collection_stats(chunk).await.unwrap();
        }
        // The archive is synced: windows ending before now need no refresh.
        store
            .mark_source_synced(source.id, Utc::now(), true)
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "wrote {want} granules in {collections} collections in {secs:.0} s ({:.0} granules/s)",
            want as f64 / secs
        );
    }
    let stats = store.stats().await.unwrap();
    println!("store: {stats:?}");

    std::fs::create_dir_all(&out).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let days = (per / 24).max(1) as u64;
    let mut index = std::fs::File::create(format!("{out}/index.txt")).unwrap();
    for _ in 0..20_000 {
        let c = rng.below(collections as u64) as usize;
        let start = epoch() + TimeDelta::days(rng.below(days) as i64);
        let end = start + TimeDelta::days(1);
        let id: String =
            url::form_urlencoded::byte_serialize(collection_id(c).as_bytes()).collect();
        writeln!(
            index,
            "/index?collection={id}&start={}&end={}",
            start.format("%Y-%m-%d"),
            end.format("%Y-%m-%d")
        )
        .unwrap();
    }
    let mut search = std::fs::File::create(format!("{out}/search.txt")).unwrap();
    for _ in 0..5_000 {
        let q = match rng.below(3) {
            0 => WORDS[rng.below(WORDS.len() as u64) as usize].to_owned(),
            1 => format!("m{}", rng.below(collections as u64)),
            _ => format!(
                "m{} {}",
                rng.below(collections as u64),
                WORDS[rng.below(WORDS.len() as u64) as usize]
            ),
        };
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        writeln!(search, "/collections?q={q}&limit=20").unwrap();
    }
    println!("request lists: {out}/index.txt, {out}/search.txt");
}
