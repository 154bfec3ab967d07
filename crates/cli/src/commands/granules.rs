//! `threddex granules`: step 2 of the two-step search, from the command line.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use threddex_store::GranuleQuery;

use crate::cli::GranulesArgs;
use crate::config::Config;
use crate::time::fmt_opt;

const PAGE: u32 = 5000;

pub async fn run(args: GranulesArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    if let (Some(s), Some(e)) = (args.start, args.end)
        && e < s
    {
        bail!("--end ({e}) is before --start ({s})");
    }
    let store = cfg.database.open().await?;
    let Some(collection) = store.collection(&args.collection).await? else {
        bail!(
            "no collection {:?} in the index (see `threddex collections`)",
            args.collection
        );
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !args.json {
        writeln!(out, "granule\tstart\tend\tsize\turl_path")?;
    }
    let mut remaining = args.limit.unwrap_or(u64::MAX);
    let mut after = None;
    while remaining > 0 {
        let limit = u32::try_from(remaining.min(u64::from(PAGE))).unwrap_or(PAGE);
        let page = store
            .list_granules(&GranuleQuery {
                collection_id: args.collection.clone(),
                start: args.start,
                end: args.end,
                after: after.clone(),
                limit,
            })
            .await?;
        for g in &page {
            if args.json {
                let access: Vec<_> = match &g.url_path {
                    Some(p) => collection
                        .info
                        .services
                        .iter()
                        .map(
                            |s| serde_json::json!({"service": s.service_type, "url": s.url_for(p)}),
                        )
                        .collect(),
                    None => Vec::new(),
                };
                let v = serde_json::json!({
                    "id": g.granule_id,
                    "name": g.name,
                    "start": g.start,
                    "end": g.end,
                    "size": g.size,
                    "url_path": g.url_path,
                    "catalog": g.catalog_url,
                    "access": access,
                });
                writeln!(out, "{v}")?;
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    g.granule_id,
                    fmt_opt(g.start),
                    fmt_opt(g.end),
                    g.size.map_or_else(|| "-".to_string(), |s| s.to_string()),
                    g.url_path.as_deref().unwrap_or("-")
                )?;
            }
        }
        remaining = remaining.saturating_sub(page.len() as u64);
        match page.last() {
            Some(last) if page.len() == limit as usize => {
                after = Some((last.start, last.granule_id.clone()));
            }
            _ => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
