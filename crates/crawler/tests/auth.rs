//! Per-source credentials against the simulated TDS in "require auth" mode: sent on every
//! request to the source's origin (catalogs, robots.txt, ISO records), never to another host,
//! recorded clearly when missing, redacted in Debug output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use threddex_crawler::{
    CrawlConfig, CrawlError, Harvester, Progress, SourceAuth, StoreSink, SyncOptions, Syncer,
};
use threddex_sim::{
    Fault, FaultRule, ModelSpec, NexradSpec, RequiredHeader, SimConfig, SimServer, TreeSpec,
};
use threddex_store::{CatalogStatus, NewSource, RunKind, RunStatus, Source, Store};
use threddex_store_sqlite::SqliteStore;

fn small() -> TreeSpec {
    TreeSpec::Nexrad(NexradSpec {
        products: 2,
        stations: 2,
        days: 2,
        files_per_day: 3,
    })
}

fn cfg() -> CrawlConfig {
    CrawlConfig {
        rate: 10_000.0,
        per_host_in_flight: 8,
        // robots.txt is fetched (with the credentials: the sim guards it too).
        respect_robots: true,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        backoff_base: Duration::from_millis(10),
        max_retries: 2,
        ..CrawlConfig::default()
    }
}

fn with_auth(name: &str, auth: SourceAuth) -> CrawlConfig {
    let mut c = cfg();
    c.auth.insert(name.into(), auth);
    c
}

