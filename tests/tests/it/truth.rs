//! The index tells the truth about the server.
//!
//! * **Invariant over time**: a simulated server whose clock runs forward over days (new files,
//!   new day folders, retention dropping the oldest files, day folders and run files, removed
//!   folders answering 404) is synced after every step; after each sync the index must hold
//!   exactly the granules the server lists, each with the time its name was made for. The
//!   server's shapes follow real Unidata catalogs (see `crates/sim/README.md`): NEXRAD day
//!   folders under the inherited rolling coverage `end=present, duration=14 days`, GOES day
//!   folders and GOES year/day-of-year/hour folders, GRIB feature collections with one catalogRef per run file beside `TwoD`, `Best`
//!   and `latest.xml`, and a flat satellite `current/` listing.
//! * **Real captures over HTTP**: every catalog of `shared/fixtures/real` that carries a
//!   rolling coverage is served as captured; each of its granules must get the time in its
//!   name, never "now".
//!
//! Postgres must be reachable (127.0.0.1:5432): these tests fail, never skip, without it.

use super::common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{cfg, real_fixtures, xml_files};
use threddex_crawler::{
    Harvester, Progress, RunOptions, Seed, StoreSink, SyncOptions, SyncReport, Syncer,
};
use threddex_sim::{
    CurrentSpec, GoesLayout, GoesSpec, ModelSpec, NexradSpec, SimClock, SimConfig, SimServer,
    TreeSpec,
};
use threddex_store::{CollectionQuery, GranuleQuery, NewSource, Source, Store, Timestamp};
use threddex_store_postgres::testdb::{DropDatabase, fresh_store_with_guard};
use threddex_store_sqlite::SqliteStore;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] DropDatabase),
}

async fn fresh_store(backend: Backend) -> (Arc<dyn Store>, Guard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let s = SqliteStore::connect(&url).await.expect("sqlite");
            (Arc::new(s), Guard::Dir(dir))
        }
        Backend::Postgres => {
            let (s, guard) = fresh_store_with_guard().await;
            (Arc::new(s), Guard::Pg(guard))
        }
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

/// Every shape of live data the simulator serves, small enough for `cargo test`.
fn live_tree() -> TreeSpec {
    TreeSpec::Mixed(vec![
        TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 2,
            days: 3,
            files_per_day: 8,
        }),
        TreeSpec::Goes(GoesSpec {
            sectors: 1,
            channels: 1,
            days: 2,
            files_per_day: 6,
            ..GoesSpec::default()
        }),
        // NOAA's GOES archive layout: year, day-of-year and hour folders.
        TreeSpec::Goes(GoesSpec {
            sectors: 1,
            channels: 1,
            days: 2,
            files_per_day: 5,
            layout: GoesLayout::YearDayHour,
        }),
        TreeSpec::ModelRuns(ModelSpec { models: 2, runs: 4 }),
        TreeSpec::Current(CurrentSpec {
            bands: 1,
            sectors: 2,
            every_minutes: 90,
            days: 1,
        }),
    ])
}

/// A granule as the index holds it: (collection, start).
type Indexed = BTreeMap<String, (String, Option<Timestamp>)>;

async fn indexed(store: &dyn Store) -> Indexed {
    let mut out = Indexed::new();
    let collections = store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    for c in collections {
        let mut after = None;
        loop {
            let page = store
                .list_granules(&GranuleQuery {
                    collection_id: c.info.id.clone(),
                    start: None,
                    end: None,
                    after: after.clone(),
                    limit: 1000,
                })
                .await
                .expect("granules");
            let n = page.len();
            for g in page {
                after = Some((g.start, g.granule_id.clone()));
                let prev = out.insert(g.granule_id.clone(), (g.collection_id, g.start));
                assert!(prev.is_none(), "granule {} indexed twice", g.granule_id);
            }
            if n < 1000 {
                break;
            }
        }
        // The collection's figures agree with its granules.
        let mine: Vec<&(String, Option<Timestamp>)> =
            out.values().filter(|(cid, _)| *cid == c.info.id).collect();
        assert_eq!(
            c.granule_count,
            i64::try_from(mine.len()).expect("count"),
            "granule count of {}",
            c.info.id
        );
        let min = mine.iter().filter_map(|(_, s)| *s).min();
        assert_eq!(c.start, min, "start of {}", c.info.id);
    }
    out
}

