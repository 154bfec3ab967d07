//! A/B of a page of STAC items: the `Value` builder ([`threddex_stac::item`], then
//! `serde_json::to_vec`) against the direct writer ([`threddex_stac::ItemTemplate`], one template
//! per page), on the same pages, encoding only.
//!
//! `cargo bench -p threddex-stac --bench item_json`
//!
//! Pages like the load benchmark's `/stac/search` of one collection and one day: `n` hourly
//! granules of a collection with a footprint and three access services (a compound one gives
//! none). Both ways are checked to give identical bytes before anything is measured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use threddex_stac::{ItemContext, ItemTemplate, item};
use threddex_store::{AccessService, BBox, Granule};

fn services() -> Vec<AccessService> {
    let svc = |name: &str, ty: &str, base: &str| AccessService {
        name: name.into(),
        service_type: ty.into(),
        base: base.into(),
        suffix: String::new(),
    };
    vec![
        svc("all", "Compound", ""),
        svc("odap", "OpenDAP", "http://127.0.0.1:9/thredds/dodsC/"),
        svc(
            "http",
            "HTTPServer",
            "http://127.0.0.1:9/thredds/fileServer/",
        ),
        svc("wms", "WMS", "http://127.0.0.1:9/thredds/wms/"),
    ]
}

fn granules(n: usize) -> Vec<Granule> {
    let t0 = DateTime::from_timestamp(1_704_067_200, 0).unwrap(); // 2024-01-01
    (0..n)
        .map(|i| {
            let start = t0 + TimeDelta::hours(i as i64);
            let name = format!("sst_{}.nc", start.format("%Y%m%d_%H%M"));
            Granule {
                collection_id: "bench:model/sst/hourly".into(),
                granule_id: name.clone(),
                name: name.clone(),
                start: Some(start),
                end: Some(start + TimeDelta::hours(1)),
                url_path: Some(format!("bench/model/sst/{name}")),
                size: Some(1_234_567 + i as i64),
                modified: None,
                catalog_url: "http://127.0.0.1:9/thredds/catalog/bench/model/sst/catalog.xml"
                    .into(),
            }
        })
        .collect()
}

/// The features of a page through the `Value` builder.
fn by_value(gs: &[Granule], ctx: &ItemContext<'_>) -> Vec<u8> {
    let features: Vec<serde_json::Value> = gs.iter().map(|g| item(g, ctx)).collect();
    serde_json::to_vec(&features).unwrap()
}

/// The same features written directly.
fn direct(gs: &[Granule], ctx: &ItemContext<'_>) -> Vec<u8> {
    let template = ItemTemplate::new(ctx);
    let mut out = Vec::with_capacity(gs.first().map_or(0, |g| template.estimate(g)) * gs.len());
    out.push(b'[');
    for (i, g) in gs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        template.write(&mut out, g);
    }
    out.push(b']');
    out
}

fn bench(c: &mut Criterion) {
    let services = services();
    let ctx = ItemContext {
        root: "http://127.0.0.1:8099/stac",
        collection_id: "bench:model/sst/hourly",
        services: &services,
        footprint: Some(BBox {
            west: -130.0,
            south: 20.0,
            east: -60.0,
            north: 55.0,
        }),
    };
    let mut group = c.benchmark_group("stac_items");
    for n in [24usize, 100] {
        let gs = granules(n);
        let a = by_value(&gs, &ctx);
        assert_eq!(a, direct(&gs, &ctx), "both ways give the same bytes");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("value_builder", n), &gs, |b, gs| {
            b.iter(|| by_value(gs, &ctx))
        });
        group.bench_with_input(BenchmarkId::new("direct_writer", n), &gs, |b, gs| {
            b.iter(|| direct(gs, &ctx))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
