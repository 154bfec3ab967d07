//! `threddex-sim`: serve a simulated THREDDS Data Server on 127.0.0.1 until ctrl-c.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use threddex_sim::{
    CurrentSpec, FaultRule, GoesSpec, ModelSpec, NexradSpec, SimClock, SimConfig, SimServer,
    TreeSpec,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TreeKind {
    Nexrad,
    Goes,
    Model,
    Current,
    Mixed,
    Empty,
}

/// Simulated THREDDS Data Server. Prints the root catalog URL on the first line of stdout.
#[derive(Debug, Parser)]
#[command(name = "threddex-sim", version)]
struct Args {
    /// Port on 127.0.0.1 (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Generated tree shape (`mixed` = NEXRAD + GOES + model runs + satellite `current/`).
    #[arg(long, value_enum, default_value = "nexrad")]
    tree: TreeKind,
    /// NEXRAD products.
    #[arg(long, default_value_t = 3)]
    products: usize,
    /// NEXRAD stations per product.
    #[arg(long, default_value_t = 5)]
    stations: usize,
    /// Day folders (NEXRAD and GOES), ending today.
    #[arg(long, default_value_t = 3)]
    days: usize,
    /// Files per day (NEXRAD max 1440, GOES max 86400), evenly spaced.
    #[arg(long, default_value_t = 24)]
    files_per_day: usize,
    /// GOES mesoscale sectors.
    #[arg(long, default_value_t = 2)]
    sectors: usize,
    /// GOES channels per sector.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// Models.
    #[arg(long, default_value_t = 3)]
    models: usize,
    /// Runs per model (one every 6 h).
    #[arg(long, default_value_t = 8)]
    runs: usize,
    /// Minutes between files of a satellite `current/` listing (it keeps `--days` days).
    #[arg(long, default_value_t = 15)]
    every_minutes: u32,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Directory of catalog files served by URL path (in addition to the tree; use
    /// `--tree empty` to serve only the directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed for granule sizes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Freeze the clock at this RFC 3339 instant (default: the system clock, live mode).
    #[arg(long)]
    fixed_time: Option<String>,
    /// Fault rule `SUBSTRING=KIND[:ARG][@TIMES]` (repeatable), KIND one of status:CODE,
    /// toomany:SECS, unavailable:SECS, slow:MS, truncated, malformed, html, redirect:HOPS, cycle,
    /// delay:MS.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<FaultRule>,
    /// File whose content is served as /robots.txt (404 when absent).
    #[arg(long)]
    robots_file: Option<PathBuf>,
    /// On shutdown (ctrl-c or SIGTERM), write the request counters to this file as JSON:
    /// `{"requests":N,"not_modified":N,"distinct_paths":N,"max_in_flight":N}`.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Send no `ETag`/`Last-Modified` and never answer 304 (catalogs generated per request).
    #[arg(long)]
    no_validators: bool,
}

impl Args {
    fn tree(&self) -> TreeSpec {
        let nexrad = TreeSpec::Nexrad(NexradSpec {
            products: self.products,
            stations: self.stations,
            days: self.days,
            files_per_day: self.files_per_day,
        });
        let goes = TreeSpec::Goes(GoesSpec {
            sectors: self.sectors,
            channels: self.channels,
            days: self.days,
            files_per_day: self.files_per_day,
            ..GoesSpec::default()
        });
        let model = TreeSpec::ModelRuns(ModelSpec {
            models: self.models,
            runs: self.runs,
        });
        let current = TreeSpec::Current(CurrentSpec {
            bands: 1,
            sectors: 1,
            every_minutes: self.every_minutes,
            days: u32::try_from(self.days).unwrap_or(u32::MAX),
        });
        match self.tree {
            TreeKind::Nexrad => nexrad,
            TreeKind::Goes => goes,
            TreeKind::Model => model,
            TreeKind::Current => current,
            TreeKind::Mixed => TreeSpec::Mixed(vec![nexrad, goes, model, current]),
            TreeKind::Empty => TreeSpec::Empty,
        }
    }
}

fn parse_fault(s: &str) -> Result<FaultRule, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let clock = match &args.fixed_time {
        Some(t) => SimClock::fixed(chrono::DateTime::parse_from_rfc3339(t)?.to_utc()),
        None => SimClock::system(),
    };
    let robots_txt = match &args.robots_file {
        Some(p) => Some(std::fs::read_to_string(p)?),
        None => None,
    };
    let cfg = SimConfig {
        tree: args.tree(),
        latency: Duration::from_millis(args.latency_ms),
        faults: args.faults.clone(),
        robots_txt,
        seed: args.seed,
        clock,
        dir: args.dir.clone(),
        port: args.port,
        require_auth: None,
        validators: !args.no_validators,
    };
    let server = SimServer::start(cfg).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server.root_catalog_url())?;
        out.flush()?;
    }
    eprintln!(
        "threddex-sim: {} catalogs, {} granules at {} (ctrl-c to stop)",
        server.catalog_count(),
        server.granule_count(),
        server.clock().now().to_rfc3339()
    );
    wait_for_stop().await?;
    if let Some(path) = &args.stats_file {
        let c = server.counters();
        let stats = serde_json::json!({
            "requests": c.total(),
            "not_modified": c.not_modified(),
            "distinct_paths": c.distinct_paths(),
            "max_in_flight": c.max_in_flight(),
        });
        std::fs::write(path, format!("{stats}\n"))?;
    }
    server.shutdown().await;
    Ok(())
}

/// Ctrl-c, or SIGTERM on Unix.
async fn wait_for_stop() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
