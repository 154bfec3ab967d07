//! The administrative endpoints over a real socket, with the crawler's sync engine and the
//! simulated TDS: bearer token (401 / 403), adding and listing sources, starting syncs and
//! reading their runs and errors, validation of bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use threddex_api::{AdminToken, ApiConfig, AppState, CrawlSyncStarter, SyncStarter};
use threddex_crawler::{CrawlConfig, Harvester, SyncOptions, Syncer};
use threddex_sim::{Fault, FaultRule, NexradSpec, SimConfig, SimServer, TreeSpec};
use threddex_store::Store;
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::{DropDatabase, fresh_database};
use threddex_store_sqlite::SqliteStore;

/// `r` with a JSON body.
fn with_json(r: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    r.header("content-type", "application/json")
        .body(body.to_string())
}

const TOKEN: &str = "admin-test-token-0123456789abcdef";

fn small() -> TreeSpec {
    TreeSpec::Nexrad(NexradSpec {
        products: 2,
        stations: 2,
        days: 2,
        files_per_day: 3,
    })
}

fn crawl_cfg() -> CrawlConfig {
    CrawlConfig {
        rate: 10_000.0,
        per_host_in_flight: 8,
        respect_robots: false,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        backoff_base: Duration::from_millis(10),
        max_retries: 1,
        ..CrawlConfig::default()
    }
}

struct Api {
    base: String,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _db: Option<DropDatabase>,
}

async fn sqlite() -> (Arc<dyn Store>, Option<DropDatabase>) {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    (Arc::new(s), None)
}

async fn postgres() -> (Arc<dyn Store>, Option<DropDatabase>) {
    let (url, guard) = fresh_database().await;
    let s = PostgresStore::connect(&url).await.unwrap();
    (Arc::new(s), Some(guard))
}

/// The API on 127.0.0.1:0 over `store`, with `token` and a sync starter over the crawler.
async fn start(db: (Arc<dyn Store>, Option<DropDatabase>), token: Option<&str>) -> Api {
    let (store, guard) = db;
    let config = ApiConfig {
        admin_token: token.map(|t| AdminToken::new(t).unwrap()),
        ..ApiConfig::default()
    };
    let syncer = Syncer::new(
        Harvester::new(crawl_cfg()).unwrap(),
        Arc::clone(&store),
        SyncOptions::default(),
    );
    let starter: Arc<dyn SyncStarter> = Arc::new(CrawlSyncStarter::new(syncer));
    let state = AppState::new(Arc::clone(&store), None, config).with_sync_starter(Some(starter));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(threddex_api::serve(listener, state, async {
        let _ = rx.await;
    }));
    Api {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        store,
        _shutdown: tx,
        _db: guard,
    }
}

impl Api {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    async fn call(
        &self,
        r: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(self.req(reqwest::Method::GET, path)).await;
        (s, v)
    }

    async fn post(
        &self,
        path: &str,
        body: Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call(with_json(self.req(reqwest::Method::POST, path), &body))
            .await
    }

    async fn put(
        &self,
        path: &str,
        body: Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call(with_json(self.req(reqwest::Method::PUT, path), &body))
            .await
    }

