//! `threddex serve`: the HTTP search API (with refresh on demand) and the sync scheduler in one
//! process, until ctrl-c or SIGTERM.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use threddex_api::{ApiConfig, AppState, CrawlRefresher, CrawlSyncStarter, Refresher, SyncStarter};
use threddex_crawler::{CrawlConfig, Harvester, Scheduler, SyncOptions, Syncer, WorkerOptions};
use threddex_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::config::{Config, PER_HOST_SERVE, register_sources};
use crate::db::SharedCrawl;

/// How long the scheduler may take to stop after the API has stopped.
const SCHEDULER_STOP_GRACE: Duration = Duration::from_secs(10);

pub async fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    config.apply_db(&args.db);
    if let Some(read) = &args.read_db {
        config.database.read_url = Some(crate::config::DatabaseUrl::new(read.clone()));
    }
    config.apply_api(&args.api);
    if args.no_scheduler {
        config.sync.scheduler = false;
    }
    if args.no_worker {
        config.sync.worker = false;
    }
    config.check_flags()?;
    threddex_api::install_metrics();
    let api = config.api_config()?;
    let crawl = CrawlConfig {
        auth: config.source_auth()?,
        ..config.crawl_config(PER_HOST_SERVE)
    };
    let shutdown = Shutdown::on_signals()?;
    let listener = bind(&config.api.bind).await?;
    let (store, shared) = config.database.open_for_search().await?;
    eprintln!("database {}", config.database.url);
    if let Some(read) = &config.database.read_url {
        eprintln!("search reads from {read}");
    }
    register_sources(store.as_ref(), &config.sources).await?;
    // On Postgres the background crawl is a worker of the shared frontier (unless
    // `sync.worker = false`); on SQLite, and then, the per-process scheduler.
    let crawling = match (config.sync.scheduler, shared) {
        (false, shared) => Crawling::None(shared.map(|s| {
            let opts = WorkerOptions {
                claim_ttl: config.sync.claim_ttl.0,
                ..WorkerOptions::default()
            };
            (s, opts)
        })),
        (true, Some(shared)) if config.sync.worker => Crawling::Worker(
            shared,
            WorkerOptions {
                claim_ttl: config.sync.claim_ttl.0,
                ..WorkerOptions::default()
            },
        ),
        (true, _) => Crawling::Scheduler,
    };
    let relay = mqtt_relay(&config, &listener, &store, &shutdown)?;

    run_service(
        listener,
        store,
        api,
        crawl,
        config.sync_options()?,
        crawling,
        shutdown,
    )
    .await?;
    if let Some(task) = relay
        && tokio::time::timeout(SCHEDULER_STOP_GRACE, task)
            .await
            .is_err()
    {
        tracing::warn!("the MQTT relay did not stop in time");
    }
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Start the MQTT relay of `[notify.mqtt]`, when set, until `shutdown`.
/// Links in its messages are below `api.public_url`, else the listening address.
fn mqtt_relay(
    config: &Config,
    listener: &TcpListener,
    store: &Arc<dyn Store>,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(mqtt) = &config.notify.mqtt else {
        return Ok(None);
    };
    let base = match &config.api.public_url {
        Some(u) => u.clone(),
        None => format!(
            "http://{}",
            listener
                .local_addr()
                .context("cannot read the listening address")?
        ),
    };
    let relay = threddex_notify::MqttRelay::new(
        Arc::clone(store),
        mqtt.clone(),
        &base,
        config.changes.poll.0,
    )
    .map_err(|e| anyhow::Error::new(crate::BadConfig(anyhow::anyhow!(e))))?;
    eprintln!(
        "MQTT relay to {} (topics {}/…)",
        mqtt.url, mqtt.topic_prefix
    );
    Ok(Some(tokio::spawn(relay.run(shutdown.wait()))))
}

/// What crawls in the background of `serve`.
pub(crate) enum Crawling {
    /// Nothing (an API-only replica); on Postgres its refreshes on demand obey the per-host
    /// limits shared through the database.
    None(Option<(SharedCrawl, WorkerOptions)>),
    /// The per-process sync scheduler (one sync per source at a time, under its lease).
    Scheduler,
    /// A worker of the shared frontier of a Postgres database (`threddex worker`'s loop).
    Worker(SharedCrawl, WorkerOptions),
}

