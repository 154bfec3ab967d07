//! `threddex collections`: step 1 of the two-step search, from the command line.

use std::io::Write;
use std::process::ExitCode;

use threddex_store::CollectionQuery;

use crate::cli::CollectionsArgs;
use crate::config::Config;
use crate::time::fmt_opt;

const PAGE: u32 = 1000;

pub async fn run(args: CollectionsArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = cfg.database.open().await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !args.json {
        writeln!(out, "collection\tgranules\tstart\tend\ttitle")?;
    }
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_collections(&CollectionQuery {
                text: args.query.clone(),
                after_id: after.clone(),
                limit: PAGE,
                ..CollectionQuery::default()
            })
            .await?;
        for c in &page {
            if args.json {
                let v = serde_json::json!({
                    "id": c.info.id,
                    "title": c.info.title,
                    "granules": c.granule_count,
                    "start": c.start,
                    "end": c.end,
                    "catalog": c.info.catalog_url,
                    "services": c.info.services,
                });
                writeln!(out, "{v}")?;
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    c.info.id,
                    c.granule_count,
                    fmt_opt(c.start),
                    fmt_opt(c.end),
                    c.info.title
                )?;
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.info.id.clone()),
            _ => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
