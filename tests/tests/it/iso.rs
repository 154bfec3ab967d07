//! Collections as ISO 19139 series records, end to end. A simulated TDS with a
//! NEXRAD tree (no ISO service: records are synthesised) and a model-run tree (ISO service:
//! one ncISO record per collection is fetched and rewritten) is harvested into SQLite; the
//! records are exported and validated against the ISO schemas with `validate-iso.sh`.

use super::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::*;
use threddex_crawler::{Harvester, Progress, SyncOptions, Syncer};
use threddex_records::{Extent, RecordSummary};
use threddex_sim::{ModelSpec, NexradSpec, SimClock, SimConfig, TreeSpec, default_time};
use threddex_store::{Collection, CollectionQuery, Granule, GranuleQuery, Store};

fn validator() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/validate-iso.sh")
}

/// Validates every file with one call of the validator; panics with its output on failure.
/// Skips (with a note) only when the shared schemas are absent and CI is not set.
fn validate(files: &[PathBuf]) -> bool {
    let script = validator();
    if !script.exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{} is missing (CI=true: not skipping)",
            script.display()
        );
        eprintln!("note: {} missing; validation skipped", script.display());
        return false;
    }
    assert!(!files.is_empty());
    let out = Command::new("bash")
        .arg(&script)
        .arg("--auto")
        .args(files)
        .output()
        .expect("run validate-iso.sh");
    assert!(
        out.status.success(),
        "ISO validation failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn tree() -> TreeSpec {
    TreeSpec::Mixed(vec![
        TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 2,
            days: 2,
            files_per_day: 4,
        }),
        TreeSpec::ModelRuns(ModelSpec { models: 2, runs: 4 }),
    ])
}

async fn all_collections(store: &dyn Store) -> Vec<Collection> {
    store
        .list_collections(&CollectionQuery::default())
        .await
        .expect("collections")
}

