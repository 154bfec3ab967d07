//! The CSW endpoint driven by a real client: OWSLib (Python) against a running API over a
//! harvest of a simulated TDS (mixed tree: radar and satellite collections with boxes, model
//! runs without).
//!
//! The interpreter is `$THREDDEX_PYTHON`, else `.venv/bin/python` at the repository root
//! (`.ci/run` creates it with a pinned OWSLib). With `CI=true` a missing interpreter or OWSLib
//! fails the test; elsewhere the test is skipped with a note.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use serde_json::json;
use threddex_api::{ApiConfig, AppState};
use threddex_sim::{GoesSpec, ModelSpec, NexradSpec, SimConfig, TreeSpec};
use threddex_store::{CollectionQuery, GranuleQuery};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python interpreter with OWSLib, or None (skip) outside CI.
fn python() -> Option<PathBuf> {
    let py = std::env::var_os("THREDDEX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import owslib, sys; print(owslib.__version__)"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let msg = format!(
        "no Python with OWSLib at {} (set THREDDEX_PYTHON, or run: python3 -m venv .venv && \
         .venv/bin/pip install owslib==0.35.0)",
        py.display()
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("skipping the OWSLib test: {msg}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owslib_searches_and_fetches_what_the_harvest_stored() {
    let Some(py) = python() else {
        return;
    };
    let tree = TreeSpec::Mixed(vec![
        TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 3,
            days: 2,
            files_per_day: 4,
        }),
        TreeSpec::Goes(GoesSpec {
            sectors: 1,
            channels: 2,
            days: 3,
            files_per_day: 3,
        }),
        TreeSpec::ModelRuns(ModelSpec { models: 2, runs: 2 }),
    ]);
    let sim = sim_with(SimConfig {
        tree,
        ..SimConfig::default()
    })
    .await;
    let root = sim.root_catalog_url();
    let (db, report) = harvest(cfg(), &root).await;
    let report = report.expect("harvest");
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    // What the harvest put in, for the script to check against.
    let cols = db
        .store
        .list_collections(&CollectionQuery::default())
        .await
        .expect("collections");
    assert!(cols.len() >= 8, "{} collections", cols.len());
    assert!(cols.iter().any(|c| c.info.bbox.is_some()), "some boxes");
    assert!(cols.iter().any(|c| c.info.bbox.is_none()), "some without");
    let granule_of = cols
        .iter()
        .find(|c| c.granule_count > 1 && c.start.is_some())
        .expect("a timed collection");
    let granules = db
        .store
        .list_granules(&GranuleQuery {
            collection_id: granule_of.info.id.clone(),
            start: None,
            end: None,
            after: None,
            limit: 10,
        })
        .await
        .expect("granules");
    let granule = granules.last().expect("a granule");
    let expected = json!({
        "collections": cols.iter().map(|c| json!({
            "id": c.info.id,
            "title": c.info.title,
            "abstract": c.info.summary,
            "keywords": c.info.keywords,
            "bbox": c.info.bbox.map(|b| [b.west, b.south, b.east, b.north]),
            "start": c.start.map(|t| t.to_rfc3339()),
            "end": c.end.map(|t| t.to_rfc3339()),
        })).collect::<Vec<_>>(),
        "granule": {"id": granule.granule_id, "collection": granule.collection_id, "name": granule.name},
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).expect("write expected");

    // The API on an ephemeral port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = AppState::new(Arc::clone(&db.store), None, ApiConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let script = repo_root().join("tests/owslib/test_csw.py");
    let url = format!("http://{addr}/csw");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
            .arg(url)
            .arg(expected_path)
            .output()
    })
    .await
    .expect("join")
    .expect("run python");
    let _ = stop.send(());
    let _ = server.await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "OWSLib checks failed:\n{stdout}\n{stderr}"
    );
    // The script prints one line per check; all of them ran.
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passed >= 10, "only {passed} checks ran:\n{stdout}");
    drop(dir);
}
