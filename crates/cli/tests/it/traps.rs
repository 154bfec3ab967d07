//! What a new user runs into, one test per trap: a mistyped harvest URL, credentials in
//! URLs, a re-run harvest under an unchanged start catalog, `--authority`, colour codes in
//! logs, closed pipes, bad flag values.

use super::common;

use std::process::Stdio;

use chrono::{TimeZone, Utc};
use common::{BIN, Service, command, run, stderr, stdout};
use threddex_sim::{Fault, FaultRule, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};

fn spec() -> NexradSpec {
    NexradSpec {
        products: 2,
        stations: 2,
        days: 2,
        files_per_day: 6,
    }
}

async fn sim_at(t: chrono::DateTime<Utc>, faults: Vec<FaultRule>) -> SimServer {
    SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(spec()),
        clock: SimClock::fixed(t),
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("start sim")
}

async fn sim() -> SimServer {
    sim_at(
        Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap(),
        vec![],
    )
    .await
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Trap 2: a harvest whose start catalog cannot be read registers nothing, so the corrected
/// URL harvests at once; a name conflict says how to resolve it.
#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_harvest_url_leaves_nothing_behind() {
    let server = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let typo = format!("{}/thredds/catalgo.xml", server.base_url());
    let out = run(d, &["harvest", &typo, "--ignore-robots"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read the start catalog")
            && stderr(&out).contains("nothing was registered"),
        "{}",
        stderr(&out)
    );
    let out = run(d, &["sources", "list", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "",
        "no source for an unreadable start catalog"
    );

    // The corrected URL: harvested and registered under the default name.
    let root = server.root_catalog_url();
    let out = run(d, &["harvest", &root, "--ignore-robots", "--rate", "1000"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let host = server.base_url().trim_start_matches("http://").to_string();
    assert!(
        stderr(&out).contains(&format!("registered source {host}")),
        "{}",
        stderr(&out)
    );
    // An unreachable start catalog of a registered source keeps the source.
    server.set_faults(vec![FaultRule {
        path_contains: "/thredds/catalog.xml".into(),
        fault: Fault::Status(503),
        times: None,
    }]);
    let out = run(d, &["harvest", &root, "--ignore-robots", "--retries", "0"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("nothing was registered"));
    server.set_faults(vec![]);
    let sources = json_lines(&stdout(&run(d, &["sources", "list", "--json"]).await));
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["name"], host.as_str());

    // The URL under another name: the error names the source and the ways out.
    let out = run(d, &["harvest", &root, "--name", "other", "--ignore-robots"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("is registered as source \"{host}\""))
            && err.contains(&format!("--name {host}"))
            && err.contains(&format!("threddex sources remove {host}")),
        "{err}"
    );
    // A taken name with another URL: the same.
    let n0q = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/catalog.xml",
        server.base_url()
    );
    let out = run(d, &["harvest", &n0q, "--name", &host, "--ignore-robots"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the name \"{host}\" is taken"))
            && err.contains("another one with --name"),
        "{err}"
    );
    let out = run(d, &["sources", "add", &n0q, "--name", &host]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is taken"), "{}", stderr(&out));
    server.shutdown().await;
}

/// Trap 3: credentials in a URL are refused by every entry point, pointing to
/// `[sources.auth]`; a URL stored with them earlier never shows its password.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_urls_are_refused_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = "http://reader:s3cret-pw@127.0.0.1:9/thredds/catalog.xml";
    for args in [
        vec!["sources", "add", url],
        vec!["harvest", url],
        vec!["harvest", url, "--dry-run"],
    ] {
        let out = run(d, &args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("[sources.auth]"), "{args:?}: {err}");
        assert!(
            !err.contains("s3cret-pw"),
            "{args:?} printed the password: {err}"
        );
    }
    // [[sources]] in the configuration.
    std::fs::write(
        d.join("threddex.toml"),
        format!("[[sources]]\nname = \"x\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let out = run(d, &["sources", "list"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("[sources.auth]"), "{}", stderr(&out));
    std::fs::remove_file(d.join("threddex.toml")).unwrap();
    let out = run(d, &["sources", "list", "--json"]).await;
    assert_eq!(stdout(&out), "", "nothing was stored");

    // A row stored before the check existed (written here straight into the store).
    let db = format!("sqlite://{}", d.join("threddex.db").display());
    let store = threddex::open_store(&db).await.unwrap();
    store
        .add_source(&threddex_store::NewSource {
            name: "old".into(),
            url: url.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    drop(store);
    for args in [vec!["sources", "list"], vec!["sources", "list", "--json"]] {
        let out = run(d, &args).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains("s3cret-pw"),
            "{args:?} printed the password: {all}"
        );
        assert!(stdout(&out).contains("reader:*****@127.0.0.1:9"), "{all}");
        assert!(stderr(&out).contains("[sources.auth]"), "{all}");
    }
}

/// Trap 4: a harvest run again while the start catalog answers 304 still reaches every
/// catalog below it (each with its own conditional request) and finds the new files.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_harvest_finds_new_files_below_an_unchanged_start_catalog() {
    let server = sim_at(Utc.with_ymd_and_hms(2019, 8, 31, 10, 0, 0).unwrap(), vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = server.root_catalog_url();
    let args = [
        "harvest",
        root.as_str(),
        "--ignore-robots",
        "--rate",
        "1000",
    ];
    let out = run(d, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let before = server.granule_count();
    let first_requests = server.counters().total();
    let first_paths = server.counters().distinct_paths();

    // Eight hours later today's folders list more files; nothing above them changed.
    server.clock().advance(chrono::Duration::hours(8));
    let added = server.granule_count() - before;
    assert!(added > 0, "the simulated day gains files");
    server.counters().reset();
    let out = run(d, &args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("({added} new)")), "{err}");
    assert!(
        err.contains("unchanged since the last read (304); their stored children were checked"),
        "{err}"
    );
    // The start catalog and the others that did not change answered 304.
    assert!(server.counters().not_modified() > 0);
    assert!(server.counters().for_path("/thredds/catalog.xml") >= 1);
    // Every catalog of the tree was asked again, once.
    assert_eq!(server.counters().distinct_paths(), first_paths, "{err}");
    assert_eq!(server.counters().total(), first_requests, "{err}");
    server.shutdown().await;
}

/// Trap 4, the other half: a harvest that stops early says so and why.
#[tokio::test(flavor = "multi_thread")]
async fn a_harvest_cut_short_says_why() {
    let server = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let root = server.root_catalog_url();
    let out = run(
        dir.path(),
        &["harvest", &root, "--ignore-robots", "--max-catalogs", "3"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped early: --max-catalogs 3 reached"),
        "{}",
        stderr(&out)
    );
    let out = run(
        dir.path(),
        &[
            "harvest",
            &root,
            "--ignore-robots",
            "--max-depth",
            "1",
            "--dry-run",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("below --max-depth 1 not followed"),
        "{}",
        stderr(&out)
    );
    server.shutdown().await;
}

/// Trap 6: `--authority` names collections only where the catalogs declare no authority;
/// when a catalog's own authority won, the harvest says so.
#[tokio::test(flavor = "multi_thread")]
async fn an_authority_flag_the_catalog_overrides_is_reported() {
    let server = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let root = server.root_catalog_url();
    let out = run(
        dir.path(),
        &[
            "harvest",
            &root,
            "--ignore-robots",
            "--authority",
            "org.example",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--authority org.example was not used for 4 of 4 collections")
            && err.contains("edu.ucar.unidata"),
        "{err}"
    );
    let out = run(dir.path(), &["collections", "--json"]).await;
    for c in json_lines(&stdout(&out)) {
        assert!(
            c["id"].as_str().unwrap().starts_with("edu.ucar.unidata:"),
            "{c}"
        );
    }
    // Without the flag, nothing to say.
    let out = run(dir.path(), &["harvest", &root, "--ignore-robots"]).await;
    assert!(out.status.success());
    assert!(!stderr(&out).contains("--authority"), "{}", stderr(&out));
    server.shutdown().await;
}

/// Trap 7: no colour codes in logs that do not go to a terminal.
#[tokio::test(flavor = "multi_thread")]
async fn logs_to_a_pipe_carry_no_colour_codes() {
    let server = sim_at(
        Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap(),
        vec![FaultRule {
            path_contains: "/N0Q/".into(),
            fault: Fault::Status(500),
            times: None,
        }],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = command(
        dir.path(),
        &[
            "-vv",
            "harvest",
            &server.root_catalog_url(),
            "--ignore-robots",
            "--retries",
            "0",
        ],
    )
    .output()
    .await
    .unwrap();
    let err = stderr(&out);
    // Log lines at several levels, the warnings of the failed catalogs among them.
    assert!(err.contains("WARN") && err.contains("DEBUG"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes: {err:?}");
    server.shutdown().await;
}

/// A closed pipe on stdout (`threddex … | head -1`) ends a command quietly.
#[tokio::test]
async fn a_closed_pipe_ends_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["config", "show"][..],
        &["config", "example"],
        &[
            "ids",
            "--authority",
            "a",
            "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids",
        ],
        &["sources", "list"],
    ] {
        // A pipe whose reading end is closed before the command starts: every write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = command(dir.path(), args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    // Through a shell, as people type it.
    let script = format!("'{BIN}' config example | head -1");
    let out = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("# threddex.toml"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stderr(&out), "");
}

/// Bad values given as flags exit 2, like a bad configuration file.
#[tokio::test]
async fn bad_flag_values_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = "http://127.0.0.1:9/thredds/catalog.xml";
    for (args, says) in [
        (vec!["harvest", url, "--rate", "0"], "crawl.rate (--rate)"),
        (
            vec!["sync", "--lease-ttl", "250ms"],
            "sync.lease_ttl (--lease-ttl)",
        ),
        (
            vec!["serve", "--refresh-deadline", "0s"],
            "--refresh-deadline",
        ),
        (vec!["harvest", url, "--name", "a b"], "name"),
        (vec!["sources", "add", url, "--authority", " "], "authority"),
        (vec!["harvest", "not-a-url"], "is not a URL"),
    ] {
        let out = run(d, &args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

/// `demo --serve` takes the `serve` flags, `--no-scheduler` among them.
#[tokio::test(flavor = "multi_thread")]
async fn demo_serve_takes_no_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let s = Service::start(
        dir.path(),
        &[
            "demo",
            "--serve",
            "--no-scheduler",
            "--stations",
            "1",
            "--days",
            "1",
        ],
    )
    .await;
    let (status, body) = common::get_json(&format!("{}/collections?q=NEXRAD3", s.base)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["collections"].as_array().unwrap().is_empty(),
        "{body}"
    );
    s.stop().await;
    // Without --serve it means nothing: refused.
    let out = run(dir.path(), &["demo", "--no-scheduler"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `sources list` shows how syncs are going: the latest run's status and the failed catalogs.
#[tokio::test(flavor = "multi_thread")]
async fn sources_list_shows_status_and_failed_catalogs() {
    let server = sim_at(
        Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap(),
        vec![FaultRule {
            path_contains: "/N0Q/".into(),
            fault: Fault::Status(500),
            times: None,
        }],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(
        d,
        &[
            "harvest",
            &server.root_catalog_url(),
            "--ignore-robots",
            "--retries",
            "0",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let failed = stderr(&out).matches("  failed: ").count();
    assert!(failed > 0, "{}", stderr(&out));
    let s = &json_lines(&stdout(&run(d, &["sources", "list", "--json"]).await))[0];
    assert_eq!(s["status"], "partial", "{s}");
    assert_eq!(s["failed_catalogs"], failed, "{s}");
    let out = run(d, &["sources", "list"]).await;
    let table = stdout(&out);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let row: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("STATUS"), "partial");
    assert_eq!(col("FAILED CATALOGS"), failed.to_string());
    server.shutdown().await;
}
