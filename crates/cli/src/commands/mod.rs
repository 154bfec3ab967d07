//! One module per subcommand.

mod collections;
mod demo;
pub(crate) mod export;
mod granules;
mod harvest;
mod ids;
mod migrate;
mod serve;
pub(crate) mod sources;
mod sync;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Run the chosen subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Harvest(args) => harvest::run(args).await,
        Command::Collections(args) => collections::run(args).await,
        Command::Granules(args) => granules::run(args).await,
        Command::Ids(args) => ids::run(args),
        Command::Demo(args) => demo::run(args).await,
        Command::Export(args) => export::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Sources(args) => sources::run(args).await,
        Command::Sync(args) => sync::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
    }
}
