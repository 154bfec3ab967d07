//! `threddex.toml` through the binary: layering with the environment, unknown keys, secrets
//! never printed, `[[sources]]` registered by `sync` and `serve` (with credentials from the
//! environment), `sources add --if-missing` and `healthcheck`.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use threddex_sim::{NexradSpec, RequiredHeader, SimClock, SimConfig, SimServer, TreeSpec};

const BIN: &str = env!("CARGO_BIN_EXE_threddex");

/// The binary in `dir`, with no configuration inherited from the test's environment.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("THREDDEX_DATABASE_URL")
        .env_remove("THREDDEX_CONFIG")
        .env("THREDDEX_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("THREDDEX__") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env)
        .output()
        .await
        .expect("run threddex")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("t.db").display())
}

#[tokio::test]
async fn file_env_layers_unknown_keys_and_redaction() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("threddex.toml"),
        format!(
            r#"
[database]
url = "{}"
[crawl]
rate = 3
concurrency = 2
[admin]
token = "file-token-secret"
[[sources]]
name = "s"
url = "http://127.0.0.1:1/thredds/catalog.xml"
[sources.auth]
type = "basic"
username = "reader"
password = "src-pass-secret"
"#,
            sqlite(d)
        ),
    )
    .unwrap();
    // ./threddex.toml is read by default; THREDDEX__ variables override it.
    let o = run(
        d,
        &["config", "show"],
        &[
            ("THREDDEX__CRAWL__CONCURRENCY", "5"),
            (
                "THREDDEX__DATABASE__URL",
                "postgres://u:pg-pass-secret@127.0.0.1:5432/x",
            ),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let shown = out(&o);
    assert!(shown.contains("# file: threddex.toml"), "{shown}");
    assert!(shown.contains("THREDDEX__CRAWL__CONCURRENCY"), "{shown}");
    assert!(shown.contains("concurrency = 5"), "{shown}");
    assert!(shown.contains("rate = 3.0"), "{shown}");
    assert!(
        shown.contains("postgres://u:*****@127.0.0.1:5432/x"),
        "{shown}"
    );
    assert!(shown.contains("[redacted]"), "{shown}");
    for secret in ["file-token-secret", "src-pass-secret", "pg-pass-secret"] {
        assert!(!shown.contains(secret), "{secret} printed: {shown}");
    }

    // The example needs no configuration and names every section.
    let empty = tempfile::tempdir().unwrap();
    let o = run(empty.path(), &["config", "example"], &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    for section in [
        "[database]",
        "[api]",
        "[crawl]",
        "[sync]",
        "[log]",
        "[admin]",
        "#[[sources]]",
    ] {
        assert!(out(&o).contains(section), "{section}");
    }
    // ... even next to a broken config file.
    std::fs::write(d.join("bad.toml"), "[crawl]\nconcurency = 3\n").unwrap();
    let o = run(d, &["--config", "bad.toml", "config", "example"], &[]).await;
    assert!(o.status.success(), "{}", err(&o));

    // Unknown keys: in the file (named with the file), in the environment (named with the
    // variable).
    let o = run(d, &["--config", "bad.toml", "collections"], &[]).await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("bad.toml") && err(&o).contains("concurency"),
        "{}",
        err(&o)
    );
    let o = run(d, &["collections"], &[("THREDDEX_CONFIG", "bad.toml")]).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "THREDDEX_CONFIG is read: {}",
        err(&o)
    );
    let o = run(d, &["healthcheck"], &[("THREDDEX_CONFIG", "bad.toml")]).await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "health checks exit 0 or 1: {}",
        err(&o)
    );
    let o = run(
        d,
        &["--config", "threddex.toml", "collections"],
        &[("THREDDEX_CONFIG", "bad.toml")],
    )
    .await;
    assert!(o.status.success(), "--config wins: {}", err(&o));
    let o = run(d, &["collections"], &[("THREDDEX__CRAWL__RAT", "3")]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("THREDDEX__CRAWL__RAT"), "{}", err(&o));
    let o = run(d, &["--config", "missing.toml", "collections"], &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("missing.toml"), "{}", err(&o));
    // A bad value names the key.
    let o = run(d, &["collections"], &[("THREDDEX__SYNC__GRACE", "soon")]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("sync.grace"), "{}", err(&o));
}

