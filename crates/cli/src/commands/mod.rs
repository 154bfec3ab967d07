//! One module per subcommand.

mod changes;
mod collections;
mod config;
mod demo;
pub(crate) mod export;
mod granules;
mod harvest;
mod healthcheck;
mod ids;
mod migrate;
mod serve;
pub(crate) mod sources;
mod subscriptions;
mod sync;
mod worker;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::Loaded;

/// Run the chosen subcommand with the loaded configuration (flags not yet applied).
pub async fn dispatch(cli: Cli, loaded: Loaded) -> anyhow::Result<ExitCode> {
    let mut cfg = loaded.config.clone();
    match cli.command {
        Command::Harvest(args) => harvest::run(args, cfg).await,
        Command::Collections(args) => {
            cfg.apply_db(&args.db);
            collections::run(args, &cfg).await
        }
        Command::Changes(args) => {
            cfg.apply_db(&args.db);
            changes::run(args, &cfg).await
        }
        Command::Granules(args) => {
            cfg.apply_db(&args.db);
            granules::run(args, &cfg).await
        }
        Command::Ids(args) => ids::run(args),
        Command::Demo(args) => demo::run(args, cfg).await,
        Command::Export(args) => {
            cfg.apply_db(&args.db);
            export::run(args, &cfg).await
        }
        Command::Serve(args) => serve::run(args, cfg).await,
        Command::Sources(args) => sources::run(args, cfg).await,
        Command::Subscriptions(cmd) => subscriptions::run(cmd, cfg).await,
        Command::Sync(args) => sync::run(args, cfg).await,
        Command::Worker(args) => worker::run(args, cfg).await,
        Command::Migrate(args) => {
            cfg.apply_db(&args.db);
            migrate::run(&cfg).await
        }
        Command::Config(cmd) => config::run(cmd, &loaded),
        Command::Healthcheck(args) => healthcheck::run(args, &cfg).await,
    }
}
