//! `threddex changes`: the change log, one CloudEvent (JSON) per line, from a cursor; with
//! `--follow`, new entries as they commit.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use threddex_store::ChangeQuery;

use crate::cli::ChangesArgs;
use crate::config::Config;

pub async fn run(args: ChangesArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = cfg.database.open().await?;
    let base = cfg
        .api
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();
    let mut after = match args.after {
        Some(a) => a,
        None => store.change_head().await?.1,
    };
    let poll = args.poll.unwrap_or(Duration::from_millis(500));
    let stdout = std::io::stdout();
    loop {
        let page = store
            .changes(&ChangeQuery {
                after,
                collections: args.collection.clone(),
                limit: 1000,
            })
            .await?;
        if page.expired {
            bail!(
                "cursor {after} is older than the change log keeps (entries up to {} were \
                 removed); start over: read the collections and their granules (`threddex \
                 collections`, `threddex granules`), then follow `threddex changes --after {}`",
                page.pruned_through,
                page.head
            );
        }
        {
            let mut out = stdout.lock();
            for c in &page.changes {
                let e = threddex_notify::cloud_event(c, &base);
                writeln!(out, "{}", serde_json::to_string(&e)?)?;
            }
            out.flush()?;
        }
        let empty = page.changes.is_empty();
        after = page.next.max(after);
        if empty {
            if !args.follow {
                break;
            }
            tokio::time::sleep(poll).await;
        }
    }
    if !args.follow {
        eprintln!("next cursor: {after}");
    }
    Ok(ExitCode::SUCCESS)
}
