//! Soak with faults: `threddex serve` syncs a source every few seconds (its scheduler, plus
//! syncs started over the admin API) while the simulated TDS misbehaves in turn — 5xx bursts,
//! 429 with Retry-After, slow bodies, truncated XML, an HTML error page with 200, a redirect
//! loop, a catalogRef cycle, connections dropped mid-body, and the whole server gone for a
//! while — and the API is under load. The source needs a bearer token (the simulated server
//! refuses requests without it).
//!
//! Afterwards, with the faults gone: the next sync ends `ok`; the index holds exactly the
//! granules the server lists (the server's clock is fixed, so its listing never changes: a
//! fault may only ever delay the index, never lose or invent a granule); the failures are in
//! `GET /runs` and `/metrics`; no API answer was a 5xx; memory and open files stayed flat;
//! neither the admin token nor the source's token shows in the logs, `/metrics`, `/runs`,
//! `/sources` or `/openapi.json`.
//!
//! `THREDDEX_SOAK_SECS` (default 40) sets the length, `THREDDEX_SOAK_GONE_SECS` how long the
//! server is away (default: an eighth of the length, at least 3 s). The 30-minute run of
//! `docs/hostile-inputs.md`:
//! `THREDDEX_SOAK_SECS=1800 THREDDEX_SOAK_GONE_SECS=60 cargo test --release -p threddex --test it soak -- --nocapture`.

use super::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use threddex_sim::{
    Fault, FaultRule, NexradSpec, RequiredHeader, SimClock, SimConfig, SimServer, TreeSpec,
};
use threddex_store::prelude::*;
use threddex_store::{CollectionQuery, GranuleQuery, Timestamp};
use threddex_store_sqlite::SqliteStore;

const TOKEN: &str = "soak-admin-token-6d2b9e41c07f4a3b";
const SOURCE_SECRET: &str = "soak-source-secret-f81c3a5e9b2d";

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sim_config(port: u16, clock: SimClock) -> SimConfig {
    SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 3,
            days: 3,
            files_per_day: 24,
        }),
        clock,
        port,
        require_auth: Some(RequiredHeader::bearer(SOURCE_SECRET)),
        ..SimConfig::default()
    }
}

/// Resident memory (KiB) and open file descriptors of a process.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

/// The fault phases, in order (the server's absence comes last, separately).
fn phases() -> Vec<(&'static str, Vec<FaultRule>)> {
    vec![
        (
            "5xx bursts",
            vec![
                FaultRule::times("/N0Q/", Fault::Status(500), 40),
                FaultRule::times("/N0U/", Fault::Status(502), 40),
                FaultRule::times("/catalog.xml", Fault::Status(503), 10),
            ],
        ),
        (
            "429 Retry-After",
            vec![FaultRule::times(
                "/catalog.xml",
                Fault::TooMany {
                    retry_after_secs: 1,
                },
                20,
            )],
        ),
        (
            "slow bodies",
            vec![FaultRule::always(
                "/catalog.xml",
                Fault::SlowBody {
                    delay: Duration::from_millis(100),
                },
            )],
        ),
        (
            "truncated XML",
            vec![FaultRule::always("/N0Q/", Fault::Truncated)],
        ),
        (
            "HTML error page with 200",
            vec![FaultRule::always("/N0U/", Fault::HtmlErrorPage)],
        ),
        (
            "redirect loop",
            vec![FaultRule::always("/FTG/", Fault::RedirectLoop)],
        ),
        (
            "catalogRef cycle",
            vec![FaultRule::always("/catalog.xml", Fault::Cycle)],
        ),
        (
            "connections dropped mid-body",
            vec![FaultRule::always("/N0Q/", Fault::Reset)],
        ),
    ]
}

