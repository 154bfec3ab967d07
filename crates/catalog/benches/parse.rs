//! Parse throughput: a generated NEXRAD-like catalog of 100k datasets, and a real fixture.
//!
//! Run: `cargo bench -p threddex-catalog --bench parse`

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use threddex_catalog::{Url, parse_catalog};

#[path = "gen.rs"]
mod generator;
use generator::synthetic_catalog;

fn benches(c: &mut Criterion) {
    let url = Url::parse("https://thredds.example.org/thredds/catalog/nexrad/level2/catalog.xml")
        .unwrap();
    let xml = synthetic_catalog(100_000);
    let cat = parse_catalog(xml.as_bytes(), &url).unwrap();
    assert_eq!(cat.leaves().len(), 100_000);

    let mut g = c.benchmark_group("synthetic_100k");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(xml.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| parse_catalog(black_box(xml.as_bytes()), &url).unwrap())
    });
    g.bench_function("parse+leaves", |b| {
        b.iter(|| {
            let cat = parse_catalog(black_box(xml.as_bytes()), &url).unwrap();
            cat.leaves().len()
        })
    });
    g.bench_function("parse+leaves+access_urls", |b| {
        b.iter(|| {
            let cat = parse_catalog(black_box(xml.as_bytes()), &url).unwrap();
            cat.leaves()
                .iter()
                .map(|l| l.access_services(&cat).len())
                .sum::<usize>()
        })
    });
    g.bench_function("parse+leaf_refs", |b| {
        b.iter(|| {
            let cat = parse_catalog(black_box(xml.as_bytes()), &url).unwrap();
            cat.leaf_refs().len()
        })
    });
    g.bench_function("parse+leaf_refs+access_urls", |b| {
        b.iter(|| {
            let cat = parse_catalog(black_box(xml.as_bytes()), &url).unwrap();
            cat.leaf_refs()
                .iter()
                .map(|l| l.access_services(&cat).len())
                .sum::<usize>()
        })
    });
    // Calibration: the XML tokenizer alone (events + namespace resolution, no tree).
    g.bench_function("quick_xml_events_only", |b| {
        b.iter(|| {
            let text = std::str::from_utf8(black_box(xml.as_bytes())).unwrap();
            let mut r = quick_xml::NsReader::from_str(text);
            let mut n = 0usize;
            loop {
                match r.read_event().unwrap() {
                    quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                        let _ = r.resolver().resolve_element(e.name());
                        n += e.attributes().count();
                    }
                    quick_xml::events::Event::Eof => break,
                    _ => n += 1,
                }
            }
            n
        })
    });
    g.finish();

    let real = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/real/siphon/thredds-test.unidata.ucar.edu/thredds/catalog/grib/NCEP/RAP/CONUS_13km/catalog__2015-05-27.xml"
    );
    if let Ok(bytes) = std::fs::read(real) {
        let url = Url::parse("https://thredds-test.unidata.ucar.edu/thredds/catalog/grib/NCEP/RAP/CONUS_13km/catalog.xml")
            .unwrap();
        let mut g = c.benchmark_group("real_rap_catalog");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("parse", |b| {
            b.iter(|| parse_catalog(black_box(&bytes), &url).unwrap())
        });
        g.finish();
    }
}

criterion_group!(parse, benches);
criterion_main!(parse);
