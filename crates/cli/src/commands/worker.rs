//! `threddex worker`: crawl the registered sources of a Postgres database together with the
//! other workers (and `serve` processes) of that database, through the shared frontier.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use threddex_crawler::{
    CrawlConfig, Harvester, SharedHosts, SyncOptions, Worker, WorkerOptions, WorkerReport,
};
use threddex_store::Store;

use super::serve::Shutdown;
use crate::cli::WorkerArgs;
use crate::config::{Config, PER_HOST_CLI, register_sources};
use crate::db::SharedCrawl;

pub async fn run(args: WorkerArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    config.apply_worker(&args);
    config.check_flags()?;
    let (store, shared) = config.database.open_shared().await?;
    let Some(shared) = shared else {
        eprintln!(
            "error: `threddex worker` needs a Postgres database (--db postgres://…): the \
             embedded SQLite store is crawled by one process (`threddex serve` or `threddex sync`)"
        );
        return Ok(ExitCode::from(2));
    };
    register_sources(store.as_ref(), &config.sources).await?;
    let crawl = CrawlConfig {
        auth: config.source_auth()?,
        ..config.crawl_config(PER_HOST_CLI)
    };
    let shutdown = Shutdown::on_signals()?;
    let opts = WorkerOptions {
        claim_ttl: config.sync.claim_ttl.0,
        once: args.once,
        ..WorkerOptions::default()
    };
    let worker = build(&store, &shared, crawl, config.sync_options()?, opts)?;
    eprintln!(
        "worker {} crawling {} (ctrl-c or SIGTERM to stop)",
        worker.options().holder,
        crate::db::redact(config.database.url.expose())
    );
    let report = worker.run(shutdown.wait()).await?;
    print_summary(&report);
    Ok(ExitCode::SUCCESS)
}

/// A worker whose harvester obeys the per-host limits shared through the database, with the
/// same holder ID for its claims and its host slots (renewed together).
pub(crate) fn build(
    store: &Arc<dyn Store>,
    shared: &SharedCrawl,
    crawl: CrawlConfig,
    sync: SyncOptions,
    opts: WorkerOptions,
) -> anyhow::Result<Worker> {
    let hosts = Arc::new(SharedHosts::new(
        Arc::clone(&shared.hosts),
        opts.holder.clone(),
        opts.claim_ttl.max(Duration::from_secs(1)),
        crawl.rate,
        crawl.per_host_in_flight,
    ));
    let harvester =
        Harvester::with_shared_hosts(crawl, hosts).context("cannot build the crawler")?;
    Ok(Worker::new(
        harvester,
        Arc::clone(store),
        Arc::clone(&shared.frontier),
        sync,
        opts,
    ))
}

fn print_summary(r: &WorkerReport) {
    let c = &r.counts;
    eprintln!(
        "worker stopped: {} catalogs claimed, {} read ({} not modified, {} failed), {} taken \
         over by others, {} errors; {} granules ({} new, {} deleted), {} requests; rounds: {} \
         opened, {} closed",
        r.claimed,
        r.completed,
        c.not_modified,
        c.failed,
        r.stale,
        r.errors,
        c.granules,
        c.granules_inserted,
        c.granules_deleted,
        c.requests,
        r.rounds_opened,
        r.rounds_closed,
    );
}