/// Every granule of the index: ID → (collection, start).
async fn indexed(store: &dyn Store) -> BTreeMap<String, (String, Option<Timestamp>)> {
    let mut out = BTreeMap::new();
    let collections = store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    for c in collections {
        let granules = store
            .list_granules(&GranuleQuery {
                collection_id: c.info.id.clone(),
                start: None,
                end: None,
                after: None,
                limit: 0,
            })
            .await
            .expect("granules");
        assert_eq!(
            c.granule_count,
            i64::try_from(granules.len()).expect("count"),
            "granule count of {}",
            c.info.id
        );
        for g in granules {
            let prev = out.insert(g.granule_id.clone(), (g.collection_id, g.start));
            assert!(prev.is_none(), "granule {} indexed twice", g.granule_id);
        }
    }
    out
}

/// A Prometheus sample's value (summed over label sets starting with `prefix`).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn admin_post(url: &str) -> u16 {
    client()
        .post(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn admin_get(url: &str) -> (u16, String) {
    match client().get(url).bearer_auth(TOKEN).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Requests that name `lure` (a catalog URL no source has) everywhere a URL could hide:
/// collection and record IDs, free text, CQL and Filter constraints, XML hrefs, the Host
/// header; and admin calls that name it without the token.
async fn hostile_requests(base: &str, lure: &str) {
    let enc: String = url::form_urlencoded::byte_serialize(lure.as_bytes()).collect();
    let host = lure
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    let c = client();
    let gets = [
        format!("{base}/index?collection={enc}&start=2000-01-01&end=2100-01-01"),
        format!("{base}/collections/{enc}"),
        format!("{base}/collections?q={enc}"),
        format!("{base}/csw?service=CSW&version=2.0.2&request=GetRecordById&id={enc}"),
        format!(
            "{base}/csw?service=CSW&version=2.0.2&request=GetRecords&constraintLanguage=CQL_TEXT\
             &constraint_language_version=1.1.0&constraint=dc%3Asource%20%3D%20%27{enc}%27"
        ),
    ];
    for u in &gets {
        let _ = c.get(u).header("host", host).send().await;
    }
    let body = format!(
        "<csw:GetRecords xmlns:csw=\"http://www.opengis.net/cat/csw/2.0.2\" \
         xmlns:xlink=\"http://www.w3.org/1999/xlink\" service=\"CSW\" version=\"2.0.2\" \
         xlink:href=\"{lure}\"><csw:Query typeNames=\"csw:Record\"/></csw:GetRecords>"
    );
    let _ = c.post(format!("{base}/csw")).body(body).send().await;
    let source = format!("{{\"url\": \"{lure}\", \"name\": \"lure\"}}");
    let _ = c.post(format!("{base}/sources")).body(source).send().await;
    let _ = c.post(format!("{base}/sources/soak/sync")).send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_faults_loses_nothing_and_leaks_nothing() {
    let total = Duration::from_secs(env_secs("THREDDEX_SOAK_SECS", 40));
    let gone = Duration::from_secs(env_secs(
        "THREDDEX_SOAK_GONE_SECS",
        (total.as_secs() / 8).max(3),
    ));
    let phases = phases();
    let phase_len = total
        .saturating_sub(gone)
        .checked_div(u32::try_from(phases.len()).expect("phases"))
        .unwrap_or_default()
        .max(Duration::from_secs(3));

    let clock = SimClock::fixed(chrono::Utc::now());
    let mut sim = SimServer::start(sim_config(0, clock.clone()))
        .await
        .expect("sim");
    let port = sim.addr().port();
    let root = sim.root_catalog_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("soak.db");
    std::fs::write(
        dir.path().join("threddex.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[admin]\ntoken = \"{TOKEN}\"\n\
             [api]\nrefresh_deadline = \"800ms\"\n\
             [crawl]\nretries = 2\ntimeout = 5\nrate = 500.0\nconcurrency = 4\n\
             [sync]\nlease_ttl = \"30s\"\n\
             [[sources]]\nname = \"soak\"\nurl = \"{root}\"\nevery = \"2s\"\n\
             [sources.auth]\ntype = \"bearer\"\ntoken = \"{SOURCE_SECRET}\"\n",
            db.display()
        ),
    )
    .expect("config");
    let svc = Service::start(dir.path(), &["serve"]).await;
    let base = svc.base.clone();
    let pid = svc.pid();

    // A server nobody configured: requests that name it must never make threddex fetch it.
    let canary = SimServer::start(SimConfig::default())
        .await
        .expect("canary");
    let lure = canary.root_catalog_url();
    hostile_requests(&base, &lure).await;

    // API load for the whole run: searches, granule listings (with refreshes on demand
    // against the failing server), readiness.
    let server_errors = Arc::new(AtomicU64::new(0));
    let answers = Arc::new(AtomicU64::new(0));
    let load = {
        let (base, server_errors, answers) = (base.clone(), server_errors.clone(), answers.clone());
        tokio::spawn(async move {
            let c = client();
            let mut collection: Option<String> = None;
            loop {
                let mut urls = vec![
                    format!("{base}/collections?q=N0Q&limit=5"),
                    format!("{base}/readyz"),
                ];
                if let Some(id) = &collection {
                    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
                    urls.push(format!("{base}/index?collection={id}&limit=50"));
                }
                for u in urls {
                    if let Ok(r) = c.get(&u).send().await {
                        answers.fetch_add(1, Ordering::Relaxed);
                        if r.status().is_server_error() {
                            server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if collection.is_none() && u.contains("/collections?") {
                            let v: serde_json::Value =
                                serde_json::from_str(&r.text().await.unwrap_or_default())
                                    .unwrap_or_default();
                            collection = v["collections"][0]["id"].as_str().map(str::to_owned);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let started = Instant::now();
    let mut samples: Vec<(f64, u64, usize)> = Vec::new();
    let mut warm: Option<(u64, usize)> = None;
    for (name, rules) in phases {
        eprintln!("soak: {:>6.1}s {name}", started.elapsed().as_secs_f64());
        sim.set_faults(rules);
        let until = Instant::now() + phase_len;
        while Instant::now() < until {
            admin_post(&format!("{base}/sources/soak/sync")).await;
            let (rss, fds) = sample(pid);
            samples.push((started.elapsed().as_secs_f64(), rss, fds));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        warm.get_or_insert_with(|| sample(pid));
    }
    eprintln!(
        "soak: {:>6.1}s the server goes away for {gone:?}",
        started.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
    let until = Instant::now() + gone;
    while Instant::now() < until {
        admin_post(&format!("{base}/sources/soak/sync")).await;
        let (rss, fds) = sample(pid);
        samples.push((started.elapsed().as_secs_f64(), rss, fds));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    sim = SimServer::start(sim_config(port, clock.clone()))
        .await
        .expect("the server comes back on its port");
    eprintln!(
        "soak: {:>6.1}s back, no faults",
        started.elapsed().as_secs_f64()
    );

    // The next sync after the faults ends ok.
    let clean_from = chrono::Utc::now();
    let deadline = Instant::now() + Duration::from_secs(180);
    let last_run = loop {
        assert!(
            Instant::now() < deadline,
            "no clean sync within 3 minutes after the faults"
        );
        admin_post(&format!("{base}/sources/soak/sync")).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, runs) = admin_get(&format!("{base}/runs?source=soak&limit=1")).await;
        let runs: serde_json::Value = serde_json::from_str(&runs).unwrap_or_default();
        let run = &runs["runs"][0];
        let begun = run["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if run["status"] == "ok" && begun.is_some_and(|t| t > clean_from) {
            break run.clone();
        }
    };
    let (rss, fds) = sample(pid);
    samples.push((started.elapsed().as_secs_f64(), rss, fds));
    load.abort();
    hostile_requests(&base, &lure).await;
    assert_eq!(
        canary.counters().total(),
        0,
        "a request made threddex fetch a URL no source names"
    );
    canary.shutdown().await;

    // Failures are visible: in /runs (runs that were partial or failed, with their errors)
    // and in /metrics.
    let (status, runs) = admin_get(&format!("{base}/runs?source=soak&limit=100")).await;
    assert_eq!(status, 200, "{runs}");
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("runs JSON");
    let runs = runs["runs"].as_array().expect("runs").clone();
    let troubled: Vec<&serde_json::Value> = runs
        .iter()
        .filter(|r| r["status"] == "partial" || r["status"] == "failed")
        .collect();
    assert!(
        !troubled.is_empty(),
        "no partial or failed run recorded: {runs:?}"
    );
    assert!(
        troubled
            .iter()
            .any(|r| !r["errors"].as_array().is_none_or(Vec::is_empty)),
        "failed runs name no failing catalog"
    );
    let (_, metrics_text) = admin_get(&format!("{base}/metrics")).await;
    let failed_catalogs = metric(&metrics_text, "threddex_crawl_catalog_failures_total");
    let bad_runs = metric(
        &metrics_text,
        "threddex_crawl_runs_total{status=\"partial\"}",
    ) + metric(
        &metrics_text,
        "threddex_crawl_runs_total{status=\"failed\"}",
    );
    assert!(failed_catalogs > 0.0, "{metrics_text}");
    assert!(bad_runs > 0.0, "{metrics_text}");

    // Nothing shows a secret.
    let mut exposed = vec![
        ("/metrics", metrics_text.clone()),
        ("/runs", serde_json::Value::Array(runs.clone()).to_string()),
    ];
    for path in ["/sources", "/openapi.json"] {
        exposed.push((path, admin_get(&format!("{base}{path}")).await.1));
    }
    let log = svc.stop().await.join("\n");
    exposed.push(("the server log", log.clone()));
    for (what, text) in &exposed {
        for secret in [TOKEN, SOURCE_SECRET] {
            assert!(!text.contains(secret), "a secret shows in {what}");
        }
        assert!(!text.contains("panicked"), "a panic in {what}");
    }
    let answered = answers.load(Ordering::Relaxed);
    let errors = server_errors.load(Ordering::Relaxed);
    assert!(answered > 0, "the API load got no answers");
    assert_eq!(errors, 0, "{errors} of {answered} API answers were 5xx");

    // Memory and open files: flat after the first phase (bounded growth, whatever the
    // length of the run).
    let (warm_rss, warm_fds) = warm.expect("a phase ran");
    let max_fds = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let max_rss = samples.iter().map(|s| s.1).max().unwrap_or(0);
    eprintln!(
        "soak: {} samples over {:.0}s, {answered} API answers, {} runs ({} partial or failed), \
         {failed_catalogs} failed catalogs; RSS after the first phase {} MiB, max {} MiB, last {} \
         MiB; fds after the first phase {warm_fds}, max {max_fds}, last {fds}; last run {}",
        samples.len(),
        started.elapsed().as_secs_f64(),
        runs.len(),
        troubled.len(),
        warm_rss / 1024,
        max_rss / 1024,
        rss / 1024,
        last_run
    );
    assert!(
        fds <= warm_fds + 16,
        "open files grew from {warm_fds} to {fds}: {samples:?}"
    );
    assert!(
        rss <= warm_rss + warm_rss / 2 + 64 * 1024,
        "memory grew from {warm_rss} KiB to {rss} KiB: {samples:?}"
    );

    // The index is exactly what the server lists.
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the index");
    let index = indexed(&store).await;
    let truth: BTreeMap<String, chrono::DateTime<chrono::Utc>> = sim
        .listed_granules()
        .into_iter()
        .map(|g| (g.id, g.time))
        .collect();
    let missing: Vec<&String> = truth.keys().filter(|k| !index.contains_key(*k)).collect();
    let extra: Vec<&String> = index.keys().filter(|k| !truth.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "index differs from the server: {} missing (e.g. {:?}), {} extra (e.g. {:?})",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>()
    );
    for (id, (_, start)) in &index {
        assert_eq!(*start, truth.get(id).copied(), "start of {id}");
    }
    sim.shutdown().await;
}
