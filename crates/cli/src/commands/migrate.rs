//! `threddex migrate`: apply the database migrations and exit.

use std::process::ExitCode;

use crate::cli::MigrateArgs;
use crate::db::{open_store, redact};

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    // Opening a store applies pending migrations; `migrate` again is a no-op check.
    let store = open_store(&args.db.db).await?;
    store.migrate().await?;
    store.ping().await?;
    println!(
        "{} database {} is up to date",
        store.backend(),
        redact(&args.db.db)
    );
    Ok(ExitCode::SUCCESS)
}
