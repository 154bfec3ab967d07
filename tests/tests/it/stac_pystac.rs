//! The STAC API driven by a real client: pystac-client (Python, unmodified) against a running
//! API over a harvest of a simulated TDS (radar and satellite collections with boxes, model
//! runs without), and every STAC document it received validated offline against the STAC
//! 1.0.0 schemas (`../shared/schemas/stac/validate-stac.py`).
//!
//! The interpreter is `$THREDDEX_PYTHON`, else `.venv/bin/python` at the repository root
//! (`.ci/run` installs pystac-client and jsonschema there). With `CI=true` a missing
//! interpreter, package or schema fails the test; elsewhere the test is skipped with a note.

use super::common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use serde_json::json;
use threddex_api::{ApiConfig, AppState};
use threddex_sim::{GoesSpec, ModelSpec, NexradSpec, SimConfig, TreeSpec};
use threddex_store::CollectionQuery;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python interpreter with pystac-client and jsonschema, or None (skip) outside CI.
fn python() -> Option<PathBuf> {
    let py = std::env::var_os("THREDDEX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import pystac_client, jsonschema, referencing"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let msg = format!(
        "no Python with pystac-client and jsonschema at {} (set THREDDEX_PYTHON, or run: \
         python3 -m venv .venv && .venv/bin/pip install pystac-client==0.9.1 'jsonschema>=4.18')",
        py.display()
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("skipping the pystac-client test: {msg}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pystac_client_searches_what_the_harvest_stored() {
    let Some(py) = python() else {
        return;
    };
    let validator = repo_root().join("../shared/schemas/stac/validate-stac.py");
    if !validator.exists() {
        assert!(!in_ci(), "{} missing", validator.display());
        eprintln!(
            "skipping the pystac-client test: no {}",
            validator.display()
        );
        return;
    }
    let tree = TreeSpec::Mixed(vec![
        TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 2,
            days: 2,
            files_per_day: 4,
        }),
        TreeSpec::Goes(GoesSpec {
            sectors: 1,
            channels: 2,
            days: 2,
            files_per_day: 3,
            ..GoesSpec::default()
        }),
        TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 2 }),
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

    let cols = db
        .store
        .list_collections(&CollectionQuery::default())
        .await
        .expect("collections");
    assert!(cols.len() >= 4, "{} collections", cols.len());
    assert!(cols.iter().any(|c| c.info.bbox.is_some()), "some boxes");
    assert!(cols.iter().any(|c| c.info.bbox.is_none()), "some without");
    let expected = json!({
        "collections": cols.iter().map(|c| json!({
            "id": c.info.id,
            "granules": c.granule_count,
            "bbox": c.info.bbox.map(|b| [b.west, b.south, b.east, b.north]),
        })).collect::<Vec<_>>(),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).expect("write expected");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = AppState::new(Arc::clone(&db.store), None, ApiConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let script = repo_root().join("tests/pystac/test_stac.py");
    let responses = dir.path().join("responses");
    std::fs::create_dir(&responses).expect("responses dir");
    let responses_arg = responses.clone();
    let py_run = py.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py_run)
            .arg(script)
            .arg(format!("http://{addr}"))
            .arg(expected_path)
            .arg(responses_arg)
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
        "pystac-client checks failed:\n{stdout}\n{stderr}"
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passed >= 11, "only {passed} checks ran:\n{stdout}");
    assert!(
        stdout.contains("ok errors"),
        "the last checks ran:\n{stdout}"
    );

    // Every kind of STAC document received validates against the STAC 1.0.0 schemas.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&responses)
        .expect("responses")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for kind in [
        "landing",
        "collections-page",
        "collection",
        "item-collection",
        "item",
    ] {
        assert!(
            files
                .iter()
                .any(|f| f.to_string_lossy().ends_with(&format!("-{kind}.json"))),
            "no {kind} saved"
        );
    }
    let out = Command::new(&py)
        .arg(&validator)
        .args(&files)
        .output()
        .expect("run validate-stac.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "invalid STAC documents:\n{text}");
    assert!(
        text.contains(&format!("{n} of {n} documents valid", n = files.len())),
        "{text}"
    );
    drop(dir);
}