async fn sim(require_auth: Option<RequiredHeader>) -> SimServer {
    SimServer::start(SimConfig {
        require_auth,
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 2,
            days: 2,
            files_per_day: 4,
        }),
        clock: SimClock::fixed(Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap()),
        ..SimConfig::default()
    })
    .await
    .expect("start sim")
}

#[tokio::test]
async fn sync_and_harvest_use_the_config_sources_and_credentials() {
    // The server answers only requests carrying the token.
    let sim = sim(Some(RequiredHeader::bearer("sim-token-secret"))).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("threddex.toml"),
        format!(
            r#"
[database]
url = "{}"
[crawl]
rate = 1000
ignore_robots = true
[[sources]]
name = "sim"
url = "{}"
every = "1h"
rules = ["/latest/=live"]
auth = {{ type = "bearer", token_env = "THREDDEX_TEST_SIM_TOKEN" }}
"#,
            sqlite(d),
            sim.root_catalog_url()
        ),
    )
    .unwrap();
    // The credentials' variable is read at start: unset, the sync stops and names it.
    let o = run(d, &["sync"], &[]).await;
    assert!(!o.status.success());
    assert!(
        err(&o).contains("THREDDEX_TEST_SIM_TOKEN") && err(&o).contains("not set"),
        "{}",
        err(&o)
    );
    let o = run(
        d,
        &["-vv", "sync"],
        &[
            ("THREDDEX_TEST_SIM_TOKEN", "sim-token-secret"),
            ("THREDDEX_LOG", "debug"),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        !err(&o).contains("sim-token-secret"),
        "token logged: {}",
        err(&o)
    );
    let o = run(d, &["sources", "list", "--json"], &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    let listed: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(listed["name"], "sim");
    assert_eq!(listed["every_secs"], 3600);
    assert_eq!(listed["rules"][0]["pattern"], "/latest/");
    assert!(!listed["last_success_at"].is_null(), "{listed}");
    assert!(!out(&o).contains("sim-token-secret"));
    let o = run(d, &["collections", "--json"], &[]).await;
    assert_eq!(out(&o).lines().count(), 2, "{}", out(&o));
    assert_eq!(
        sim.counters().unauthorized(),
        0,
        "every request had the token"
    );

    // The file's every and rules change: the next start applies them (logged by key name),
    // keeping the source's registration, sync times and collections.
    let toml = std::fs::read_to_string(d.join("threddex.toml")).unwrap();
    let edited = toml.replace(r#"every = "1h""#, r#"every = "2h""#).replace(
        r#"rules = ["/latest/=live"]"#,
        r#"rules = ['/\d{8}/=archival']"#,
    );
    assert_ne!(edited, toml);
    std::fs::write(d.join("threddex.toml"), edited).unwrap();
    let o = run(
        d,
        &["sync"],
        &[
            ("THREDDEX_TEST_SIM_TOKEN", "sim-token-secret"),
            ("THREDDEX_LOG", "info"),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("updated source settings from the config")
            && err(&o).contains("every, rules"),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("sim-token-secret"), "{}", err(&o));
    let o = run(d, &["sources", "list", "--json"], &[]).await;
    let relisted: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(relisted["every_secs"], 7200);
    assert_eq!(relisted["rules"][0]["pattern"], r"/\d{8}/");
    assert_eq!(relisted["rules"][0]["class"], "archival");
    assert_eq!(relisted["created_at"], listed["created_at"]);
    assert!(!relisted["last_success_at"].is_null(), "{relisted}");
    let o = run(d, &["collections", "--json"], &[]).await;
    assert_eq!(out(&o).lines().count(), 2, "{}", out(&o));
    // Another start with the same file changes nothing.
    let o = run(
        d,
        &["sync"],
        &[
            ("THREDDEX_TEST_SIM_TOKEN", "sim-token-secret"),
            ("THREDDEX_LOG", "info"),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("updated source settings"), "{}", err(&o));

    // `harvest URL` of a config source sends its credentials too (into another database).
    let other = format!("sqlite://{}", d.join("other.db").display());
    let root = sim.root_catalog_url();
    let o = run(
        d,
        &["harvest", &root, "--db", &other],
        &[("THREDDEX_TEST_SIM_TOKEN", "sim-token-secret")],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(sim.counters().unauthorized(), 0);
    let o = run(d, &["sources", "list", "--json", "--db", &other], &[]).await;
    assert!(
        out(&o).contains("\"name\":\"sim\""),
        "named after the config source: {}",
        out(&o)
    );
    // Without the config (another directory), the server refuses the same harvest.
    let elsewhere = tempfile::tempdir().unwrap();
    let o = run(
        elsewhere.path(),
        &["harvest", &root, "--db", &sqlite(elsewhere.path())],
        &[("THREDDEX_TEST_SIM_TOKEN", "sim-token-secret")],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(sim.counters().unauthorized() > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn sources_add_if_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite(d);
    let url = "http://127.0.0.1:1/thredds/catalog.xml";
    let add = |u: &'static str, extra: &'static [&'static str]| {
        let db = db.clone();
        async move {
            let mut args = vec!["sources", "add", u, "--db", &db, "--name", "a"];
            args.extend_from_slice(extra);
            run(d, &args, &[]).await
        }
    };
    let o = add(url, &["--if-missing"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let o = add(url, &["--if-missing"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("registered already"), "{}", out(&o));
    let o = add(url, &[]).await;
    assert!(!o.status.success(), "without --if-missing: an error");
    let o = add("http://127.0.0.1:2/thredds/catalog.xml", &["--if-missing"]).await;
    assert!(!o.status.success());
    assert!(err(&o).contains("another URL"), "{}", err(&o));
}

#[tokio::test]
async fn serve_from_the_config_and_healthcheck() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        d.join("threddex.toml"),
        format!(
            r#"
[database]
url = "{}"
[api]
bind = "127.0.0.1:{port}"
[sync]
scheduler = false
[[sources]]
name = "far"
url = "http://127.0.0.1:1/thredds/catalog.xml"
every = "2h"
"#,
            sqlite(d)
        ),
    )
    .unwrap();
    // Nothing listens yet.
    let o = run(d, &["healthcheck"], &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));

    let env = [
        ("THREDDEX__ADMIN__TOKEN", "admin-token-secret"),
        ("THREDDEX_LOG", "debug"),
    ];
    let mut child = command(d, &["serve"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let stderr = child.stderr.take().unwrap();
    let drain = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = String::new();
        let mut r = stderr;
        let _ = r.read_to_string(&mut buf).await;
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = run(d, &["healthcheck"], &[]).await;
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.code(), Some(1));
        assert!(Instant::now() < deadline, "never healthy: {}", err(&o));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = run(
        d,
        &["healthcheck", "--url", &format!("http://127.0.0.1:{port}/")],
        &[],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = run(d, &["healthcheck", "--url", "http://127.0.0.1:1"], &[]).await;
    assert_eq!(o.status.code(), Some(1));

    // The admin token from the environment guards the admin endpoints.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sources = format!("http://127.0.0.1:{port}/sources");
    let r = client.get(&sources).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(&sources)
        .bearer_auth("admin-token-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("\"far\""));

    // The config's source was registered at start.
    let o = run(d, &["sources", "list", "--json"], &[]).await;
    let listed: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(listed["name"], "far");
    assert_eq!(listed["every_secs"], 7200);

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("serve exits after SIGTERM")
        .unwrap();
    let log = drain.await.unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("[redacted]"),
        "the config is logged at debug: {log}"
    );
    assert!(!log.contains("admin-token-secret"), "{log}");
}