/// The API (with refresh on demand) and the background crawl `crawling`, both crawling with
/// `crawl`, until `shutdown` fires.
pub(crate) async fn run_service(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: ApiConfig,
    crawl: CrawlConfig,
    sync: SyncOptions,
    crawling: Crawling,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    // The background crawl runs in its own task: a slow sync never holds up the API.
    let (syncer, scheduler) = match crawling {
        Crawling::None(None) => (syncer(&store, crawl, sync)?, None),
        Crawling::None(Some((shared, opts))) => {
            let worker = super::worker::build(&store, &shared, crawl, sync.clone(), opts)?;
            let syncer = Syncer::new(worker.harvester().clone(), Arc::clone(&store), sync);
            (syncer, None)
        }
        Crawling::Scheduler => {
            let syncer = syncer(&store, crawl, sync)?;
            let scheduler = Scheduler::from_syncer(syncer.clone());
            let stop = shutdown.wait();
            let task = tokio::spawn(async move { scheduler.run(stop).await });
            (syncer, Some(task))
        }
        Crawling::Worker(shared, opts) => {
            // Refreshes on demand share the worker's host limits (and its holder ID).
            let worker = super::worker::build(&store, &shared, crawl, sync.clone(), opts)?;
            let syncer = Syncer::new(worker.harvester().clone(), Arc::clone(&store), sync);
            let stop = shutdown.wait();
            let task = tokio::spawn(async move {
                if let Err(e) = worker.run(stop).await {
                    tracing::warn!(error = %e, "the crawl worker stopped");
                }
            });
            (syncer, Some(task))
        }
    };
    let served = serve_api(listener, store, config, syncer, shutdown.wait()).await;
    if let Some(task) = scheduler {
        // The shutdown signal stops it too; when the API failed instead, stop it here.
        let stopping = wait_or_abort(task, served.is_err());
        if tokio::time::timeout(SCHEDULER_STOP_GRACE, stopping)
            .await
            .is_err()
        {
            tracing::warn!("the scheduler did not stop in time");
        }
    }
    served
}

/// Wait for the scheduler task to end (after the shutdown signal), or abort it first.
async fn wait_or_abort(task: tokio::task::JoinHandle<()>, abort: bool) {
    if abort {
        task.abort();
    }
    if let Err(e) = task.await
        && !e.is_cancelled()
    {
        tracing::warn!(error = %e, "the scheduler task failed");
    }
}

/// The sync engine shared by the scheduler and refresh on demand.
pub(crate) fn syncer(
    store: &Arc<dyn Store>,
    cfg: CrawlConfig,
    sync: SyncOptions,
) -> anyhow::Result<Syncer> {
    let harvester = Harvester::new(cfg).context("cannot build the crawler")?;
    Ok(Syncer::new(harvester, Arc::clone(store), sync))
}

/// Listen on `addr`, with a clear error when that is impossible.
pub(crate) async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    let addr = addr.trim();
    if addr.is_empty() {
        bail!("--bind (api.bind) needs an address such as 127.0.0.1:8080");
    }
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr:?} (expected HOST:PORT, e.g. 127.0.0.1:8080)")
    })
}

/// Serve the API over `store` on `listener` until `shutdown` completes.
pub(crate) async fn serve_api(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: ApiConfig,
    syncer: Syncer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Refresh on demand re-reads only the stored live catalogs of registered sources.
    // `POST /sources/{name}/sync` (admin) starts syncs with the same engine.
    let starter: Arc<dyn SyncStarter> = Arc::new(CrawlSyncStarter::new(syncer.clone()));
    let refresher: Arc<dyn Refresher> = Arc::new(CrawlRefresher::new(syncer));
    let state = AppState::new(store, Some(refresher), config).with_sync_starter(Some(starter));
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    eprintln!("threddex API listening on http://{addr}  (ctrl-c or SIGTERM to stop)");
    threddex_api::serve(listener, state, shutdown)
        .await
        .context("the API server failed")
}

/// Fires once on ctrl-c or SIGTERM; any number of waiters.
#[derive(Clone)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Install the signal handlers now (so a signal arriving at any later point is handled) and
    /// return the shared shutdown signal.
    pub(crate) fn on_signals() -> anyhow::Result<Self> {
        let (tx, rx) = watch::channel(false);
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install the SIGTERM handler")?;
        tokio::spawn(async move {
            #[cfg(unix)]
            let terminated = async move {
                term.recv().await;
            };
            #[cfg(not(unix))]
            let terminated = std::future::pending::<()>();
            let interrupted = async {
                if let Err(e) = tokio::signal::ctrl_c().await {
                    tracing::warn!(error = %e, "cannot listen for ctrl-c");
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = interrupted => {}
                () = terminated => {}
            }
            eprintln!("shutting down");
            let _ = tx.send(true);
        });
        Ok(Self { rx })
    }

    /// Completes when the shutdown signal has fired.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        async move {
            // An error means the signal task is gone, which only happens at exit.
            let _ = rx.wait_for(|fired| *fired).await;
        }
    }
}
