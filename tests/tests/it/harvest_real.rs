//! Real catalogs captured from public servers (shared/fixtures/real/siphon), served by the
//! simulator from a directory: each start catalog that parses must be harvested with all its
//! leaves as granules; one that does not parse must give StartUnreadable. Children that were
//! not captured answer 404 and are recorded as failures without stopping anything.

use super::common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use threddex_crawler::{CrawlError, Harvester, Progress};
use threddex_sim::{SimConfig, TreeSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_catalogs_are_harvested() {
    let Some(root) = real_fixtures() else { return };
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("read fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    let mut harvested = 0;
    let mut granules = 0;
    for host in hosts {
        let mut files = Vec::new();
        xml_files(&host, &mut files);
        if files.is_empty() {
            continue;
        }
        let sim = sim_with(SimConfig {
            tree: TreeSpec::Empty,
            dir: Some(host.clone()),
            ..SimConfig::default()
        })
        .await;
        for file in files {
            let rel = file.strip_prefix(&host).expect("under host");
            let url = format!("{}/{}", sim.base_url(), rel.display());
            let body = std::fs::read(&file).expect("read");
            let parsed = threddex_catalog::parse_catalog(
                &body,
                &threddex_catalog::Url::parse(&url).expect("url"),
            );
            let mut c = cfg();
            c.max_depth = Some(1);
            c.max_retries = 0;
            let h = Harvester::new(c).expect("cfg");
            let sink = Arc::new(Collect::default());
            let r = h
                .harvest(
                    &url,
                    &dummy_source(&url),
                    None,
                    sink.clone(),
                    Arc::new(Progress::default()),
                )
                .await;
            match (parsed, r) {
                (Ok(cat), Ok(report)) => {
                    // Dynamic views (Best, full collections, resolvers) are not granules.
                    let leaves = cat
                        .leaves()
                        .iter()
                        .filter(|l| l.dataset.dynamic.is_none())
                        .count() as u64;
                    // The start's own granules are exactly its leaves; captured children
                    // (depth 1) add theirs.
                    let batches = sink.0.lock().expect("lock");
                    let own = batches
                        .iter()
                        .flat_map(|b| b.granules.iter())
                        .filter(|g| g.catalog_url == url)
                        .count() as u64;
                    let written: usize = batches.iter().map(|b| b.granules.len()).sum();
                    drop(batches);
                    assert_eq!(own, leaves, "{}", file.display());
                    assert_eq!(written as u64, report.granules, "{}", file.display());
                    for (u, reason) in &report.failed {
                        assert!(reason.contains("404"), "{u}: {reason}");
                    }
                    harvested += 1;
                    granules += report.granules;
                }
                (Err(e), Err(CrawlError::StartUnreadable { reason, .. })) => {
                    println!(
                        "{}: not a catalog ({e}); crawler says {reason}",
                        file.display()
                    );
                }
                (p, r) => panic!(
                    "{}: parser says {:?}, crawler says {:?}",
                    file.display(),
                    p.map(|c| c.leaves().len()),
                    r.map(|r| r.granules)
                ),
            }
        }
    }
    println!("{harvested} real catalogs harvested, {granules} granules");
    assert!(harvested >= 5, "only {harvested} catalogs harvested");
    assert!(granules > 100, "{granules} granules");
}
