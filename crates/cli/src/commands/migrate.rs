//! `threddex migrate`: apply the database migrations and exit.

use std::process::ExitCode;

use crate::config::Config;

pub async fn run(cfg: &Config) -> anyhow::Result<ExitCode> {
    // Opening a store applies pending migrations; `migrate` again is a no-op check.
    let store = cfg.database.open().await?;
    store.migrate().await?;
    store.ping().await?;
    outln!(
        "{} database {} is up to date",
        store.backend(),
        cfg.database.url
    )?;
    Ok(ExitCode::SUCCESS)
}
