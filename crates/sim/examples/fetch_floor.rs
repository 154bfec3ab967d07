//! The fetch floor of a tree: the least a crawler needs to read every catalog of a running
//! (simulated) THREDDS server at a given concurrency. It keeps `CONCURRENCY` GETs in flight,
//! reads each body, follows its `catalogRef`s and parses nothing else — no XML model, no rows,
//! no store. Harvest benchmarks run it against the same server as the harvester, so the
//! harvest's wall time divided by this one is a ratio that holds on any machine.
//!
//! `cargo run --release -p threddex-sim --example fetch_floor -- URL [CONCURRENCY]`
//!
//! Prints one line: `fetch floor: C catalogs, B bytes in S s (concurrency N)`.

use std::collections::HashSet;
use std::time::Instant;

use reqwest::Url;
use tokio::task::JoinSet;

/// The `xlink:href` of every `catalogRef` in `body`.
fn refs(body: &str) -> impl Iterator<Item = &str> {
    body.match_indices("<catalogRef ").filter_map(|(i, _)| {
        let tag = body.get(i..)?;
        let tag = tag.get(..tag.find('>')?)?;
        let at = tag.find("xlink:href=\"")? + "xlink:href=\"".len();
        let rest = tag.get(at..)?;
        rest.get(..rest.find('"')?)
    })
}

async fn fetch(client: reqwest::Client, url: Url) -> anyhow::Result<(usize, Vec<Url>)> {
    let body = client.get(url.clone()).send().await?.text().await?;
    let children = refs(&body).filter_map(|r| url.join(r).ok()).collect();
    Ok((body.len(), children))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(start) = args.first() else {
        anyhow::bail!("usage: fetch_floor URL [CONCURRENCY]");
    };
    let conc: usize = args.get(1).map_or(Ok(16), |s| s.parse())?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()?;
    let t0 = Instant::now();
    let mut stack = vec![Url::parse(start)?];
    let mut seen: HashSet<Url> = stack.iter().cloned().collect();
    let mut tasks = JoinSet::new();
    let (mut catalogs, mut bytes) = (0u64, 0u64);
    loop {
        while tasks.len() < conc {
            let Some(u) = stack.pop() else { break };
            tasks.spawn(fetch(client.clone(), u));
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (n, children) = done??;
        catalogs += 1;
        bytes += n as u64;
        for c in children.into_iter().rev() {
            if seen.insert(c.clone()) {
                stack.push(c);
            }
        }
    }
    println!(
        "fetch floor: {catalogs} catalogs, {bytes} bytes in {:.3} s (concurrency {conc})",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
