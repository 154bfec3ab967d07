//! `threddex ids`: the collection identity rules, exposed to operators.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use threddex_ids::Deriver;

use crate::cli::IdsArgs;
use crate::time::fmt_opt;

pub fn run(args: IdsArgs) -> anyhow::Result<ExitCode> {
    let deriver = Deriver::with_extra_rules(&args.rules).context("bad --rule")?;
    let authority = args.authority.unwrap_or_default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = |raw: &str| -> std::io::Result<()> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(());
        }
        let d = deriver.derive(raw, &authority);
        writeln!(
            out,
            "{}\t{}\t{}",
            d.collection_id,
            fmt_opt(d.start),
            fmt_opt(d.end)
        )
    };
    if args.ids.is_empty() {
        for l in std::io::stdin().lock().lines() {
            line(&l?)?;
        }
    } else {
        for id in &args.ids {
            line(id)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
