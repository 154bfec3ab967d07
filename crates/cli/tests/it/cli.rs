//! The `threddex` binary driven as a user would, against the simulated TDS on loopback.

use std::process::Output;

use chrono::{TimeZone, Utc};
use threddex_sim::{Fault, FaultRule, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};

const BIN: &str = env!("CARGO_BIN_EXE_threddex");

async fn threddex(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::process::Command::new(BIN)
        .args(&args)
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn")
        .output()
        .await
        .expect("run threddex")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn spec() -> NexradSpec {
    NexradSpec {
        products: 2,
        stations: 2,
        days: 2,
        files_per_day: 6,
    }
}

async fn sim(faults: Vec<FaultRule>) -> SimServer {
    SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(spec()),
        clock: SimClock::fixed(Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap()),
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("start sim")
}

#[tokio::test]
async fn ids_prints_the_papers_three_cases() {
    let out = threddex(&[
        "ids",
        "--authority",
        "edu.ucar.unidata",
        "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids",
        "grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana_20190731_0000.grib2",
        "goes-west-products/CloudAndMoistureImagery/Mesoscale-2/Channel16/20190831/OR_ABI-L2-CMIPM2-M6C16_G17_s20192430003570_e20192430003570_c20192430003570.nc",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0][0],
        "edu.ucar.unidata:NWS/NEXRAD3/PTA/YUX/Level3_YUX_PTA.nids"
    );
    assert_eq!(lines[0][1], "2019-08-30T17:13:00Z");
    assert_eq!(
        lines[1][0],
        "edu.ucar.unidata:grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana.grib2"
    );
    assert_eq!(lines[1][1], "2019-07-31T00:00:00Z");
    assert_eq!(
        lines[2][0],
        "edu.ucar.unidata:goes-west-products/CloudAndMoistureImagery/Mesoscale-2/Channel16/OR_ABI-L2-CMIPM2-M6C16_G17.nc"
    );
    assert!(
        lines[2][1].starts_with("2019-08-31T00:03:57"),
        "{}",
        lines[2][1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn harvest_then_search_from_the_command_line() {
    let server = sim(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let url = server.root_catalog_url();
    let expected = server.granule_count();

    let out = threddex(&[
        "harvest",
        &url,
        "--db",
        &db,
        "--ignore-robots",
        "--rate",
        "1000",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{expected} granules ({expected} new)")),
        "{}",
        stderr(&out)
    );

    // 2 products x 2 stations = 4 collections.
    let out = threddex(&["collections", "--db", &db, "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let cols: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cols.len(), 4, "{cols:?}");
    let total: i64 = cols.iter().map(|c| c["granules"].as_i64().unwrap()).sum();
    assert_eq!(total as u64, expected);
    let id = cols[0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("edu.ucar.unidata:NWS/NEXRAD3/"), "{id}");
    assert!(!id.contains("2019"), "timestamps stripped: {id}");

    // One day of one collection: files_per_day granules.
    let out = threddex(&[
        "granules",
        &id,
        "--db",
        &db,
        "--start",
        "2019-08-31",
        "--end",
        "2019-09-01",
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let grans: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(grans.len(), spec().files_per_day);
    for g in &grans {
        assert!(
            g["start"].as_str().unwrap().starts_with("2019-08-31"),
            "{g}"
        );
        assert!(!g["access"].as_array().unwrap().is_empty(), "{g}");
    }

    // A re-harvest adds nothing.
    let out = threddex(&[
        "harvest",
        &url,
        "--db",
        &db,
        "--ignore-robots",
        "--rate",
        "1000",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("(0 new)"), "{}", stderr(&out));

    // Bad input is a clear error, not a crash.
    let out = threddex(&["granules", "no-such-collection", "--db", &db]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no collection"), "{}", stderr(&out));
    let out = threddex(&["granules", &id, "--db", &db, "--start", "2019-02-30"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a time"), "{}", stderr(&out));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_json_lines_and_writes_nothing() {
    let server = sim(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("never.db");
    let db = format!("sqlite://{}", db_path.display());
    let out = threddex(&[
        "harvest",
        &server.root_catalog_url(),
        "--db",
        &db,
        "--ignore-robots",
        "--rate",
        "1000",
        "--dry-run",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len() as u64, server.granule_count());
    for r in &rows {
        for key in ["collection", "id", "start", "end", "url_path", "catalog"] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        assert!(
            r["catalog"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
    assert!(!db_path.exists(), "dry run must not create the database");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_start_catalog_exits_non_zero() {
    let server = sim(vec![FaultRule {
        path_contains: "/thredds/catalog.xml".to_string(),
        fault: Fault::Status(404),
        times: None,
    }])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = threddex(&[
        "harvest",
        &server.root_catalog_url(),
        "--db",
        &db,
        "--ignore-robots",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read the start catalog"),
        "{}",
        stderr(&out)
    );

    let out = threddex(&["harvest", "not-a-url", "--db", &db]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a URL"), "{}", stderr(&out));
    server.shutdown().await;
}

/// Two start catalogs of one server harvested one after the other, without `--name`: the
/// second gets a default name of its own (host[:port] plus its catalog path), harvesting a
/// URL again reuses its source, and `sources add` derives names the same way.
#[tokio::test(flavor = "multi_thread")]
async fn two_start_catalogs_of_one_server_get_their_own_sources() {
    let server = sim(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let base = server.base_url();
    let host = base.trim_start_matches("http://").to_string();
    let n0q = format!("{base}/thredds/catalog/nexrad/level3/N0Q/catalog.xml");
    let n0u = format!("{base}/thredds/catalog/nexrad/level3/N0U/catalog.xml");
    let harvest = |url: String| {
        let db = db.clone();
        async move {
            threddex(&[
                "harvest",
                &url,
                "--db",
                &db,
                "--ignore-robots",
                "--rate",
                "1000",
            ])
            .await
        }
    };
    let sources = || async {
        let out = threddex(&["sources", "list", "--json", "--db", &db]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["url"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    // One product's share of the server: 2 stations x 2 days x 6 files.
    let per_product = server.granule_count() / 2;

    let out = harvest(n0q.clone()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("registered source {host} for {n0q}")),
        "{}",
        stderr(&out)
    );
    let out = harvest(n0u.clone()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let second = format!("{host}_nexrad_level3_N0U");
    assert!(
        stderr(&out).contains(&format!("registered source {second} for {n0u}")),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!("{per_product} granules ({per_product} new)")),
        "{}",
        stderr(&out)
    );
    let mut want = vec![(host.clone(), n0q.clone()), (second.clone(), n0u.clone())];
    want.sort();
    let mut got = sources().await;
    got.sort();
    assert_eq!(got, want);

    // The same URL again: its source, nothing new registered or harvested.
    let out = harvest(n0u.clone()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("registered source"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("(0 new)"), "{}", stderr(&out));
    let mut got = sources().await;
    got.sort();
    assert_eq!(got, want);
    // Each source syncs on its own.
    let out = threddex(&["sync", "--source", &second, "--db", &db, "--rate", "1000"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // `sources add` names the same way: a registered URL keeps its name (--if-missing is
    // satisfied), the server's root catalog (no path part) and a taken path name get -2.
    let out = threddex(&["sources", "add", &n0q, "--if-missing", "--db", &db]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("registered already"),
        "{}",
        stdout(&out)
    );
    let out = threddex(&["sources", "add", &n0q, "--db", &db]).await;
    assert!(!out.status.success(), "the URL is registered");
    let root = server.root_catalog_url();
    let out = threddex(&["sources", "add", &root, "--db", &db]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("added source {host}-2 ({root})")),
        "{}",
        stdout(&out)
    );
    let ncr = format!("{base}/thredds/catalog/nexrad/level3/NCR/catalog.xml");
    let out = threddex(&[
        "sources",
        "add",
        &format!("{base}/thredds/catalog/other/catalog.xml"),
        "--name",
        &format!("{host}_nexrad_level3_NCR"),
        "--db",
        &db,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = threddex(&["sources", "add", &ncr, "--db", &db]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("added source {host}_nexrad_level3_NCR-2 ({ncr})")),
        "{}",
        stdout(&out)
    );
    // --name still names it.
    let n0r = format!("{base}/thredds/catalog/nexrad/level3/N0R/catalog.xml");
    let out = threddex(&["sources", "add", &n0r, "--name", "mine", "--db", &db]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sources().await.len(), 6);
    server.shutdown().await;
}

/// `threddex changes`: the harvest's entries as CloudEvent lines, from a cursor, filtered;
/// `--follow` prints what commits later (here: the source's removal).
#[tokio::test]
async fn changes_lists_and_follows_the_change_log() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let server = sim(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let url = server.root_catalog_url();
    let out = threddex(&[
        "harvest",
        &url,
        "--db",
        &db,
        "--name",
        "sim",
        "--ignore-robots",
        "--rate",
        "1000",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = threddex(&["changes", "--db", &db]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("org.threddex.collection.created"), 4, "{events:?}");
    let added: u64 = events
        .iter()
        .filter(|e| e["type"] == "org.threddex.granules.added")
        .map(|e| e["data"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        added,
        server.granule_count(),
        "every harvested granule is in the log"
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let head = *ids.last().unwrap();
    assert!(
        stderr(&out).contains(&format!("next cursor: {head}")),
        "{}",
        stderr(&out)
    );

    // From a cursor, one collection.
    let first = events[0]["subject"].as_str().unwrap();
    let out = threddex(&[
        "changes",
        "--db",
        &db,
        "--after",
        "1",
        "--collection",
        first,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .all(|e| e["subject"] == first && e["id"] != "1"),
        "{}",
        stdout(&out)
    );

    // Following: the removal of the source shows up as it commits.
    let mut follow = tokio::process::Command::new(BIN)
        .args([
            "changes",
            "--db",
            &db,
            "--after",
            &head.to_string(),
            "--follow",
            "--poll",
            "50ms",
        ])
        .env("THREDDEX_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let out = threddex(&["sources", "remove", "sim", "--db", &db]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut removed = Vec::new();
    while removed.len() < 4 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("followed within 30 s")
            .unwrap()
            .expect("still following");
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(e["type"], "org.threddex.collection.removed");
        removed.push(e["id"].as_str().unwrap().parse::<i64>().unwrap());
    }
    assert_eq!(removed, (head + 1..=head + 4).collect::<Vec<_>>());
    follow.kill().await.unwrap();
}
