//! `threddex harvest`: crawl a THREDDS server into the index (or print it, with `--dry-run`).

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::Utc;
use threddex_crawler::{
    BatchSink, CrawlConfig, CrawlError, HarvestReport, Harvester, Progress, SourceAuthMap,
    StoreSink,
};
use threddex_store::{Batch, BatchOutcome, Source, Store};

use crate::BadConfig;
use crate::cli::HarvestArgs;
use crate::commands::sources::{bad_source, conflict, default_source_name, derive_name, host_port};
use crate::config::{Config, PER_HOST_CLI};
use crate::progress::Reporter;

pub async fn run(args: HarvestArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    let start = normalise_start_url(&args.url).map_err(|e| anyhow::Error::new(BadConfig(e)))?;
    config.apply_db(&args.db);
    config.apply_crawl(&args.crawl);
    config.check_flags()?;
    // The config source of this name (or, without --name, of this URL) gives the name and the
    // credentials.
    let from_config = config.source_for(args.name.as_deref(), start.as_str());
    let auth = match from_config {
        Some(s) => s.resolve_auth(&|k| std::env::var(k).ok())?,
        None => None,
    };
    // The config source's filters apply unless flags give others.
    let (select, skip, authority, every, rules) = match from_config {
        Some(s) => {
            let ns = s.new_source()?;
            (
                pick_list(&args.select, ns.select),
                pick_list(&args.skip, ns.skip),
                args.authority.clone().or(ns.authority),
                ns.every_secs,
                ns.rules,
            )
        }
        None => (
            args.select.clone(),
            args.skip.clone(),
            args.authority.clone(),
            None,
            Vec::new(),
        ),
    };
    // The store is opened before naming: the source already registered for this URL keeps
    // its name, and a new one gets a default name no other source has.
    let store = if args.dry_run {
        None
    } else {
        Some(config.database.open().await?)
    };
    let name = match (args.name.clone(), from_config) {
        (Some(n), _) => n,
        (None, Some(s)) => s.name.clone(),
        (None, None) => match &store {
            Some(store) => default_source_name(store.as_ref(), &start, &config).await?,
            None => derive_name(&start, &|n| config.sources.iter().any(|s| s.name == n))
                .unwrap_or_else(|| host_port(&start)),
        },
    };
    let cfg = CrawlConfig {
        auth: auth
            .map(|a| SourceAuthMap::from([(name.clone(), a)]))
            .unwrap_or_default(),
        max_depth: args.max_depth,
        max_catalogs: args.max_catalogs,
        select: select.clone(),
        skip: skip.clone(),
        authority: authority.clone(),
        ..config.crawl_config(PER_HOST_CLI)
    };
    let harvester = Harvester::new(cfg)?;
    // The settings go through the checks every entry point makes (name, authority, patterns).
    let settings = threddex_crawler::source_input::SourceInput {
        url: start.to_string(),
        name: Some(name),
        every: every.map(|s| s.to_string()),
        authority: authority.clone(),
        select,
        skip,
        rules: rules
            .iter()
            .map(|r| format!("{}={}", r.pattern, r.class.as_str()))
            .collect(),
    }
    .check(|_| None)
    .map_err(|e| bad_source(start.as_str(), &e))?;
    let progress = Arc::new(Progress::default());
    let quiet = args.dry_run;
    let dry_sink = Arc::new(JsonLinesSink::default());

    // A new source is registered for the run (its rows need it) and kept only when its start
    // catalog was read: a mistyped URL leaves nothing behind.
    let (store, source, sink, new_source): Target = match store {
        None => {
            let source = Source {
                id: 0,
                settings,
                created_at: Utc::now(),
                last_sync_at: None,
                last_success_at: None,
            };
            (None, source, dry_sink.clone(), false)
        }
        Some(store) => {
            if let Some(why) = conflict(store.as_ref(), &settings).await? {
                bail!("cannot register the source for {start}: {why}");
            }
            let known = store.source_by_url(&settings.url).await?.is_some();
            let source = store
                .ensure_source(&settings)
                .await
                .context("cannot register the source")?;
            (
                Some(store.clone()),
                source,
                Arc::new(StoreSink(store)),
                !known,
            )
        }
    };

    let reporter = Reporter::start(progress.clone(), quiet);
    let outcome = harvester
        .harvest(start.as_str(), &source, store.clone(), sink, progress)
        .await;
    reporter.finish();

    match outcome {
        Ok(report) => {
            if let Some(store) = &store {
                store
                    .mark_source_synced(source.id, Utc::now(), report.failed.is_empty())
                    .await?;
                if new_source {
                    eprintln!(
                        "registered source {} for {} (`threddex sync --source {}` keeps it \
                         current)",
                        source.settings.name, source.settings.url, source.settings.name
                    );
                }
            }
            print_summary(&report, args.dry_run, &args);
            if let Some(a) = args.authority.as_deref() {
                tell_catalog_authorities(a, &report.touched_collections);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(CrawlError::StartUnreadable { url, reason }) => {
            eprintln!("error: cannot read the start catalog {url}: {reason}");
            if let Some(store) = &store {
                if new_source {
                    store.remove_source(&source.settings.name).await?;
                    eprintln!(
                        "nothing was registered: check the URL (a THREDDS catalog ends in \
                         catalog.xml) and run the harvest again"
                    );
                } else {
                    store
                        .mark_source_synced(source.id, Utc::now(), false)
                        .await?;
                }
            }
            Ok(ExitCode::from(2))
        }
        Err(e) if dry_sink.closed.load(Ordering::Relaxed) => {
            tracing::debug!(error = %e, "stdout closed");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

/// A catalog's own naming authority wins over `--authority` (which names collections only
/// where the catalogs declare none, as for a source's `authority`): say so when it did.
fn tell_catalog_authorities(flag: &str, collections: &[String]) {
    let prefix = format!("{flag}:");
    let mut others: Vec<&str> = collections
        .iter()
        .filter(|c| !c.starts_with(&prefix))
        .filter_map(|c| c.split_once(':').map(|(a, _)| a))
        .collect();
    others.sort_unstable();
    others.dedup();
    if others.is_empty() {
        return;
    }
    let n = collections
        .iter()
        .filter(|c| !c.starts_with(&prefix))
        .count();
    eprintln!(
        "note: --authority {flag} was not used for {n} of {} collections: their catalogs \
         declare the naming authority {} (a catalog's own authority always wins; --authority \
         names the collections of catalogs that declare none)",
        collections.len(),
        others.join(", ")
    );
}

/// Where a harvest writes: the store (none for a dry run), the source, the sink, and whether
/// the source was registered for this run.
type Target = (Option<Arc<dyn Store>>, Source, Arc<dyn BatchSink>, bool);

/// The flag's list when given, else the config's.
fn pick_list(flag: &[String], config: Vec<String>) -> Vec<String> {
    if flag.is_empty() {
        config
    } else {
        flag.to_vec()
    }
}

/// Check the start URL and switch an HTML catalog URL to its XML twin.
fn normalise_start_url(raw: &str) -> anyhow::Result<url::Url> {
    let mut u = url::Url::parse(raw.trim())
        .with_context(|| format!("{raw:?} is not a URL (expected http(s)://host/…/catalog.xml)"))?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!(
            "{:?}: only http and https catalog URLs can be harvested",
            threddex_crawler::source_input::redact_url(raw.trim())
        );
    }
    if u.path().ends_with(".html") {
        let p = format!("{}.xml", u.path().trim_end_matches(".html"));
        u.set_path(&p);
    }
    // What every entry point refuses (credentials in the URL among them).
    threddex_crawler::source_input::check_url(u.as_str()).map_err(|e| {
        anyhow::anyhow!(
            "{:?}: {}: {}",
            threddex_crawler::source_input::redact_url(raw.trim()),
            e.field,
            e.message
        )
    })
}

fn print_summary(r: &HarvestReport, dry_run: bool, args: &HarvestArgs) {
    let secs = r.elapsed.as_secs_f64().max(0.001);
    eprintln!(
        "harvest {}: {} catalogs ({} not modified, {} failed), {} granules ({} new), {} collections, {} requests ({} retries) in {:.1}s — {:.0} granules/s, {:.0} catalogs/s",
        if dry_run { "(dry run)" } else { "done" },
        r.catalogs,
        r.not_modified,
        r.failed.len(),
        r.granules,
        r.granules_inserted,
        r.collections,
        r.requests,
        r.retries,
        secs,
        r.granules as f64 / secs,
        r.catalogs as f64 / secs,
    );
    for (url, reason) in r.failed.iter().take(20) {
        eprintln!("  failed: {url}: {reason}");
    }
    if r.failed.len() > 20 {
        eprintln!("  … and {} more failures", r.failed.len() - 20);
    }
    if r.not_modified > 0 {
        eprintln!(
            "  {} catalogs unchanged since the last read (304); their stored children were \
             checked too",
            r.not_modified
        );
    }
    if r.unchanged > 0 {
        eprintln!(
            "  {} catalogs served the body their stored granules were read from: nothing \
             rewritten",
            r.unchanged
        );
    }
    if r.unvisited > 0 {
        eprintln!(
            "  stopped early: --max-catalogs {} reached, {} catalogs left unvisited (run again \
             without it, or `threddex sync`, to reach them)",
            args.max_catalogs.unwrap_or_default(),
            r.unvisited
        );
    }
    if r.beyond_max_depth > 0 {
        eprintln!(
            "  {} catalogs below --max-depth {} not followed",
            r.beyond_max_depth,
            args.max_depth.unwrap_or_default()
        );
    }
}

/// `--dry-run`: one JSON object per granule on stdout, nothing written.
#[derive(Default)]
struct JsonLinesSink {
    out: Mutex<()>,
    /// Set when stdout's reader went away (`threddex harvest --dry-run … | head`): the run
    /// then stops and the command ends quietly.
    closed: AtomicBool,
}

#[async_trait]
impl BatchSink for JsonLinesSink {
    async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError> {
        let mut buf = Vec::with_capacity(batch.granules.len() * 200);
        for g in &batch.granules {
            let v = serde_json::json!({
                "collection": g.collection_id,
                "id": g.granule_id,
                "start": g.start.map(crate::time::fmt),
                "end": g.end.map(crate::time::fmt),
                "url_path": g.url_path,
                "catalog": g.catalog_url,
            });
            let _ = writeln!(buf, "{v}");
        }
        let _guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(&buf)
            .and_then(|()| lock.flush())
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::BrokenPipe {
                    self.closed.store(true, Ordering::Relaxed);
                }
                CrawlError::Output {
                    target: "stdout",
                    source,
                }
            })?;
        Ok(BatchOutcome::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_start_urls_switch_to_xml() {
        let u =
            normalise_start_url("https://thredds.ucar.edu/thredds/catalog/catalog.html").unwrap();
        assert_eq!(
            u.as_str(),
            "https://thredds.ucar.edu/thredds/catalog/catalog.xml"
        );
        assert!(normalise_start_url("ftp://x/catalog.xml").is_err());
        assert!(normalise_start_url("not a url").is_err());
    }

    #[test]
    fn source_name_defaults_to_host_and_port() {
        let u = url::Url::parse("http://127.0.0.1:8123/thredds/catalog.xml").unwrap();
        assert_eq!(derive_name(&u, &|_| false).unwrap(), "127.0.0.1:8123");
    }
}
