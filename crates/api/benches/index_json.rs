//! A/B of the `/index` JSON encoder: the hand-written writer the API serves
//! ([`threddex_api::encode::index_json`]) against a borrowed serde encoder (`#[derive(Serialize)]`
//! view structs over `&str` fields of the same page, access URLs written through
//! `collect_str` without building a `String`), on the same pages, encoding only.
//!
//! `cargo bench -p threddex-api --bench index_json`
//!
//! Both encoders are checked to give identical bytes before anything is measured. The serde
//! encoder gets a buffer of the exact answer size (its best case).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt;

use chrono::{DateTime, TimeDelta};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use threddex_search::{
    GranulePage, PageFreshness, RefreshOutcome, RefreshStatus, Served, granule_services,
};
use threddex_store::{AccessService, Granule, Timestamp};

/// A page like the load benchmark's one-day lookup, `n` hourly granules with three access
/// services (a compound one gives none).
fn page(n: usize) -> GranulePage {
    let svc = |name: &str, ty: &str, base: &str| AccessService {
        name: name.into(),
        service_type: ty.into(),
        base: base.into(),
        suffix: String::new(),
    };
    let services = granule_services(&[
        svc("all", "Compound", ""),
        svc("odap", "OpenDAP", "http://127.0.0.1:9/thredds/dodsC/"),
        svc(
            "http",
            "HTTPServer",
            "http://127.0.0.1:9/thredds/fileServer/",
        ),
        svc("wms", "WMS", "http://127.0.0.1:9/thredds/wms/"),
    ]);
    let t0 = DateTime::from_timestamp(1_704_067_200, 0).unwrap(); // 2024-01-01
    let collection = "edu.ucar.unidata:bench/model/sst/sst.nc";
    let granules = (0..n)
        .map(|i| {
            let start = t0 + TimeDelta::hours(i as i64);
            let name = format!("sst_{}.nc", start.format("%Y%m%d_%H%M"));
            Granule {
                collection_id: collection.into(),
                granule_id: format!("bench/model/sst/{name}"),
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
        .collect();
    GranulePage {
        collection_id: collection.into(),
        granules,
        services: services.into(),
        next: Some("eyJ2IjoxLCJrIjoiZyIsImgiOjEsInMiOjEsImlkIjoieCJ9".into()),
        freshness: PageFreshness {
            served: Served::Cache,
            refresh: RefreshStatus::Off,
            outcome: RefreshOutcome {
                refreshed: false,
                stale: false,
                indexed_through: Some(t0 + TimeDelta::microseconds(414_244)),
            },
        },
    }
}

// The serde challenger: view structs borrowing from the page.

#[derive(Serialize)]
struct PageView<'a> {
    collection: &'a str,
    granules: GranulesView<'a>,
    next: Option<&'a str>,
    refreshed: bool,
    stale: bool,
    indexed_through: Option<Timestamp>,
}

struct GranulesView<'a> {
    rows: &'a [Granule],
    services: &'a [AccessService],
}

impl Serialize for GranulesView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for g in self.rows {
            seq.serialize_element(&GranuleView {
                id: &g.granule_id,
                name: &g.name,
                start: g.start,
                end: g.end,
                size: g.size,
                url_path: g.url_path.as_deref(),
                catalog: &g.catalog_url,
                access: AccessList {
                    path: g.url_path.as_deref(),
                    services: self.services,
                },
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct GranuleView<'a> {
    id: &'a str,
    name: &'a str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    size: Option<i64>,
    url_path: Option<&'a str>,
    catalog: &'a str,
    access: AccessList<'a>,
}

struct AccessList<'a> {
    path: Option<&'a str>,
    services: &'a [AccessService],
}

impl Serialize for AccessList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let services = if self.path.is_some() {
            self.services
        } else {
            &[]
        };
        let path = self.path.unwrap_or_default();
        let mut seq = s.serialize_seq(Some(services.len()))?;
        for svc in services {
            seq.serialize_element(&AccessView {
                service: &svc.name,
                service_type: &svc.service_type,
                url: Url {
                    base: &svc.base,
                    path,
                    suffix: &svc.suffix,
                },
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct AccessView<'a> {
    service: &'a str,
    #[serde(rename = "type")]
    service_type: &'a str,
    url: Url<'a>,
}

/// `base + path + suffix`, written piecewise.
struct Url<'a> {
    base: &'a str,
    path: &'a str,
    suffix: &'a str,
}

impl fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base)?;
        f.write_str(self.path)?;
        f.write_str(self.suffix)
    }
}

impl Serialize for Url<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn serde_json_page(page: &GranulePage, capacity: usize) -> Vec<u8> {
    let o = &page.freshness.outcome;
    let view = PageView {
        collection: &page.collection_id,
        granules: GranulesView {
            rows: &page.granules,
            services: &page.services,
        },
        next: page.next.as_deref(),
        refreshed: o.refreshed,
        stale: o.stale,
        indexed_through: o.indexed_through,
    };
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, &view).unwrap();
    out
}

fn encoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("index_json");
    for n in [24, 1_000] {
        let page = page(n);
        let hand = threddex_api::encode::index_json(&page);
        let serde = serde_json_page(&page, hand.len());
        assert_eq!(
            String::from_utf8(hand.clone()).unwrap(),
            String::from_utf8(serde).unwrap(),
            "the encoders disagree"
        );
        group.throughput(Throughput::Bytes(hand.len() as u64));
        group.bench_with_input(BenchmarkId::new("hand_written", n), &page, |b, p| {
            b.iter(|| threddex_api::encode::index_json(std::hint::black_box(p)));
        });
        group.bench_with_input(BenchmarkId::new("serde_borrowed", n), &page, |b, p| {
            b.iter(|| serde_json_page(std::hint::black_box(p), hand.len()));
        });
    }
    group.finish();
}

criterion_group!(benches, encoders);
criterion_main!(benches);
