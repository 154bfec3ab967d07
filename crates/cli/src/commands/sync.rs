//! `threddex sync`: re-read the live nodes and new references of one or all sources.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use threddex_crawler::{Harvester, Progress, SyncReport, Syncer};
use threddex_store::Source;

use crate::cli::SyncArgs;
use crate::config::{Config, PER_HOST_CLI, register_sources};
use crate::progress::Reporter;

pub async fn run(args: SyncArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    config.apply_sync(&args);
    config.check_flags()?;
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
    // `--wait[=MAX]`: one deadline for the whole command.
    let deadline = args
        .wait
        .map(|max| (tokio::time::Instant::now() + max, max));
    let mut code = ExitCode::SUCCESS;
    for s in sources {
        let report = sync_one(&syncer, &s, args.json, deadline).await?;
        if args.json {
            outln!("{}", serde_json::to_string(&report)?)?;
        }
        print_summary(&report, args.wait);
        if report.lease_busy {
            code = ExitCode::from(3);
        } else if !report.success && code == ExitCode::SUCCESS {
            code = ExitCode::from(2);
        }
    }
    Ok(code)
}

/// Longest pause between two looks at a busy lease.
const WAIT_POLL: Duration = Duration::from_secs(2);

/// Sync one source; with a deadline, a busy lease is looked at again (every [`WAIT_POLL`] at
/// most, sooner when it expires sooner) until the sync runs or the deadline passes.
async fn sync_one(
    syncer: &Syncer,
    source: &Source,
    json: bool,
    deadline: Option<(tokio::time::Instant, Duration)>,
) -> anyhow::Result<SyncReport> {
    let mut told = false;
    loop {
        let progress = Arc::new(Progress::default());
        let reporter = Reporter::start(progress.clone(), json);
        let result = syncer.sync_source(source, progress).await;
        reporter.finish();
        let report = result?;
        let Some((until, max)) = deadline else {
            return Ok(report);
        };
        let Some(lease) = report.lease.as_ref().filter(|_| report.lease_busy) else {
            return Ok(report);
        };
        let now = tokio::time::Instant::now();
        if now >= until {
            return Ok(report);
        }
        if !told {
            eprintln!(
                "sync {}: another sync of this source is running: {lease}; waiting for it (at \
                 most {})",
                report.source,
                wait_text(max)
            );
            told = true;
        }
        let pause = lease
            .expires_in()
            .clamp(Duration::from_millis(100), WAIT_POLL)
            .min(until - now);
        tokio::time::sleep(pause).await;
    }
}

fn wait_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn print_summary(r: &SyncReport, wait: Option<Duration>) {
    if r.lease_busy {
        match &r.lease {
            Some(lease) => eprintln!(
                "sync {}: another sync of this source is running (lease busy): {lease}; {}",
                r.source,
                match wait {
                    Some(max) => format!(
                        "still running after waiting {}; nothing done",
                        wait_text(max)
                    ),
                    None => "nothing done (`--wait` waits for it)".into(),
                }
            ),
            None => eprintln!(
                "sync {}: another sync of this source is running (lease busy); nothing done",
                r.source
            ),
        }
        return;
    }
    let h = &r.harvest;
    let secs = h.elapsed.as_secs_f64().max(0.001);
    eprintln!(
        "sync {} {}: {} known catalogs ({} archival), {} seeds, {} catalogs read ({} not modified, {} unchanged, {} failed), {} granules ({} new, {} deleted), {} catalogs expired, {} requests in {:.1}s{}",
        r.source,
        if r.success { "done" } else { "incomplete" },
        r.known_catalogs,
        r.archival,
        r.seeds,
        h.catalogs,
        h.not_modified,
        h.unchanged,
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
