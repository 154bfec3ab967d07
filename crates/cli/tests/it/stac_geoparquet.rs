//! `threddex export --format stac-geoparquet` as a user runs it: harvest the simulated TDS,
//! export, and read the files back in Python (pyarrow, and stac-geoparquet's own reader) into
//! the collections and items the STAC API serves, with the granules `/index` lists.
//!
//! The interpreter is `$THREDDEX_PYTHON`, else `.venv/bin/python` at the repository root
//! (`.ci/run` installs pinned pyarrow and stac-geoparquet there). With `CI=true` a missing
//! interpreter or package fails the test; elsewhere the Python part is skipped with a note.

use super::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use threddex_sim::{GoesSpec, ModelSpec, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::{CollectionQuery, GranuleQuery};

const PUBLIC: &str = "http://example.test/tx";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python interpreter with pyarrow and stac-geoparquet, or None (skip) outside CI.
fn python() -> Option<PathBuf> {
    let py = std::env::var_os("THREDDEX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let ok = std::process::Command::new(&py)
        .args(["-c", "import pyarrow, stac_geoparquet"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let msg = format!(
        "no Python with pyarrow and stac-geoparquet at {} (set THREDDEX_PYTHON, or run: \
         python3 -m venv .venv && .venv/bin/pip install pyarrow==26.0.1 stac-geoparquet==0.8.3)",
        py.display()
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("skipping the Python read-back: {msg}");
    None
}

/// NEXRAD and GOES collections (with a footprint) and model runs (without: null geometry).
async fn sim() -> SimServer {
    SimServer::start(SimConfig {
        tree: TreeSpec::Mixed(vec![
            TreeSpec::Nexrad(NexradSpec {
                products: 2,
                stations: 2,
                days: 2,
                files_per_day: 5,
            }),
            TreeSpec::Goes(GoesSpec {
                sectors: 1,
                channels: 1,
                days: 2,
                files_per_day: 3,
                ..GoesSpec::default()
            }),
            TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 3 }),
        ]),
        clock: SimClock::fixed(Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap()),
        ..SimConfig::default()
    })
    .await
    .expect("start sim")
}

async fn harvest(dir: &std::path::Path, server: &SimServer, db: &str) {
    let out = common::run(
        dir,
        &[
            "harvest",
            &server.root_catalog_url(),
            "--db",
            db,
            "--ignore-robots",
            "--rate",
            "1000",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", common::stderr(&out));
}

/// The granule IDs `/index` lists for a collection, every page.
async fn index_ids(base: &str, id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{base}/index?collection={}&limit=1000",
            threddex_stac::segment(id)
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", threddex_stac::segment(c)));
        }
        let (status, body) = common::get_json(&url).await;
        assert_eq!(status, 200, "{url}: {body}");
        for g in body["granules"].as_array().expect("granules") {
            ids.push(g["id"].as_str().expect("id").to_owned());
        }
        match body["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return ids,
        }
    }
}

/// A collection's items as `/stac/collections/{id}/items` serves them, every page (the
/// `next` links name the public URL; they are followed on the local server).
async fn stac_items(base: &str, id: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = format!(
        "{base}/stac/collections/{}/items?limit=10000",
        threddex_stac::segment(id)
    );
    loop {
        let (status, body) = common::get_json(&url).await;
        assert_eq!(status, 200, "{url}: {body}");
        items.extend(
            body["features"]
                .as_array()
                .expect("features")
                .iter()
                .cloned(),
        );
        let next = body["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["rel"] == "next")
            .and_then(|l| l["href"].as_str());
        match next {
            Some(href) => url = href.replacen(PUBLIC, base, 1),
            None => return items,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_files_read_back_in_python_as_the_items_served() {
    let py = python();
    let server = sim().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    harvest(dir.path(), &server, &db).await;

    let out = common::run(
        dir.path(),
        &[
            "export",
            "--format",
            "stac-geoparquet",
            "--out",
            "out",
            "--db",
            &db,
            "--public-url",
            PUBLIC,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", common::stderr(&out));

    // What threddex serves over the same store: the STAC API's collections and items (links
    // under the same public URL), and the granules of /index.
    let store = threddex::open_store(&db).await.expect("store");
    let collections = store
        .list_collections(&CollectionQuery {
            limit: 1000,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    assert!(collections.len() >= 6, "{}", collections.len());
    assert!(collections.iter().any(|c| c.info.bbox.is_none()));
    assert!(collections.iter().any(|c| c.info.bbox.is_some()));
    let urls = threddex_stac::Urls::new(PUBLIC);
    let service = common::Service::start(
        dir.path(),
        &[
            "serve",
            "--no-scheduler",
            "--db",
            &db,
            "--public-url",
            PUBLIC,
        ],
    )
    .await;
    let mut expected = BTreeMap::new();
    let mut total = 0usize;
    for c in &collections {
        let id = &c.info.id;
        let served = stac_items(&service.base, id).await;
        // The encoder over the store gives the same items, in the same order.
        let granules = store
            .list_granules(&GranuleQuery {
                collection_id: id.clone(),
                start: None,
                end: None,
                after: None,
                limit: 0,
            })
            .await
            .expect("granules");
        let ctx = threddex_stac::ItemContext::of(&urls.stac, c);
        let encoded: Vec<Value> = granules
            .iter()
            .map(|g| threddex_stac::item(g, &ctx))
            .collect();
        assert_eq!(served, encoded, "{id}: /stac items vs the encoder");
        assert_eq!(served.len() as i64, c.granule_count, "{id}");
        total += served.len();
        let (status, collection) = common::get_json(&format!(
            "{}/stac/collections/{}",
            service.base,
            threddex_stac::segment(id)
        ))
        .await;
        assert_eq!(status, 200, "{collection}");
        expected.insert(
            format!("{}.parquet", threddex::export_file_stem(id)),
            json!({
                "collection": collection,
                "items": served,
                "index_ids": index_ids(&service.base, id).await,
            }),
        );
    }
    service.stop().await;
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains(&format!(
            "wrote {total} STAC items of {} collections",
            collections.len()
        )),
        "{stderr}"
    );

    let Some(py) = py else {
        return;
    };
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, serde_json::to_vec(&expected).expect("json")).expect("write");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/stac_geoparquet_read.py");
    let read = tokio::process::Command::new(&py)
        .arg(&script)
        .arg(dir.path().join("out"))
        .arg(&expected_path)
        .output()
        .await
        .expect("run python");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&read.stdout),
        String::from_utf8_lossy(&read.stderr),
    );
    assert!(read.status.success(), "{stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).expect("summary");
    assert_eq!(summary["files"], json!(collections.len()), "{summary}");
    assert_eq!(summary["items"], json!(total), "{summary}");
    // stac-geoparquet's reader read every file whose items all have a footprint.
    let with_geometry = collections.iter().filter(|c| c.info.bbox.is_some()).count();
    assert_eq!(
        summary["read_with_stac_geoparquet"],
        json!(with_geometry),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_chosen_collections_and_refuse_unknown_ones() {
    let server = sim().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    harvest(dir.path(), &server, &db).await;
    let store = threddex::open_store(&db).await.expect("store");
    let all = store
        .list_collections(&CollectionQuery {
            limit: 1000,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    let (a, b) = (&all[0].info.id, &all[1].info.id);

    let out = common::run(
        dir.path(),
        &[
            "export",
            "--format",
            "stac-geoparquet",
            "--out",
            "two",
            "--db",
            &db,
            "--collection",
            a,
            "--collection",
            b,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", common::stderr(&out));
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("two"))
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want = vec![
        format!("{}.parquet", threddex::export_file_stem(a)),
        format!("{}.parquet", threddex::export_file_stem(b)),
    ];
    want.sort();
    assert_eq!(files, want);

    let out = common::run(
        dir.path(),
        &[
            "export",
            "--format",
            "stac-geoparquet",
            "--out",
            "none",
            "--db",
            &db,
            "--collection",
            a,
            "--collection",
            "no:such/collection",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("unknown collection \"no:such/collection\""),
        "{}",
        common::stderr(&out)
    );
    assert!(!dir.path().join("none").exists(), "nothing is written");

    let out = common::run(
        dir.path(),
        &["export", "--out", "iso", "--db", &db, "--collection", a],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("--collection is for --format stac-geoparquet"),
        "{}",
        common::stderr(&out)
    );
}