    /// Wait until the run `id` is no longer running; its JSON.
    async fn wait_run(&self, source: &str, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (s, v) = self.get(&format!("/runs?source={source}&limit=100")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let run = v["runs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("run {id} not listed: {v}"));
            if run["status"] != "running" {
                return run;
            }
            assert!(Instant::now() < deadline, "run {id} still running: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Add a source, list it, sync it in the background, read the run; a failing catalog's
/// error is listed; a second sync while one runs is refused.
async fn sources_and_runs(api: Api) {
    let good = SimServer::start(SimConfig {
        tree: small(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (s, h, v) = api
        .post(
            "/sources",
            json!({"name": "good", "url": good.root_catalog_url(), "every": "1h",
                   "authority": "org.example", "select": ["\\.nids$"], "skip": ["latest"],
                   "rules": ["/N0Q/=live", {"pattern": "/\\d{8}/", "class": "archival"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(v["name"], "good");
    assert_eq!(v["url"], good.root_catalog_url());
    assert_eq!(v["every_secs"], 3600);
    assert_eq!(v["rules"][1]["class"], "archival");
    assert_eq!(v["status"], "never");

    // The same name, or the same URL, again: 409.
    let (s, _, v) = api
        .post(
            "/sources",
            json!({"name": "good", "url": "http://127.0.0.1:9/x/catalog.xml"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _, v) = api
        .post(
            "/sources",
            json!({"name": "other", "url": good.root_catalog_url()}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    let (s, v) = api.get("/sources").await;
    assert_eq!(s, StatusCode::OK);
    let list = v["sources"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "good");
    assert_eq!(list[0]["last_sync_at"], Value::Null);

    // Start a sync: 202 with the run, which ends ok with the sim's granules.
    let (s, h, v) = api.post("/sources/good/sync", json!(null)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["run_id"].as_i64().expect("a run ID");
    assert!(
        h["location"]
            .to_str()
            .unwrap()
            .ends_with("/runs?source=good"),
        "{h:?}"
    );
    let run = api.wait_run("good", id).await;
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["kind"], "sync");
    assert_eq!(run["source"], "good");
    assert_eq!(run["granules_added"], good.granule_count());
    assert!(run["catalogs"].as_u64().unwrap() > 1);
    assert_eq!(run["failed"], 0);
    assert!(run["finished_at"].is_string());
    let (_, v) = api.get("/sources").await;
    assert_eq!(v["sources"][0]["status"], "ok");
    assert_eq!(v["sources"][0]["last_run"]["id"], id);
    assert!(v["sources"][0]["last_success_at"].is_string());
    // The granules are searchable.
    let (s, v) = api.get("/collections?limit=100").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!v["collections"].as_array().unwrap().is_empty());

    // A source with a failing catalog: the run is partial and lists the error.
    let bad = SimServer::start(SimConfig {
        tree: small(),
        faults: vec![FaultRule::always("/N0U/TLX/", Fault::Status(404))],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (s, _, v) = api
        .post(
            "/sources",
            json!({"name": "bad", "url": bad.root_catalog_url()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _, v) = api.post("/sources/bad/sync", json!(null)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let run = api.wait_run("bad", v["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["status"], "partial", "{run}");
    assert_eq!(run["failed"], 1);
    let errors = run["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{run}");
    assert!(
        errors[0]["url"].as_str().unwrap().contains("/N0U/TLX/"),
        "{run}"
    );
    assert!(
        errors[0]["error"].as_str().unwrap().contains("404"),
        "{run}"
    );

    // Runs of every source, newest first; limit.
    let (_, v) = api.get("/runs").await;
    let names: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bad", "good"]);
    let (_, v) = api.get("/runs?limit=1").await;
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);

    // While a sync runs (a slow server), another start of the same source is refused.
    let slow = SimServer::start(SimConfig {
        tree: small(),
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (s, _, _) = api
        .post(
            "/sources",
            json!({"name": "slow", "url": slow.root_catalog_url()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, v) = api.post("/sources/slow/sync", json!(null)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let first = v["run_id"].as_i64().unwrap();
    let (s, _, v) = api.post("/sources/slow/sync", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("already running"), "{message}");
    // It names the lease's holder (this process) and when the lease expires.
    assert!(
        message.contains(&format!("held by pid {} on host ", std::process::id())),
        "{message}"
    );
    assert!(
        message.contains("the lease expires at ") && message.contains(" s)"),
        "{message}"
    );
    let run = api.wait_run("slow", first).await;
    assert_eq!(run["status"], "ok", "{run}");
    // Once it ended, a new one may start.
    let (s, _, v) = api.post("/sources/slow/sync", json!(null)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    api.wait_run("slow", v["run_id"].as_i64().unwrap()).await;

    // Unknown sources.
    let (s, _, v) = api.post("/sources/nope/sync", json!(null)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = api.get("/runs?source=nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(api.store.list_runs(None, 0).await.unwrap().len(), 4);

    // PUT /sources/{name}: new settings for a synced source; its data and runs stay.
    let before = api.store.source_by_name("good").await.unwrap().unwrap();
    let collections = api
        .store
        .list_collections(&Default::default())
        .await
        .unwrap();
    let url = good.root_catalog_url();
    let (s, _, v) = api
        .put(
            "/sources/good",
            json!({"url": url, "every": "2h", "rules": ["/latest/=live"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "good");
    assert_eq!(v["every_secs"], 7200);
    assert_eq!(
        v["rules"],
        json!([{"pattern": "/latest/", "class": "live"}])
    );
    assert_eq!(v["authority"], Value::Null, "omitted settings become unset");
    assert_eq!(v["select"], json!([]));
    assert_eq!(v["status"], "ok");
    assert_eq!(v["last_run"]["id"], id);
    let after = api.store.source_by_name("good").await.unwrap().unwrap();
    assert_eq!(
        (after.id, after.created_at, after.last_success_at),
        (before.id, before.created_at, before.last_success_at)
    );
    assert_eq!(after.settings.every_secs, Some(7200));
    assert_eq!(
        api.store
            .list_collections(&Default::default())
            .await
            .unwrap(),
        collections
    );
    assert_eq!(api.store.list_runs(Some("good"), 0).await.unwrap().len(), 1);
    // The name in the body, when given, must be the path's.
    let (s, _, v) = api
        .put(
            "/sources/good",
            json!({"url": url, "name": "good", "every": 60}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["every_secs"], 60);
    let (s, _, v) = api
        .put("/sources/good", json!({"url": url, "name": "renamed"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["parameter"], "name");
    // Another URL: 409; an unknown name: 404; a bad body: 400 naming the field. None
    // changes anything.
    let (s, _, v) = api
        .put(
            "/sources/good",
            json!({"url": "http://127.0.0.1:9/x/catalog.xml", "every": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("URL"),
        "{v}"
    );
    let (s, _, v) = api
        .put(
            "/sources/nope",
            json!({"url": "http://127.0.0.1:9/x/catalog.xml"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _, v) = api
        .put(
            "/sources/good",
            json!({"url": url, "select": ["(unclosed"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["parameter"], "select");
    let (s, _, v) = api.put("/sources/good", json!({"every": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["parameter"], "url");
    let now = api.store.source_by_name("good").await.unwrap().unwrap();
    assert_eq!(now.settings.every_secs, Some(60));
    assert!(api.store.source_by_name("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn sources_and_runs_sqlite() {
    sources_and_runs(start(sqlite().await, Some(TOKEN)).await).await;
}

#[tokio::test]
async fn sources_and_runs_postgres() {
    sources_and_runs(start(postgres().await, Some(TOKEN)).await).await;
}

fn endpoints() -> Vec<(reqwest::Method, &'static str)> {
    vec![
        (reqwest::Method::GET, "/sources"),
        (reqwest::Method::POST, "/sources"),
        (reqwest::Method::PUT, "/sources/any"),
        (reqwest::Method::POST, "/sources/any/sync"),
        (reqwest::Method::GET, "/runs"),
    ]
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401() {
    let api = start(sqlite().await, Some(TOKEN)).await;
    let url = |p: &str| format!("{}{p}", api.base);
    for (method, path) in endpoints() {
        let attempts = [
            api.client.request(method.clone(), url(path)),
            api.client
                .request(method.clone(), url(path))
                .bearer_auth("wrong-token"),
            api.client
                .request(method.clone(), url(path))
                .bearer_auth(&TOKEN[..TOKEN.len() - 1]),
            api.client
                .request(method.clone(), url(path))
                .bearer_auth(format!("{TOKEN}x")),
            api.client
                .request(method.clone(), url(path))
                .basic_auth("admin", Some(TOKEN)),
            api.client
                .request(method.clone(), url(path))
                .header("authorization", TOKEN),
        ];
        for (i, r) in attempts.into_iter().enumerate() {
            let (s, h, v) = api
                .call(with_json(
                    r,
                    &json!({"url": "http://127.0.0.1:9/catalog.xml"}),
                ))
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} #{i}: {v}");
            assert!(
                h["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{h:?}"
            );
            assert!(v["error"]["message"].is_string(), "{v}");
            assert!(!v.to_string().contains(TOKEN));
        }
    }
    // Nothing was added by the refused requests.
    assert!(api.store.list_sources().await.unwrap().is_empty());
    // The scheme name is case-insensitive.
    let (s, _, _) = api
        .call(
            api.client
                .get(url("/sources"))
                .header("authorization", format!("bearer {TOKEN}")),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Denials are counted.
    let (_, _, metrics) = api.call(api.client.get(url("/metrics"))).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("threddex_admin_denied_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_configured_token_admin_endpoints_are_disabled() {
    let api = start(sqlite().await, None).await;
    for (method, path) in endpoints() {
        for with_token in [false, true] {
            let mut r = api
                .client
                .request(method.clone(), format!("{}{path}", api.base));
            if with_token {
                r = r.bearer_auth(TOKEN);
            }
            let (s, _, v) = api
                .call(with_json(
                    r,
                    &json!({"url": "http://127.0.0.1:9/catalog.xml"}),
                ))
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("disabled"),
                "{v}"
            );
        }
    }
    assert!(api.store.list_sources().await.unwrap().is_empty());
    // The read-only API is unaffected.
    let (s, _, _) = api
        .call(api.client.get(format!("{}/collections", api.base)))
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let api = start(sqlite().await, Some(TOKEN)).await;
    let cases = [
        (json!({}), "url"),
        (json!({"url": "ftp://127.0.0.1/catalog.xml"}), "url"),
        (json!({"url": "javascript:alert(1)"}), "url"),
        (
            json!({"url": "http://user:pw@127.0.0.1/catalog.xml"}),
            "url",
        ),
        (json!({"url": ["http://127.0.0.1/c.xml"]}), "url"),
        (
            json!({"url": "http://127.0.0.1/c.xml", "name": "has space"}),
            "name",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "name": "a".repeat(101)}),
            "name",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "every": "often"}),
            "every",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "every": -5}),
            "every",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "select": ["(unclosed"]}),
            "select",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "skip": [1]}),
            "skip",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "rules": ["x=forever"]}),
            "rules",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "authority": 7}),
            "authority",
        ),
        (
            json!({"url": "http://127.0.0.1/c.xml", "password": "x"}),
            "password",
        ),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let (s, _, v) = api.post("/sources", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["parameter"], field, "{body}: {v}");
    }
    // Not JSON at all.
    let (s, _, v) = api
        .call(
            api.req(reqwest::Method::POST, "/sources")
                .header("content-type", "application/json")
                .body("{\"url\": "),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["parameter"], "body");
    let (s, _, v) = api
        .call(
            api.req(reqwest::Method::POST, "/sources")
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Bodies are bounded.
    let huge = json!({"url": "http://127.0.0.1/c.xml", "skip": ["x".repeat(20_000)]});
    let (s, _, v) = api.post("/sources", huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // As JSON, like every other error.
    assert_eq!(v["error"]["parameter"], "body", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("16 KiB")),
        "{v}"
    );
    // Bad query parameters.
    let (s, v) = api.get("/runs?limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api.get("/runs?sauce=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(api.store.list_sources().await.unwrap().is_empty());
    // Everything else stays read-only.
    for path in ["/collections", "/index", "/healthz"] {
        let (s, _, _) = api.call(api.req(reqwest::Method::POST, path)).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    let (s, _, _) = api.call(api.req(reqwest::Method::DELETE, "/sources")).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

/// A URL stored with a password before such URLs were refused never shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_passwords_are_never_shown() {
    let api = start(sqlite().await, Some(TOKEN)).await;
    api.store
        .add_source(&threddex_store::NewSource {
            name: "old".into(),
            url: "http://reader:s3cret-pw@127.0.0.1:9/thredds/catalog.xml".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (s, v) = api.get("/sources").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!v.to_string().contains("s3cret-pw"), "{v}");
    assert_eq!(
        v["sources"][0]["url"],
        "http://reader:*****@127.0.0.1:9/thredds/catalog.xml"
    );
}

/// `POST /sources` without a name derives one as the CLI does: a second start catalog of the
/// same server gets its catalog path in its name instead of a 409; a conflict says how to
/// resolve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_names_tell_start_catalogs_of_one_server_apart() {
    let api = start(sqlite().await, Some(TOKEN)).await;
    let first = "http://127.0.0.1:9/thredds/catalog.xml";
    let second = "http://127.0.0.1:9/thredds/catalog/nexrad/level3/catalog.xml";
    let (s, _, v) = api.post("/sources", json!({ "url": first })).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "127.0.0.1:9");
    let (s, _, v) = api.post("/sources", json!({ "url": second })).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "127.0.0.1:9_nexrad_level3");
    // The same URL again: a conflict naming the way out.
    let (s, _, v) = api.post("/sources", json!({ "url": second })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PUT /sources/")),
        "{v}"
    );
    // Credentials in a URL are refused at every entry point, pointing to [sources.auth].
    let (s, _, v) = api
        .post(
            "/sources",
            json!({ "url": "http://u:p@127.0.0.1:9/thredds/catalog.xml" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["parameter"], "url");
    assert!(v.to_string().contains("[sources.auth]"), "{v}");
}
