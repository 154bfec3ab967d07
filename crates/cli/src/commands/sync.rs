//! `threddex sync`: re-read the live nodes and new references of one or all sources.

use std::process::ExitCode;
use std::sync::Arc;

use threddex_crawler::{Harvester, Progress, SyncReport, Syncer};

use crate::cli::SyncArgs;
use crate::config::{Config, PER_HOST_CLI, register_sources};
use crate::progress::Reporter;

pub async fn run(args: SyncArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    config.apply_sync(&args);
    config.validate()?;
    let cfg = threddex_crawler::CrawlConfig {
        auth: config.source_auth()?,
        ..config.crawl_config(PER_HOST_CLI)
    };
    let options = config.sync_options()?;
    let store = config.database.open().await?;
    register_sources(store.as_ref(), &config.sources).await?;
    let sources = match &args.source {
        Some(name) => match store.source_by_name(name).await? {
            Some(s) => vec![s],
            None => {
                eprintln!("error: no source named {name:?} (see `threddex sources list`)");
                return Ok(ExitCode::from(2));
            }
        },
        None => store.list_sources().await?,
    };
    if sources.is_empty() {
        eprintln!("no sources registered: add one with `threddex sources add URL`");
        return Ok(ExitCode::SUCCESS);
    }
    let syncer = Syncer::new(Harvester::new(cfg)?, store, options);
    let mut code = ExitCode::SUCCESS;
    for s in sources {
        let progress = Arc::new(Progress::default());
        let reporter = Reporter::start(progress.clone(), args.json);
        let result = syncer.sync_source(&s, progress).await;
        reporter.finish();
        let report = result?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        }
        print_summary(&report);
        if report.lease_busy {
            code = ExitCode::from(3);
        } else if !report.success && code == ExitCode::SUCCESS {
            code = ExitCode::from(2);
        }
    }
    Ok(code)
}

fn print_summary(r: &SyncReport) {
    if r.lease_busy {
        eprintln!(
            "sync {}: another sync of this source is running (lease busy); nothing done",
            r.source
        );
        return;
    }
    let h = &r.harvest;
    let secs = h.elapsed.as_secs_f64().max(0.001);
    eprintln!(
        "sync {} {}: {} known catalogs ({} archival), {} seeds, {} catalogs read ({} not modified, {} failed), {} granules ({} new, {} deleted), {} catalogs expired, {} requests in {:.1}s{}",
        r.source,
        if r.success { "done" } else { "incomplete" },
        r.known_catalogs,
        r.archival,
        r.seeds,
        h.catalogs,
        h.not_modified,
        h.failed_count,
        h.granules,
        h.granules_inserted,
        h.granules_deleted,
        r.expired_trees,
        h.requests,
        secs,
        if r.resumed {
            " (resumed an interrupted sync)"
        } else {
            ""
        },
    );
    for (url, reason) in h.failed.iter().take(20) {
        eprintln!("  failed: {url}: {reason}");
    }
}
