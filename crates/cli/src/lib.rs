//! `threddex`: incremental THREDDS metadata crawler and search service (command line).
//!
//! The binary is a thin shell over [`run`]; each subcommand lives in its own module under
//! `commands/`. Data goes to stdout, progress and logs to stderr.

#![forbid(unsafe_code)]

pub mod cli;
mod commands;
pub mod config;
mod db;
mod progress;
mod time;

use std::process::ExitCode;

use clap::Parser;

/// `threddex export --format iso` as a library call (for tests and tools).
pub use commands::export::{export_iso, file_name as export_file_name};
pub use db::{DEFAULT_DATABASE_URL, open_store};

/// Parse the command line, run the chosen subcommand and map the outcome to an exit status.
pub fn run() -> ExitCode {
    let args = cli::Cli::parse();
    // defaults → file → THREDDEX__ environment; each command lays its flags on top.
    let loaded = if needs_config(&args.command) {
        match config::load(args.config.as_deref()) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e:#}");
                // Container health checks know 0 and 1 only (Docker reserves 2).
                return if matches!(args.command, cli::Command::Healthcheck(_)) {
                    ExitCode::FAILURE
                } else {
                    ExitCode::from(2)
                };
            }
        }
    } else {
        config::Loaded::default()
    };
    init_tracing(args.verbose, args.quiet, &loaded.config.log.level);
    if let Some(f) = &loaded.file {
        tracing::debug!(file = %f.display(), "configuration file");
    }
    tracing::debug!(config = ?loaded.config, env = ?loaded.env_vars, "configuration (secrets redacted)");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(commands::dispatch(args, loaded)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every command reads the configuration, except those that must work without a valid one.
fn needs_config(c: &cli::Command) -> bool {
    match c {
        cli::Command::Ids(_) | cli::Command::Config(cli::ConfigCommand::Example) => false,
        cli::Command::Healthcheck(h) => h.url.is_none(),
        _ => true,
    }
}

/// `THREDDEX_LOG` wins, then `-q`/`-v`, then the config's `log.level`.
fn init_tracing(verbose: u8, quiet: bool, level: &str) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => level,
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("THREDDEX_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
