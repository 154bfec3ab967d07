//! `threddex`: incremental THREDDS metadata crawler and search service (command line).
//!
//! The binary is a thin shell over [`run`]; each subcommand lives in its own module under
//! `commands/`. Data goes to stdout, progress and logs to stderr.

#![forbid(unsafe_code)]

/// `println!` that hands the write error back instead of panicking: a closed pipe
/// (`threddex config show | head -1`) then ends the command quietly (see [`run`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod cli;
mod commands;
pub mod config;
mod db;
mod progress;
mod time;

use std::process::ExitCode;

use clap::Parser;

/// `threddex export` as library calls (for tests and tools).
pub use commands::export::{
    export_iso, export_stac_geoparquet, file_name as export_file_name,
    file_stem as export_file_stem,
};
pub use db::{DEFAULT_DATABASE_URL, open_store};

/// Parse the command line, run the chosen subcommand and map the outcome to an exit status.
pub fn run() -> ExitCode {
    let args = cli::Cli::parse();
    // defaults → file → THREDDEX__ environment; each command lays its flags on top.
    let loaded = if needs_config(&args.command) {
        match config::load(args.config.as_deref()) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {}", chain_text(&e));
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
    progress::set_quiet(args.quiet);
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
        // The reader of stdout went away (`| head`): nothing left to say to anyone.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain_text(&e));
            if e.chain().any(|c| c.is::<BadConfig>()) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// An error and its causes on one line (`a: b: c`), as the logs print them.
fn chain_text(e: &anyhow::Error) -> String {
    threddex_store::ErrorChain(e.as_ref()).to_string()
}

/// A configuration that cannot work, whether it came from the file, the environment or the
/// flags: exit status 2, as for a bad config file.
#[derive(Debug)]
pub(crate) struct BadConfig(pub(crate) anyhow::Error);

impl std::fmt::Display for BadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for BadConfig {}

/// Whether the error is a write to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Every command reads the configuration, except those that must work without a valid one.
fn needs_config(c: &cli::Command) -> bool {
    match c {
        cli::Command::Ids(_) | cli::Command::Config(cli::ConfigCommand::Example) => false,
        cli::Command::Healthcheck(h) => h.url.is_none(),
        _ => true,
    }
}

/// Colour codes only for a person at a terminal: never in files, pipes or CI logs, nor when
/// `NO_COLOR` is set (<https://no-color.org>).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
        .with_ansi(colour_on_stderr())
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod chain_tests {
    use super::chain_text;

    #[derive(Debug)]
    struct Driver;
    impl std::fmt::Display for Driver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("(code: 14) unable to open database file")
        }
    }
    impl std::error::Error for Driver {}

    #[derive(Debug)]
    struct Wrapped(Driver);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error returned from database: {}", self.0)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_its_effect_already_repeats_is_said_once() {
        let e = anyhow::Error::new(Wrapped(Driver)).context("cannot open database x.db");
        assert_eq!(
            chain_text(&e),
            "cannot open database x.db: error returned from database: (code: 14) unable to open database file"
        );
    }

    #[test]
    fn distinct_causes_are_all_said() {
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(chain_text(&e), "outer: middle: inner");
    }
}
