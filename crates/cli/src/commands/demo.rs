//! `threddex demo`: a self-contained tour that needs no network: a simulated THREDDS server on
//! loopback, harvested into the default store.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::Utc;
use threddex_crawler::{CrawlConfig, Harvester, Progress, StoreSink};
use threddex_sim::{
    CurrentSpec, GoesSpec, ModelSpec, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec,
};
use threddex_store::{NewSource, Source, Store};

use crate::cli::DemoArgs;
use crate::commands::serve;
use crate::config::Config;
use crate::progress::Reporter;

pub async fn run(args: DemoArgs, mut cfg: Config) -> anyhow::Result<ExitCode> {
    cfg.apply_db(&args.db);
    cfg.apply_api(&args.api);
    cfg.check_flags()?;
    // With --serve, check the API settings and take the address before the harvest.
    let service = if args.serve {
        threddex_api::install_metrics();
        let config = cfg.api_config()?;
        let shutdown = serve::Shutdown::on_signals()?;
        Some((serve::bind(&cfg.api.bind).await?, config, shutdown))
    } else {
        None
    };
    let tree = TreeSpec::Mixed(vec![
        TreeSpec::Nexrad(NexradSpec {
            products: 3,
            stations: args.stations.clamp(1, 200),
            days: args.days.clamp(1, 60),
            files_per_day: 48,
        }),
        TreeSpec::Goes(GoesSpec {
            sectors: 2,
            channels: 2,
            days: args.days.clamp(1, 60),
            files_per_day: 24,
            ..GoesSpec::default()
        }),
        TreeSpec::ModelRuns(ModelSpec { models: 2, runs: 8 }),
        TreeSpec::Current(CurrentSpec {
            bands: 1,
            sectors: 2,
            every_minutes: 15,
            days: 1,
        }),
    ]);
    let sim = SimServer::start(SimConfig {
        tree,
        clock: SimClock::system(),
        ..SimConfig::default()
    })
    .await
    .context("cannot start the simulated THREDDS server")?;
    let start = sim.root_catalog_url();
    eprintln!("simulated THREDDS server at {start}");

    let store = cfg.database.open().await?;
    let source = demo_source(store.as_ref(), &start).await?;
    let harvester = Harvester::new(CrawlConfig {
        concurrency: 8,
        rate: 500.0,
        respect_robots: false,
        ..CrawlConfig::default()
    })?;
    let progress = Arc::new(Progress::default());
    let reporter = Reporter::start(progress.clone(), false);
    let report = harvester
        .harvest(
            &start,
            &source,
            Some(store.clone()),
            Arc::new(StoreSink(store.clone())),
            progress,
        )
        .await;
    reporter.finish();
    let report = report?;
    store
        .mark_source_synced(source.id, Utc::now(), report.failed.is_empty())
        .await?;
    eprintln!(
        "harvested {} granules in {} collections from {} catalogs ({} requests) in {:.1}s into {}",
        report.granules,
        report.collections,
        report.catalogs,
        report.requests,
        report.elapsed.as_secs_f64(),
        cfg.database.url
    );
    let example = store
        .list_collections(&threddex_store::CollectionQuery {
            text: Some("NEXRAD3".to_string()),
            limit: 1,
            ..Default::default()
        })
        .await?
        .into_iter()
        .next();
    eprintln!("\nTry next:");
    eprintln!("  threddex collections");
    if let Some(c) = &example {
        let day = Utc::now().format("%Y-%m-%d");
        eprintln!("  threddex granules '{}' --start {day}", c.info.id);
    }
    eprintln!(
        "  threddex ids --authority edu.ucar.unidata NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids"
    );
    if let Some((listener, config, shutdown)) = service {
        if let Ok(addr) = listener.local_addr() {
            eprintln!("  open http://{addr}/ in a browser (the search page)");
            eprintln!("  curl 'http://{addr}/collections?q=NEXRAD3'");
            if let Some(c) = &example {
                let id: String =
                    url::form_urlencoded::byte_serialize(c.info.id.as_bytes()).collect();
                let day = Utc::now().format("%Y-%m-%d");
                eprintln!("  curl 'http://{addr}/index?collection={id}&start={day}'");
            }
        }
        eprintln!(
            "\nthe simulated server keeps running at {start} (live: today's folders gain files as time passes)"
        );
        let crawl = CrawlConfig {
            respect_robots: false,
            rate: 100.0,
            ..CrawlConfig::default()
        };
        let sync = cfg.sync_options()?;
        let scheduler = cfg.sync.scheduler && !args.no_scheduler;
        let crawling = if scheduler {
            serve::Crawling::Scheduler
        } else {
            serve::Crawling::None(None)
        };
        serve::run_service(listener, store, config, crawl, sync, crawling, shutdown).await?;
        sim.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    if args.keep_running {
        eprintln!("\nthe simulated server keeps running at {start}; ctrl-c to stop");
        tokio::signal::ctrl_c().await.ok();
    }
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The name of the demo's source.
const DEMO_SOURCE: &str = "demo";

/// The `demo` source, pointing at this run's simulated server. Each demo run starts its server
/// on a new port, so the source a previous demo left (a simulated server on loopback, gone
/// now) is replaced, with what was harvested from it: the demo harvests the same tree again
/// at once. A source named `demo` for any other server is left alone and stops the demo.
async fn demo_source(store: &dyn Store, url: &str) -> anyhow::Result<Source> {
    if let Some(old) = store.source_by_name(DEMO_SOURCE).await?
        && old.settings.url != url
    {
        if !is_demo_url(&old.settings.url) {
            bail!(
                "a source named {DEMO_SOURCE:?} is registered for {}, which is not a demo \
                 server: run the demo with another --db (e.g. --db sqlite://demo.db), or \
                 `threddex sources remove {DEMO_SOURCE}` first",
                threddex_crawler::source_input::redact_url(&old.settings.url)
            );
        }
        store.remove_source(DEMO_SOURCE).await?;
        eprintln!(
            "replaced the source {DEMO_SOURCE:?} of an earlier demo (its simulated server at {} \
             is gone)",
            old.settings.url
        );
    }
    Ok(store
        .ensure_source(&NewSource {
            name: DEMO_SOURCE.to_string(),
            url: url.to_string(),
            ..NewSource::default()
        })
        .await?)
}

/// Whether a start URL is one a demo registers: the root catalog of a server on loopback.
fn is_demo_url(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    loopback && u.path() == "/thredds/catalog.xml" && u.query().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_earlier_demo_source_is_replaced() {
        assert!(is_demo_url("http://127.0.0.1:38807/thredds/catalog.xml"));
        assert!(is_demo_url("http://[::1]:4000/thredds/catalog.xml"));
        assert!(!is_demo_url("https://thredds.ucar.edu/thredds/catalog.xml"));
        assert!(!is_demo_url(
            "http://127.0.0.1:8080/thredds/catalog/nexrad/catalog.xml"
        ));
        assert!(!is_demo_url("not a url"));
    }
}