async fn sim(tree: TreeSpec, required: Option<RequiredHeader>) -> SimServer {
    SimServer::start(SimConfig {
        tree,
        require_auth: required,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn store_with(name: &str, url: &str) -> (Arc<dyn Store>, Source) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    let source = store
        .add_source(&NewSource {
            name: name.into(),
            url: url.into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    (store, source)
}

async fn harvest(
    h: &Harvester,
    store: &Arc<dyn Store>,
    source: &Source,
) -> Result<threddex_crawler::HarvestReport, CrawlError> {
    h.harvest(
        &source.settings.url,
        source,
        Some(Arc::clone(store)),
        Arc::new(StoreSink(Arc::clone(store))),
        Arc::new(Progress::default()),
    )
    .await
}

#[tokio::test]
async fn every_kind_of_credentials_opens_a_protected_server() {
    let cases = [
        (
            SourceAuth::basic("alice", "pa:ss w\u{f6}rd-1"),
            RequiredHeader::basic("alice", "pa:ss w\u{f6}rd-1"),
        ),
        (
            SourceAuth::bearer("tok-0123456789abcdef"),
            RequiredHeader::bearer("tok-0123456789abcdef"),
        ),
        (
            SourceAuth::cookie("JSESSIONID=0123456789ABCDEF; tds=1"),
            RequiredHeader::cookie("JSESSIONID=0123456789ABCDEF; tds=1"),
        ),
    ];
    for (auth, required) in cases {
        let kind = auth.kind();
        let s = sim(small(), Some(required)).await;
        let (store, source) = store_with("protected", &s.root_catalog_url()).await;
        let h = Harvester::new(with_auth("protected", auth)).unwrap();
        let report = harvest(&h, &store, &source).await.expect(kind);
        assert_eq!(report.failed_count, 0, "{kind}: {:?}", report.failed);
        assert_eq!(report.granules, s.granule_count(), "{kind}");
        assert_eq!(s.counters().unauthorized(), 0, "{kind}");
        // robots.txt was asked with the credentials too (404 after authentication).
        assert_eq!(s.counters().for_path("/robots.txt"), 1, "{kind}");
        assert_eq!(
            s.counters().with_credentials(),
            s.counters().total(),
            "{kind}"
        );

        // The run is recorded.
        let runs = store.list_runs(Some("protected"), 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{kind}");
        assert_eq!(runs[0].kind, RunKind::Harvest);
        assert_eq!(runs[0].status, RunStatus::Ok);
        assert_eq!(runs[0].granules_added, s.granule_count());
        assert!(runs[0].finished_at.is_some());
    }
}

#[tokio::test]
async fn without_credentials_the_harvest_fails_with_a_clear_recorded_error() {
    let s = sim(small(), Some(RequiredHeader::bearer("right-token-123456"))).await;
    let (store, source) = store_with("protected", &s.root_catalog_url()).await;
    let root = source.settings.url.clone();

    // No credentials at all.
    let h = Harvester::new(cfg()).unwrap();
    let err = harvest(&h, &store, &source).await.unwrap_err();
    let CrawlError::StartUnreadable { url, reason } = &err else {
        panic!("{err}");
    };
    assert_eq!(*url, root);
    assert!(reason.contains("401"), "{reason}");
    assert!(reason.contains("requires credentials"), "{reason}");
    assert!(s.counters().unauthorized() >= 1);
    // 401 is not retried.
    assert_eq!(s.counters().for_path("/thredds/catalog.xml"), 1);
    let state = store.catalog(&root).await.unwrap().unwrap();
    assert_eq!(state.status, CatalogStatus::Failed);
    assert!(state.error.as_deref().unwrap().contains("401"));
    let runs = store.list_runs(Some("protected"), 10).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].errors.len(), 1);
    assert_eq!(runs[0].errors[0].url, root);
    assert!(runs[0].errors[0].error.contains("requires credentials"));

    // Wrong credentials: said so.
    let h = Harvester::new(with_auth("protected", SourceAuth::bearer("wrong-token"))).unwrap();
    let err = harvest(&h, &store, &source).await.unwrap_err();
    assert!(
        err.to_string().contains("credentials were refused"),
        "{err}"
    );
    // The error never shows the token.
    assert!(!err.to_string().contains("wrong-token"));
    let runs = store.list_runs(Some("protected"), 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0].errors[0].error.contains("refused"));

    // Credentials of another source name are not used.
    let h = Harvester::new(with_auth(
        "someone-else",
        SourceAuth::bearer("right-token-123456"),
    ))
    .unwrap();
    assert!(harvest(&h, &store, &source).await.is_err());
}

/// A catalogRef to a second server (another port: another origin) is followed with
/// `follow_other_hosts`, but without the first server's credentials; so is a redirect to it.
#[tokio::test]
async fn credentials_never_reach_another_origin() {
    let other = sim(small(), None).await;
    let token = "tok-secret-abcdef0123";

    // Server A: the generated tree plus a root catalog that also references B's root.
    let plain = sim(small(), None).await;
    let root_xml = reqwest::get(plain.root_catalog_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    plain.shutdown().await;
    let extra = format!(
        "<catalogRef xlink:href=\"{}\" xlink:title=\"elsewhere\" name=\"elsewhere\"/>\n</catalog>",
        other.root_catalog_url()
    );
    let patched = root_xml.replacen("</catalog>", &extra, 1);
    assert_ne!(patched, root_xml);
    assert!(patched.contains("xmlns:xlink"), "the root declares xlink");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("thredds")).unwrap();
    std::fs::write(dir.path().join("thredds/catalog.xml"), &patched).unwrap();
    let a = SimServer::start(SimConfig {
        tree: small(),
        dir: Some(dir.path().to_path_buf()),
        require_auth: Some(RequiredHeader::bearer(token)),
        ..SimConfig::default()
    })
    .await
    .unwrap();

    let (store, source) = store_with("a", &a.root_catalog_url()).await;
    let mut c = with_auth("a", SourceAuth::bearer(token));
    c.follow_other_hosts = true;
    let h = Harvester::new(c).unwrap();
    let report = harvest(&h, &store, &source).await.unwrap();
    assert_eq!(report.failed_count, 0, "{:?}", report.failed);
    // Both trees were harvested: B's through the reference.
    assert_eq!(report.granules, a.granule_count() + other.granule_count());
    assert!(other.counters().total() > 1);
    assert_eq!(a.counters().unauthorized(), 0);
    assert_eq!(a.counters().with_credentials(), a.counters().total());
    assert_eq!(
        other.counters().with_credentials(),
        0,
        "credentials leaked to another origin"
    );

    // A redirect from A to B: reqwest drops the Authorization header on the way.
    other.counters().reset();
    a.set_faults(vec![FaultRule::always(
        "/thredds/catalog.xml",
        Fault::RedirectTo(other.root_catalog_url()),
    )]);
    let (store, source) = store_with("a", &a.root_catalog_url()).await;
    let report = harvest(&h, &store, &source).await.unwrap();
    assert_eq!(report.granules, other.granule_count());
    assert!(other.counters().total() > 1);
    assert_eq!(
        other.counters().with_credentials(),
        0,
        "credentials followed a redirect to another origin"
    );
}

/// ISO record requests (model-run tree: one per collection) carry the credentials too, and
/// syncs (the Syncer) use them and record their runs.
#[tokio::test]
async fn iso_records_and_syncs_use_the_credentials() {
    let token = "iso-token-0123456789";
    let s = sim(
        TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 2 }),
        Some(RequiredHeader::bearer(token)),
    )
    .await;
    let (store, source) = store_with("models", &s.root_catalog_url()).await;
    let h = Harvester::new(with_auth("models", SourceAuth::bearer(token))).unwrap();
    let report = harvest(&h, &store, &source).await.unwrap();
    assert_eq!(report.failed_count, 0, "{:?}", report.failed);
    assert!(report.records.iso_fetches > 0);
    assert_eq!(
        report.records.from_iso, report.records.iso_fetches,
        "{:?}",
        report.records.iso_failures
    );
    assert!(s.counters().matching("/thredds/iso/") > 0);
    assert_eq!(s.counters().unauthorized(), 0);

    let syncer = Syncer::new(h, Arc::clone(&store), SyncOptions::default());
    let source = store.source_by_name("models").await.unwrap().unwrap();
    let r = syncer
        .sync_source(&source, Arc::new(Progress::default()))
        .await
        .unwrap();
    assert!(r.success);
    assert_eq!(s.counters().unauthorized(), 0);
    let runs = store.list_runs(Some("models"), 10).await.unwrap();
    assert_eq!(runs[0].kind, RunKind::Sync);
    assert_eq!(Some(runs[0].id), r.run_id);
    assert_eq!(runs[0].status, RunStatus::Ok);
    assert_eq!(runs[1].kind, RunKind::Harvest);
}

#[test]
fn debug_output_redacts_secrets() {
    let mut c = cfg();
    c.auth
        .insert("a".into(), SourceAuth::basic("alice", "hunter2-password"));
    c.auth
        .insert("b".into(), SourceAuth::bearer("tok-abcdef-987654"));
    c.auth
        .insert("c".into(), SourceAuth::cookie("SESSION=cafe0babe42"));
    let text = format!("{c:?} {c:#?}");
    for secret in ["hunter2-password", "tok-abcdef-987654", "cafe0babe42"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("<redacted>"));
    assert!(text.contains("alice"));
    // Never serialised either.
    let json = serde_json::to_string(&c).unwrap();
    assert!(
        !json.contains("hunter2") && !json.contains("\"auth\""),
        "{json}"
    );
    // A header-breaking value is refused at construction, without echoing it.
    let mut bad = cfg();
    bad.auth.insert(
        "x".into(),
        SourceAuth::bearer("abc\r\nX-Injected: secret-part"),
    );
    let err = Harvester::new(bad).err().expect("refused").to_string();
    assert!(
        err.contains("\"x\"") && !err.contains("secret-part"),
        "{err}"
    );
}
