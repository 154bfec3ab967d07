//! Throughput of `Deriver::derive` over a realistic mixed set of 100k dataset IDs.
//!
//! Run: `cargo bench -p threddex-ids --bench derive`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use threddex_ids::Deriver;

const N: usize = 100_000;

/// Tiny deterministic generator (no dependency on `rand`).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ids() -> Vec<String> {
    let mut r = Lcg(42);
    let stations = ["YUX", "FTG", "TLX", "MHX", "AMA", "LWX"];
    let products = ["PTA", "N0Q", "N0U", "NMD", "DPR"];
    let vars = ["tas", "pr", "huss", "uas", "vas"];
    let models = ["ACCESS1-0", "CanESM2", "MIROC5", "GFDL-CM3"];
    let names = [
        "grib/NCEP/RAP/CONUS_13km/Best",
        "grib/NCEP/GFS/Global_0p25deg_ana/TP",
        "cmip3.ipsl_cm4.pdcntrl.run1.day.ta.v1",
        "ExampleNcMLAggregation",
        "NWS/NPN/6min",
        "satellite/VIS/EAST-CONUS_1km/current",
        "flux/CO2.nc",
        "testData/ocean/sst_v2_0p25deg.nc",
    ];
    (0..N)
        .map(|i| {
            let y = 2000 + r.below(25);
            let m = 1 + r.below(12);
            let d = 1 + r.below(28);
            let hh = r.below(24);
            let mm = r.below(60);
            let doy = 1 + r.below(365);
            match i % 6 {
                0 => {
                    let st = stations[r.below(6) as usize];
                    let p = products[r.below(5) as usize];
                    format!(
                        "NWS/NEXRAD3/{p}/{st}/{y}{m:02}{d:02}/Level3_{st}_{p}_{y}{m:02}{d:02}_{hh:02}{mm:02}.nids"
                    )
                }
                1 => {
                    let ch = 1 + r.below(16);
                    let ss = r.below(60);
                    format!(
                        "goes-west-products/CloudAndMoistureImagery/Mesoscale-2/Channel{ch:02}/{y}{m:02}{d:02}/OR_ABI-L2-CMIPM2-M6C{ch:02}_G17_s{y}{doy:03}{hh:02}{mm:02}{ss:02}0_e{y}{doy:03}{hh:02}{mm:02}{ss:02}5_c{y}{doy:03}{hh:02}{mm:02}{ss:02}9.nc"
                    )
                }
                2 => format!(
                    "grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana_{y}{m:02}{d:02}_{:02}00.grib2",
                    (hh / 6) * 6
                ),
                3 => {
                    let v = vars[r.below(5) as usize];
                    let md = models[r.below(4) as usize];
                    let y0 = 1850 + r.below(100);
                    format!("{v}_Amon_{md}_historical_r1i1p1_{y0}01-{}12.nc", y0 + 50)
                }
                4 => names[r.below(names.len() as u64) as usize].to_owned(),
                _ => format!(
                    "/opendap/hyrax/SeaWiFS/L3SMI/{y}/{doy:03}/S{y}{doy:03}.L3m_DAY_CHL_chlor_a_9km.nc"
                ),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ids = ids();
    let deriver = Deriver::new();
    let mut g = c.benchmark_group("derive");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("mixed_100k", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(deriver.derive(black_box(id), "edu.ucar.unidata"));
            }
        })
    });
    // Same work, timed by the CPU time of this thread (Linux `/proc/thread-self/schedstat`),
    // so the figure is per core even when the machine is shared. Falls back to wall time.
    g.bench_function("mixed_100k_thread_cpu", |b| {
        b.iter_custom(|iters| {
            let t0 = thread_cpu_ns();
            let w0 = Instant::now();
            for _ in 0..iters {
                for id in &ids {
                    black_box(deriver.derive(black_box(id), "edu.ucar.unidata"));
                }
            }
            match (t0, thread_cpu_ns()) {
                (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
                _ => w0.elapsed(),
            }
        })
    });
    g.finish();
}

/// CPU time consumed by the current thread, in ns (Linux only).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

criterion_group!(benches, bench);
criterion_main!(benches);
