//! `threddex sources add|list|remove`: the registered sources.

use std::process::ExitCode;

use std::collections::HashSet;

use anyhow::{Context, bail};
use threddex_store::{ClassRule, NewSource, Store};

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

/// Longest default name: the admin API's limit for names (`POST /sources`).
const MAX_DEFAULT_NAME: usize = 100;

/// The name a source registered for `url` gets when none is given: the registered source
/// with this URL keeps its name; otherwise `host[:port]` when that is free, else `host[:port]`
/// plus the distinguishing part of the catalog path (`thredds.ucar.edu_nexrad_level3` for
/// `…/thredds/catalog/nexrad/level3/catalog.xml`), else that with `-2`, `-3`, … appended.
/// Names of registered sources and of the configuration's `[[sources]]` count as taken.
pub async fn default_source_name(
    store: &dyn Store,
    url: &url::Url,
    config: &Config,
) -> anyhow::Result<String> {
    if let Some(existing) = store.source_by_url(url.as_str()).await? {
        return Ok(existing.settings.name);
    }
    let mut taken: HashSet<String> = store
        .list_sources()
        .await?
        .into_iter()
        .map(|s| s.settings.name)
        .collect();
    taken.extend(config.sources.iter().map(|s| s.name.clone()));
    derive_name(url, &|n| taken.contains(n)).ok_or_else(|| {
        anyhow::anyhow!(
            "no free default name for {url}: give one with --name (see `threddex sources list`)"
        )
    })
}

/// [`default_source_name`] without a store: the first candidate that `taken` refuses not.
pub fn derive_name(url: &url::Url, taken: &dyn Fn(&str) -> bool) -> Option<String> {
    let host = host_port(url);
    if !taken(&host) {
        return Some(host);
    }
    let base = match path_part(url, MAX_DEFAULT_NAME.saturating_sub(host.len() + 6)) {
        Some(path) => {
            let named = format!("{host}_{path}");
            if !taken(&named) {
                return Some(named);
            }
            named
        }
        None => host,
    };
    (2..=1000)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
}

/// `host[:port]` of a URL.
pub fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("source");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// What tells a start catalog apart from others of its server: its path without the TDS
/// context and catalog service (`/thredds/catalog/`) and without the file name `catalog.xml`
/// (another file name keeps its stem), segments joined by `_`, characters other than
/// `A-Z a-z 0-9 . _ -` replaced by `-`; leading segments dropped to fit in `max` characters.
/// None when nothing is left (the server's root catalog).
fn path_part(url: &url::Url, max: usize) -> Option<String> {
    let mut segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    match segs.last().copied() {
        Some("catalog.xml") => {
            segs.pop();
        }
        Some(last) => {
            if let Some(stem) = last.strip_suffix(".xml").filter(|s| !s.is_empty())
                && let Some(slot) = segs.last_mut()
            {
                *slot = stem;
            }
        }
        None => {}
    }
    if segs.len() >= 2 && segs[1] == "catalog" {
        segs.drain(..2);
    } else if segs.first() == Some(&"thredds") {
        segs.remove(0);
    }
    let clean: Vec<String> = segs
        .iter()
        .map(|seg| {
            seg.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .collect();
    // The most specific (last) segments are kept when the whole does not fit.
    let mut start = 0;
    while start < clean.len() && clean[start..].join("_").len() > max {
        start += 1;
    }
    let joined = clean[start..].join("_");
    (!joined.is_empty()).then_some(joined)
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
    let store = cfg.database.open().await?;
    let name = match a.name.clone() {
        Some(n) => n,
        None => default_source_name(store.as_ref(), &url, cfg).await?,
    };
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

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn default_names_tell_start_catalogs_of_one_server_apart() {
        let taken = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        let level3 = url("https://thredds.ucar.edu/thredds/catalog/nexrad/level3/catalog.xml");
        let level2 = url("https://thredds.ucar.edu/thredds/catalog/nexrad/level2/catalog.xml");
        // The first source of a host gets the host.
        assert_eq!(
            derive_name(&level3, &|_| false).as_deref(),
            Some("thredds.ucar.edu")
        );
        // Another one the distinguishing part of its path.
        assert_eq!(
            derive_name(&level2, &taken(&["thredds.ucar.edu"])).as_deref(),
            Some("thredds.ucar.edu_nexrad_level2")
        );
        // Ports stay; the TDS context, the catalog service and catalog.xml go; another file
        // name keeps its stem.
        assert_eq!(
            derive_name(
                &url("http://127.0.0.1:8080/thredds/catalog/grib/NCEP/GFS/latest.xml?x=1"),
                &taken(&["127.0.0.1:8080"])
            )
            .as_deref(),
            Some("127.0.0.1:8080_grib_NCEP_GFS_latest")
        );
        assert_eq!(
            derive_name(
                &url("http://h/tds/catalog/a%20b/catalog.xml"),
                &taken(&["h"])
            )
            .as_deref(),
            Some("h_a-20b")
        );
        // Still taken: -2, -3, …; the root catalog has no path part.
        assert_eq!(
            derive_name(
                &level2,
                &taken(&["thredds.ucar.edu", "thredds.ucar.edu_nexrad_level2"])
            )
            .as_deref(),
            Some("thredds.ucar.edu_nexrad_level2-2")
        );
        assert_eq!(
            derive_name(
                &url("https://thredds.ucar.edu/thredds/catalog.xml"),
                &taken(&["thredds.ucar.edu", "thredds.ucar.edu-2"])
            )
            .as_deref(),
            Some("thredds.ucar.edu-3")
        );
        // Deterministic, and within the admin API's name rules.
        let deep = url(&format!(
            "https://thredds.ucar.edu/thredds/catalog/{}/last/catalog.xml",
            "segment/".repeat(30)
        ));
        let name = derive_name(&deep, &taken(&["thredds.ucar.edu"])).unwrap();
        assert_eq!(
            Some(name.clone()),
            derive_name(&deep, &taken(&["thredds.ucar.edu"]))
        );
        assert!(name.len() <= MAX_DEFAULT_NAME, "{name}");
        assert!(name.ends_with("_segment_last"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)),
            "{name}"
        );
        // Nothing free at all.
        assert_eq!(derive_name(&level2, &|_| true), None);
    }

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