/// Asserts the index equals what the server lists, granule for granule, time for time.
async fn assert_truth(server: &SimServer, store: &dyn Store, when: &str) {
    let truth: HashMap<String, DateTime<Utc>> = server
        .listed_granules()
        .into_iter()
        .map(|g| (g.id, g.time))
        .collect();
    let index = indexed(store).await;
    let missing: Vec<&String> = truth.keys().filter(|k| !index.contains_key(*k)).collect();
    let extra: Vec<&String> = index.keys().filter(|k| !truth.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{when}: index differs from the server: {} missing (e.g. {:?}), {} extra (e.g. {:?})",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>()
    );
    for (id, (_, start)) in &index {
        assert_eq!(
            *start,
            truth.get(id).copied(),
            "{when}: start of {id} is not the time in its name"
        );
    }
}

struct World {
    server: SimServer,
    store: Arc<dyn Store>,
    source: Source,
    _guard: Guard,
}

impl World {
    async fn new(backend: Backend, tree: TreeSpec, start: &str) -> Self {
        let server = SimServer::start(SimConfig {
            tree,
            clock: SimClock::fixed(at(start)),
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        let (store, guard) = fresh_store(backend).await;
        let source = store
            .ensure_source(&NewSource {
                name: "sim".into(),
                url: server.root_catalog_url(),
                ..NewSource::default()
            })
            .await
            .expect("source");
        Self {
            server,
            store,
            source,
            _guard: guard,
        }
    }

    fn clock(&self) -> threddex_crawler::Clock {
        let clock = self.server.clock().clone();
        Arc::new(move || clock.now())
    }

    async fn sync(&self) -> SyncReport {
        let syncer = Syncer::new(
            Harvester::new(cfg()).expect("harvester"),
            Arc::clone(&self.store),
            SyncOptions {
                holder: "truth".into(),
                clock: self.clock(),
                lease_ttl: std::time::Duration::from_secs(30),
                ..SyncOptions::default()
            },
        );
        syncer
            .sync_source(&self.source, Arc::new(Progress::default()))
            .await
            .expect("sync")
    }
}

/// Clock steps: first 8 hours of 20-minute steps (unchanged reads stretch the adaptive
/// revisit interval of a model collection, then a run arrives), then steps from a small
/// deterministic generator, half short (10 to 70 minutes), half long (1 to 13 hours, not
/// dividing a day, so every phase of the day is met).
fn steps(seed: u64, total: Duration) -> Vec<Duration> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = vec![Duration::minutes(20); 24];
    let mut sum = Duration::hours(8);
    while sum < total {
        let minutes = if next() % 2 == 0 {
            10 + next() % 61
        } else {
            60 + next() % (12 * 60)
        };
        let d = Duration::minutes(i64::try_from(minutes).unwrap_or(60));
        sum += d;
        out.push(d);
    }
    out
}

async fn index_follows_the_server(backend: Backend, seed: u64) {
    let w = World::new(backend, live_tree(), "2024-02-27T21:17:00Z").await;
    let first = w.sync().await;
    assert!(first.success, "{first:?}");
    assert_truth(&w.server, &*w.store, "after the first sync").await;
    let mut expired = 0;
    let plan = steps(seed, Duration::days(6));
    for (i, step) in plan.iter().enumerate() {
        w.server.clock().advance(*step);
        let now = w.server.clock().now();
        let r = w.sync().await;
        let when = format!("sync {} at {now} (seed {seed})", i + 2);
        assert!(r.success, "{when}: {r:?}");
        assert!(
            r.harvest.failed.is_empty(),
            "{when}: nothing failed on the server, yet: {:?}",
            r.harvest.failed
        );
        expired += r.expired_trees;
        assert_truth(&w.server, &*w.store, &when).await;
    }
    // Retention really happened: day folders and run files left the server and the index.
    assert!(expired > 0, "no catalog expired over {} steps", plan.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_follows_the_server_sqlite() {
    for seed in [1, 2] {
        index_follows_the_server(Backend::Sqlite, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_follows_the_server_postgres() {
    index_follows_the_server(Backend::Postgres, 3).await;
}

// ----- real captures --------------------------------------------------------------------

/// Every captured catalog whose granules inherit a coverage relative to `present` is served
/// as captured and harvested at two different times: each granule gets the time the identity
/// rules read from its name (the same at both harvests), never the harvest time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rolling_listings_get_the_times_in_their_names() {
    let Some(root) = real_fixtures() else { return };
    let mut checked_catalogs = 0;
    let mut checked_granules = 0;
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("read fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    for host in hosts {
        let mut files = Vec::new();
        xml_files(&host, &mut files);
        for file in files {
            let body = std::fs::read(&file).expect("read");
            let rel = file.strip_prefix(&host).expect("under host");
            let url = format!("http://127.0.0.1:1/{}", rel.display());
            let Ok(cat) = threddex_catalog::parse_catalog(
                &body,
                &threddex_catalog::Url::parse(&url).expect("url"),
            ) else {
                continue;
            };
            let leaves = cat.leaves();
            let rolling = leaves.iter().any(|l| {
                l.dataset.dynamic.is_none()
                    && l.meta
                        .time_coverage
                        .as_ref()
                        .is_some_and(|t| t.is_relative())
            });
            if !rolling {
                continue;
            }
            let deriver = threddex_ids::Deriver::new();
            // The expected time: what the identity rules read from the ID (else urlPath, else
            // name): the name's time, independent of any coverage.
            let expected: HashMap<String, Option<Timestamp>> = leaves
                .iter()
                .filter(|l| l.dataset.dynamic.is_none())
                .map(|l| {
                    let raw = l.id().or(l.url_path()).unwrap_or(l.name());
                    (raw.to_string(), deriver.derive(raw, "x").start)
                })
                .collect();
            for harvest_at in ["2026-01-01T00:00:00Z", "2031-06-15T12:00:00Z"] {
                let sim = SimServer::start(SimConfig {
                    tree: TreeSpec::Empty,
                    dir: Some(host.clone()),
                    clock: SimClock::fixed(at(harvest_at)),
                    ..SimConfig::default()
                })
                .await
                .expect("sim");
                let url = format!("{}/{}", sim.base_url(), rel.display());
                let d = common::db(&url).await;
                let mut c = cfg();
                c.max_depth = Some(0);
                c.max_retries = 0;
                let h = Harvester::new(c).expect("cfg");
                // The crawler's clock says `harvest_at`: nothing may depend on it.
                let now = at(harvest_at);
                let report = h
                    .crawl_with(
                        vec![Seed {
                            url: url.clone(),
                            parent: None,
                            depth: 0,
                            prior: None,
                        }],
                        &d.source,
                        Some(Arc::clone(&d.store)),
                        Arc::new(StoreSink(Arc::clone(&d.store))),
                        Arc::new(Progress::default()),
                        Arc::new(|_: &threddex_store::CatalogState| true),
                        RunOptions {
                            clock: Arc::new(move || now),
                            ..RunOptions::default()
                        },
                    )
                    .await
                    .expect("harvest");
                assert!(report.failed.is_empty(), "{:?}", report.failed);
                let index = indexed(&*d.store).await;
                assert_eq!(index.len(), expected.len(), "{}", rel.display());
                for (id, (_, start)) in &index {
                    assert_eq!(
                        *start,
                        expected.get(id).copied().flatten(),
                        "{}: {id} harvested at {harvest_at}",
                        rel.display()
                    );
                }
                checked_granules += index.values().filter(|(_, s)| s.is_some()).count();
                sim.shutdown().await;
            }
            checked_catalogs += 1;
        }
    }
    // The satellite `current/` capture at least (95 granules under `7 days`).
    assert!(
        checked_catalogs >= 1,
        "no rolling listing among the captures"
    );
    assert!(checked_granules >= 2 * 95, "{checked_granules}");
}
