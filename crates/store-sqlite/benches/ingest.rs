//! Ingest benchmark: writes granules (default 1,000,000, env `GRANULES`) in batches of 2000
//! (env `BATCH`) into a fresh temporary file database and prints granules/s and bytes per
//! granule. Run: `cargo bench -p threddex-store-sqlite --bench ingest` (env `TEMPLATE=1`: the
//! collection has a name template, so IDs and urlPaths are rendered, not stored).

use std::time::Instant;
use threddex_store::prelude::*;

use chrono::DateTime;
use threddex_store::{
    Batch, CatalogState, CatalogStatus, CollectionUpsert, Granule, GranuleQuery, NewSource,
};
use threddex_store_sqlite::SqliteStore;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let total = if quick {
        10_000
    } else {
        env_usize("GRANULES", 1_000_000)
    };
    let batch_size = env_usize("BATCH", 2000).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(total, batch_size));
}

/// A realistic granule: satellite imagery every 5 minutes, one catalog per day.
fn granule(collection: &str, i: usize) -> Granule {
    let start = DateTime::from_timestamp(1_500_000_000 + (i as i64) * 300, 0).expect("time");
    let day = start.format("%Y%m%d");
    let name = format!("EAST-CONUS_1km_VIS_{}.gini", start.format("%Y%m%d_%H%M"));
    Granule {
        collection_id: collection.into(),
        granule_id: format!("SSEC/IDD-Satellite/VIS/EAST-CONUS_1km/{day}/{name}"),
        url_path: Some(format!("satellite/VIS/EAST-CONUS_1km/{day}/{name}")),
        name,
        start: Some(start),
        end: None,
        size: Some(4_000_000 + (i as i64 % 100_000)),
        modified: Some(start + chrono::Duration::seconds(90)),
        catalog_url: format!(
            "http://127.0.0.1/thredds/catalog/satellite/VIS/EAST-CONUS_1km/{day}/catalog.xml"
        ),
    }
}

async fn run(total: usize, batch_size: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let src = store
        .add_source(&NewSource {
            name: "bench".into(),
            url: "http://127.0.0.1/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .expect("source");
    let collection = "edu.ucar.unidata:satellite/VIS/EAST-CONUS_1km/EAST-CONUS_1km_VIS_{time}.gini";
    store
        .write_batch(&Batch {
            collections: vec![CollectionUpsert {
                id: collection.into(),
                source_id: src.id,
                title: "EAST-CONUS 1km VIS".into(),
                // TEMPLATE=1: the collection has its name template (as the crawler sets it),
                // so IDs and urlPaths are rendered instead of stored (migration 0007).
                template: (env_usize("TEMPLATE", 0) != 0).then(|| {
                    "SSEC/IDD-Satellite/VIS/EAST-CONUS_1km/{yyyyMMdd}/\
                     EAST-CONUS_1km_VIS_{yyyyMMdd_HHmm}.gini"
                        .to_owned()
                }),
                catalog_url: "http://127.0.0.1/thredds/catalog.xml".into(),
                ..CollectionUpsert::default()
            }],
            ..Batch::default()
        })
        .await
        .expect("collection");

    let make_batch = |from: usize| {
        let granules: Vec<Granule> = (from..(from + batch_size).min(total))
            .map(|i| granule(collection, i))
            .collect();
        let mut catalogs: Vec<CatalogState> = granules
            .iter()
            .map(|g| CatalogState {
                status: CatalogStatus::Ok,
                granule_count: 288,
                ..CatalogState::pending(g.catalog_url.clone(), src.id, None, 1)
            })
            .collect();
        catalogs.dedup_by(|a, b| a.url == b.url);
        Batch {
            catalogs,
            granules,
            ..Batch::default()
        }
    };

    let mut write_secs = 0.0;
    let mut inserted = 0;
    let started = Instant::now();
    for from in (0..total).step_by(batch_size) {
        let batch = make_batch(from);
        let t0 = Instant::now();
        inserted += store
            .write_batch(&batch)
            .await
            .expect("write")
            .granules_inserted;
        write_secs += t0.elapsed().as_secs_f64();
    }
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(inserted as usize, total);
    println!(
        "ingest: {total} granules in batches of {batch_size}: {:.0} granules/s in write_batch \
         ({write_secs:.1} s), {:.0} granules/s including batch construction ({wall:.1} s)",
        total as f64 / write_secs,
        total as f64 / wall
    );

    // Re-writing unchanged batches (a sync that finds nothing new).
    let rewrite = total.min(200_000);
    let t0 = Instant::now();
    let mut again = 0;
    for from in (0..rewrite).step_by(batch_size) {
        again += store
            .write_batch(&make_batch(from))
            .await
            .expect("rewrite")
            .granules_inserted;
    }
    assert_eq!(again, 0);
    println!(
        "rewrite unchanged: {:.0} granules/s",
        rewrite as f64 / t0.elapsed().as_secs_f64()
    );

    store
        .refresh_collection_stats(&[collection.to_owned()])
        .await
        .expect("refresh");
    // Time-window pages.
    let t0 = Instant::now();
    let pages = 1000;
    for p in 0..pages {
        let start = DateTime::from_timestamp(1_500_000_000 + ((p * 7919) % total) as i64 * 300, 0);
        let rows = store
            .list_granules(&GranuleQuery {
                collection_id: collection.into(),
                start,
                end: None,
                after: None,
                limit: 100,
            })
            .await
            .expect("list");
        assert!(!rows.is_empty());
    }
    println!(
        "list_granules (100-row window pages): {:.0} µs/page",
        t0.elapsed().as_secs_f64() * 1e6 / pages as f64
    );

    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .expect("checkpoint");
    let stats = store.stats().await.expect("stats");
    let file = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "size: {} granules, granule tables+indexes {} bytes = {:.1} bytes/granule; \
         collections {} bytes; database file {} bytes ({:.1} bytes/granule)",
        stats.granules,
        stats.granule_bytes,
        stats.granule_bytes as f64 / stats.granules.max(1) as f64,
        stats.collection_bytes,
        file,
        file as f64 / stats.granules.max(1) as f64
    );
}