async fn granules_of(store: &dyn Store, id: &str) -> Vec<Granule> {
    store
        .list_granules(&GranuleQuery {
            collection_id: id.into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .expect("granules")
}

/// The real min/max of a collection's granules.
fn extent_of(granules: &[Granule]) -> Extent {
    let start = granules.iter().filter_map(|g| g.start).min();
    let end = granules.iter().filter_map(|g| g.end.or(g.start)).max();
    Extent::new(start, end)
}

async fn export(store: &dyn Store, dir: &Path) -> HashMap<String, (PathBuf, RecordSummary)> {
    let n = threddex::export_iso(store, dir, "http://127.0.0.1:8080")
        .await
        .expect("export");
    let mut out = HashMap::new();
    for c in all_collections(store).await {
        let path = dir.join(threddex::export_file_name(&c.info.id));
        let xml = std::fs::read_to_string(&path).expect("exported file");
        let s = threddex_records::summary(&xml).expect("summary");
        out.insert(c.info.id.clone(), (path, s));
    }
    assert_eq!(n as usize, out.len());
    assert_eq!(std::fs::read_dir(dir).expect("dir").count(), out.len());
    out
}

fn is_model(id: &str) -> bool {
    id.contains("grib/NCEP")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_built_exported_valid_and_kept_current() {
    let sim = sim_with(SimConfig {
        tree: tree(),
        clock: SimClock::fixed(default_time()),
        ..SimConfig::default()
    })
    .await;
    let root = sim.root_catalog_url();
    let db = db(&root).await;
    let store = &*db.store;
    // Harvest and syncs through the sync engine, on the simulator's clock.
    let clock = sim.clock().clone();
    let syncer = Syncer::new(
        Harvester::new(cfg()).expect("harvester"),
        Arc::clone(&db.store),
        SyncOptions {
            clock: Arc::new(move || clock.now()),
            ..SyncOptions::default()
        },
    );
    let sync = |syncer: Syncer, source: threddex_store::Source| async move {
        let r = syncer
            .sync_source(&source, Arc::new(Progress::default()))
            .await
            .expect("sync");
        assert!(r.success, "{r:?}");
        r
    };
    let report = sync(syncer.clone(), db.source.clone()).await.harvest;

    let collections = all_collections(store).await;
    let models: Vec<&Collection> = collections
        .iter()
        .filter(|c| is_model(&c.info.id))
        .collect();
    let nexrad = collections.len() - models.len();
    assert_eq!(
        models.len(),
        2,
        "{:?}",
        collections.iter().map(|c| &c.info.id).collect::<Vec<_>>()
    );
    assert_eq!(nexrad, 4);
    // One ISO request per collection with an ISO service, never per granule.
    assert_eq!(sim.counters().matching("/thredds/iso/"), 2);
    assert_eq!(report.records.iso_fetches, 2);
    assert_eq!(
        report.records.from_iso, 2,
        "{:?}",
        report.records.iso_failures
    );
    assert_eq!(report.records.synthesized, 4);
    assert!(
        store
            .stale_iso_records(None, 0)
            .await
            .expect("stale")
            .is_empty()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let first = export(store, dir.path()).await;
    let mut files: Vec<PathBuf> = Vec::new();
    for c in &collections {
        let (path, s) = &first[&c.info.id];
        files.push(path.clone());
        assert_eq!(s.id, c.info.id);
        assert_eq!(s.hierarchy_level.as_deref(), Some("series"));
        let granules = granules_of(store, &c.info.id).await;
        assert!(!granules.is_empty());
        assert_eq!(s.extent, extent_of(&granules), "{}", c.info.id);
        assert!(s.extent.start.is_some() && s.extent.start < s.extent.end);
        let xml = std::fs::read_to_string(path).expect("read");
        // The search link of this service and (model runs) the ncISO content made it in.
        assert!(
            xml.contains("http://127.0.0.1:8080/index?collection="),
            "{xml}"
        );
        if is_model(&c.info.id) {
            assert!(xml.contains("Temperature_isobaric"), "variables from ncISO");
            assert!(!xml.contains("SV_ServiceIdentification"));
        }
        // A granule-level record of one granule validates too.
        let g = &granules[granules.len() / 2];
        let stored = c.iso_record.as_deref().expect("stored record");
        let gr = threddex_records::granule_record(stored, g, &c.info.services).expect("granule");
        let gs = threddex_records::summary(&gr).expect("granule summary");
        assert_eq!(gs.id, g.granule_id);
        assert_eq!(gs.parent_id.as_deref(), Some(c.info.id.as_str()));
        assert_eq!(gs.extent.start, g.start);
        let gpath = dir.path().join(format!(
            "granule-{}",
            threddex::export_file_name(&g.granule_id)
        ));
        std::fs::write(&gpath, gr).expect("write granule record");
        files.push(gpath);
    }
    // The raw ncISO document the simulator serves validates as well.
    let m = models[0];
    let g = &granules_of(store, &m.info.id).await[0];
    let iso = threddex_records::iso_service(&m.info.services).expect("ISO service");
    let url = threddex_records::iso_record_url(
        iso,
        g.url_path.as_deref().unwrap_or_default(),
        &g.catalog_url,
        &g.granule_id,
    );
    let raw = reqwest::get(&url)
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        raw.len() > 10_000,
        "ncISO-like record of {} bytes",
        raw.len()
    );
    let raw_path = dir.path().join("raw-ncis.xml");
    std::fs::write(&raw_path, raw).expect("write raw");
    files.push(raw_path);
    validate(&files);

    // Sync again at the same time: nothing to rebuild, no new ISO request.
    let again = sync(syncer.clone(), db.source.clone()).await.harvest;
    assert_eq!(
        sim.counters().matching("/thredds/iso/"),
        3,
        "only the one test fetch above"
    );
    assert_eq!(
        (
            again.records.from_iso,
            again.records.synthesized,
            again.records.retimed
        ),
        (0, 0, 0)
    );

    // A day later: new granules arrive, old ones expire; records are re-timed.
    sim.clock().advance(Duration::days(1));
    let later = sync(syncer.clone(), db.source.clone()).await;
    assert!(later.harvest.granules_deleted > 0, "{later:?}");
    assert_eq!(later.harvest.records.iso_fetches, 0);
    assert_eq!(later.harvest.records.retimed, 6, "{later:?}");
    assert!(
        store
            .stale_iso_records(None, 0)
            .await
            .expect("stale")
            .is_empty()
    );
    assert_eq!(sim.counters().matching("/thredds/iso/"), 3);
    let dir2 = tempfile::tempdir().expect("tempdir");
    let second = export(store, dir2.path()).await;
    let mut files2 = Vec::new();
    for c in all_collections(store).await {
        let (path, s) = &second[&c.info.id];
        files2.push(path.clone());
        let before = &first[&c.info.id].1;
        let granules = granules_of(store, &c.info.id).await;
        assert_eq!(s.extent, extent_of(&granules), "{}", c.info.id);
        assert!(s.extent.end > before.extent.end, "{}: end moved", c.info.id);
        assert!(
            s.extent.start > before.extent.start,
            "{}: start moved (expiry)",
            c.info.id
        );
        let (m0, m1): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            (before.modified, s.modified);
        assert!(m1 > m0, "{}: dateStamp moved {m0:?} -> {m1:?}", c.info.id);
    }
    validate(&files2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_iso_service_falls_back_to_synthesis_once() {
    let sim = sim_with(SimConfig {
        tree: TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 2 }),
        faults: vec![threddex_sim::FaultRule::always(
            "/thredds/iso/",
            threddex_sim::Fault::Status(404),
        )],
        ..SimConfig::default()
    })
    .await;
    let root = sim.root_catalog_url();
    let (db, report) = harvest(cfg(), &root).await;
    let report = report.expect("harvest");
    assert_eq!(report.records.iso_fetches, 1);
    assert_eq!(report.records.from_iso, 0);
    assert_eq!(report.records.synthesized, 1);
    assert_eq!(report.records.iso_failures.len(), 1);
    assert_eq!(
        sim.counters().matching("/thredds/iso/"),
        1,
        "404 is not retried"
    );
    let again = harvest_into(cfg(), &root, &db).await.expect("again");
    assert_eq!(again.records.iso_fetches, 0);
    assert_eq!(sim.counters().matching("/thredds/iso/"), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = export(&*db.store, dir.path()).await;
    let files: Vec<PathBuf> = out.values().map(|(p, _)| p.clone()).collect();
    validate(&files);
}
