//! One module per subcommand.

mod collections;
mod demo;
mod granules;
mod harvest;
mod ids;

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
    }
}
