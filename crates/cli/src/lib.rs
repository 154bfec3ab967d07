//! `threddex`: incremental THREDDS metadata crawler and search service (command line).
//!
//! The binary is a thin shell over [`run`]; each subcommand lives in its own module under
//! `commands/`. Data goes to stdout, progress and logs to stderr.

#![forbid(unsafe_code)]

pub mod cli;
mod commands;
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
    init_tracing(args.verbose, args.quiet);
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
    match runtime.block_on(commands::dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,threddex=info",
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
