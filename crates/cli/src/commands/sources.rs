//! `threddex sources add|list|remove`: the registered sources.

use std::process::ExitCode;

use anyhow::{Context, bail};
use threddex_store::{ClassRule, NewSource};

use crate::cli::{SourcesAddArgs, SourcesCommand, SourcesListArgs, SourcesRemoveArgs};
use crate::config::Config;
use crate::time::fmt_opt;

pub async fn run(cmd: SourcesCommand, mut cfg: Config) -> anyhow::Result<ExitCode> {
    match cmd {
        SourcesCommand::Add(a) => {
            cfg.apply_db(&a.db);
            add(a, &cfg).await
        }
        SourcesCommand::List(a) => {
            cfg.apply_db(&a.db);
            list(a, &cfg).await
        }
        SourcesCommand::Remove(a) => {
            cfg.apply_db(&a.db);
            remove(a, &cfg).await
        }
    }
}

/// A source's start catalog URL, checked (http or https) and normalised as stored.
pub fn check_source_url(raw: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(raw.trim())
        .with_context(|| format!("{raw:?} is not a URL (expected http(s)://host/…/catalog.xml)"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{raw:?}: only http and https catalog URLs can be sources");
    }
    threddex_crawler::urls::parse_catalog_url(url.as_str())
        .map_err(|e| anyhow::anyhow!("{raw:?}: {e}"))
}

/// A sync interval: a positive whole number with a unit `s`, `m`, `h` or `d`; in seconds.
pub fn parse_every(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not an interval: use e.g. 90s, 10m, 2h or 1d");
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs <= 0 || secs > 366 * 86_400 {
        return Err(format!("{s:?}: the interval must be between 1s and 366d"));
    }
    Ok(secs)
}

/// `REGEX=archival|live|daily|mixed`, the pattern compiled to check it.
pub fn parse_rule_arg(s: &str) -> Result<ClassRule, String> {
    threddex_crawler::classify::parse_rule(s)
}

pub fn every_text(secs: Option<i64>) -> String {
    match secs {
        None => "10m (default)".into(),
        Some(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) if s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

async fn add(a: SourcesAddArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let url = check_source_url(&a.url)?;
    for p in a.select.iter().chain(&a.skip) {
        regex::Regex::new(p).with_context(|| format!("bad pattern {p:?}"))?;
    }
    let name = a.name.clone().unwrap_or_else(|| {
        let host = url.host_str().unwrap_or("source");
        match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    });
    let store = cfg.database.open().await?;
    if a.if_missing
        && let Some(existing) = store.source_by_name(&name).await?
    {
        if existing.settings.url != url.as_str() {
            bail!(
                "a source named {name:?} exists with another URL ({}); remove it first or pick \
                 another --name",
                existing.settings.url
            );
        }
        println!(
            "source {name} ({}) is registered already, every {}",
            existing.settings.url,
            every_text(existing.settings.every_secs)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let s = store
        .add_source(&NewSource {
            name,
            url: url.to_string(),
            authority: a.authority,
            every_secs: a.every,
            select: a.select,
            skip: a.skip,
            rules: a.rules,
        })
        .await
        .context("cannot register the source")?;
    println!(
        "added source {} ({}), every {}",
        s.settings.name,
        s.settings.url,
        every_text(s.settings.every_secs)
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(a: SourcesListArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = cfg.database.open().await?;
    let sources = store.list_sources().await?;
    if a.json {
        for s in &sources {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("NAME\tURL\tEVERY\tLAST SYNC\tLAST SUCCESS\tRULES");
    for s in &sources {
        let rules: Vec<String> = s
            .settings
            .rules
            .iter()
            .map(|r| format!("{}={}", r.pattern, r.class.as_str()))
            .collect();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            s.settings.name,
            s.settings.url,
            every_text(s.settings.every_secs),
            fmt_opt(s.last_sync_at),
            fmt_opt(s.last_success_at),
            if rules.is_empty() {
                "-".into()
            } else {
                rules.join(" ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(a: SourcesRemoveArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = cfg.database.open().await?;
    if store.remove_source(&a.name).await? {
        println!("removed source {} and everything harvested from it", a.name);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: no source named {:?}", a.name);
        Ok(ExitCode::from(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_every("90s"), Ok(90));
        assert_eq!(parse_every("10m"), Ok(600));
        assert_eq!(parse_every("2h"), Ok(7200));
        assert_eq!(parse_every("1d"), Ok(86_400));
        assert_eq!(parse_every("45"), Ok(45));
        for bad in [
            "",
            "0s",
            "m",
            "1w",
            "-5m",
            "1.5h",
            "99999999999999999999d",
            "400d",
        ] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
        assert_eq!(every_text(Some(600)), "10m");
        assert_eq!(every_text(Some(90)), "90s");
        assert_eq!(every_text(Some(86_400)), "1d");
    }

    #[test]
    fn rules_are_validated() {
        assert!(parse_rule_arg("/latest/=live").is_ok());
        assert!(parse_rule_arg("/x/=sometimes").is_err());
        assert!(parse_rule_arg("([=archival").is_err());
    }
}
