//! Serving-speed check: starts an in-process simulator with a NEXRAD tree and walks it with
//! `CONCURRENCY` concurrent fetches, printing catalogs/s and granules/s.
//!
//! `cargo run --release -p threddex-sim --example walk_bench -- [products stations days files_per_day concurrency]`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use threddex_sim::{NexradSpec, SimConfig, SimServer, TreeSpec, catalog_count, granule_count};
use tokio::sync::Mutex;

fn refs(body: &str) -> impl Iterator<Item = &str> {
    body.match_indices("<catalogRef xlink:href=\"")
        .filter_map(|(i, m)| {
            let rest = body.get(i + m.len()..)?;
            rest.get(..rest.find('"')?)
        })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let arg = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let spec = TreeSpec::Nexrad(NexradSpec {
        products: arg(0, 10),
        stations: arg(1, 50),
        days: arg(2, 2),
        files_per_day: arg(3, 288),
    });
    let conc = arg(4, 16);
    let server = SimServer::start(SimConfig {
        tree: spec.clone(),
        ..Default::default()
    })
    .await?;
    let client = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(vec![server.root_catalog_url()]));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let granules = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (q, seen, g, act, c) = (
            queue.clone(),
            seen.clone(),
            granules.clone(),
            active.clone(),
            client.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = {
                    let mut q = q.lock().await;
                    let n = q.pop();
                    if n.is_some() {
                        act.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    n
                };
                let Some(url) = next else {
                    if act.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                        return;
                    }
                    tokio::task::yield_now().await;
                    continue;
                };
                let body = c.get(&url).send().await.ok().map(|r| r.text());
                let body = match body {
                    Some(f) => f.await.unwrap_or_default(),
                    None => String::new(),
                };
                let n = body.matches(" urlPath=\"").count() as u64;
                g.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                let base = reqwest::Url::parse(&url).ok();
                let mut new = Vec::new();
                for r in refs(&body) {
                    if let Some(u) = base.as_ref().and_then(|b| b.join(r).ok()) {
                        new.push(u.to_string());
                    }
                }
                {
                    let mut s = seen.lock().await;
                    let mut q = q.lock().await;
                    for u in new {
                        if s.insert(u.clone()) {
                            q.push(u);
                        }
                    }
                }
                act.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cats = server.counters().total();
    let g = granules.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "catalogs {cats} (expected {}), granules {g} (expected {}), {secs:.2}s: {:.0} catalogs/s, {:.0} granules/s, max in flight {}",
        catalog_count(&spec),
        granule_count(&spec),
        cats as f64 / secs,
        g as f64 / secs,
        server.counters().max_in_flight()
    );
    server.shutdown().await;
    Ok(())
}
