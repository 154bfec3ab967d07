//! Parse throughput measured in CPU time (robust on a loaded machine, unlike wall time).
//!
//! `cargo run --release -p threddex-catalog --example throughput [-- <datasets> <rounds>]`
//! Prints MB/s by wall clock and by this thread's CPU time (Linux `/proc/thread-self/stat`),
//! after one untimed warm-up run of each workload.

#![allow(clippy::unwrap_used)] // example binary

#[path = "../benches/gen.rs"]
mod generator;

use std::time::Instant;

use threddex_catalog::{Url, parse_catalog};

/// User+system CPU seconds of this thread (Linux), if available.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")
        .or_else(|_| std::fs::read_to_string("/proc/self/stat"))
        .ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn measure(label: &str, bytes: usize, rounds: usize, mut f: impl FnMut() -> usize) {
    // `THROUGHPUT_ONLY=<label>` runs only the workload with that label (for profiling).
    if let Ok(only) = std::env::var("THROUGHPUT_ONLY")
        && label != only
    {
        return;
    }
    f(); // warm-up (allocator arenas, page faults), not timed
    let (w0, c0) = (Instant::now(), cpu_seconds());
    let mut n = 0;
    for _ in 0..rounds {
        n += f();
    }
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(c0).map(|(a, b)| a - b);
    let mb = (bytes * rounds) as f64 / 1.0e6;
    match cpu {
        Some(cpu) if cpu > 0.0 => println!(
            "{label:<28} {:>7.1} MB/s wall  {:>7.1} MB/s cpu  ({rounds} rounds, {:.2}s cpu, n={n})",
            mb / wall,
            mb / cpu,
            cpu
        ),
        _ => println!(
            "{label:<28} {:>7.1} MB/s wall ({rounds} rounds, n={n})",
            mb / wall
        ),
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100_000);
    let rounds = args.get(1).copied().unwrap_or(10);
    let xml = generator::synthetic_catalog(n);
    let url = Url::parse("https://thredds.example.org/thredds/catalog/nexrad/level2/catalog.xml")
        .unwrap();
    println!(
        "document: {} datasets, {:.1} MB",
        n,
        xml.len() as f64 / 1.0e6
    );
    measure("tokenizer only (quick-xml)", xml.len(), rounds, || {
        let mut r = quick_xml::NsReader::from_str(std::str::from_utf8(xml.as_bytes()).unwrap());
        let mut k = 0;
        loop {
            match r.read_event().unwrap() {
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                    let _ = r.resolver().resolve_element(e.name());
                    k += e.attributes().count();
                }
                quick_xml::events::Event::Eof => break,
                _ => k += 1,
            }
        }
        k
    });
    measure("parse", xml.len(), rounds, || {
        parse_catalog(xml.as_bytes(), &url).unwrap().datasets.len()
    });
    measure("parse+leaves", xml.len(), rounds, || {
        parse_catalog(xml.as_bytes(), &url).unwrap().leaves().len()
    });
    measure("parse+leaf_refs", xml.len(), rounds, || {
        parse_catalog(xml.as_bytes(), &url)
            .unwrap()
            .leaf_refs()
            .len()
    });
    measure("parse+leaf_refs+access", xml.len(), rounds, || {
        let cat = parse_catalog(xml.as_bytes(), &url).unwrap();
        cat.leaf_refs()
            .iter()
            .map(|l| l.access_services(&cat).len())
            .sum()
    });
}
