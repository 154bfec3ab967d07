//! `threddex sources add|list|remove`: the registered sources.

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use threddex_crawler::source_input;
use threddex_store::{CatalogStatus, ClassRule, NewSource, RunStatus, Source, Store};

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

pub use threddex_crawler::source_input::{derive_name, every_text, host_port};

/// A source's start catalog URL, checked as every entry point checks it (http or https, no
/// credentials in it) and normalised as stored.
pub fn check_source_url(raw: &str) -> anyhow::Result<url::Url> {
    source_input::check_url(raw).map_err(|e| bad_source(raw, &e))
}

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

/// A sync interval (`90s`, `10m`, `2h`, `1d`) in seconds.
pub fn parse_every(s: &str) -> Result<i64, String> {
    source_input::parse_every(s).map_err(|e| e.message)
}

/// `REGEX=archival|live|daily|mixed`, the pattern compiled to check it.
pub fn parse_rule_arg(s: &str) -> Result<ClassRule, String> {
    source_input::parse_rule(s).map_err(|e| e.message)
}

async fn add(a: SourcesAddArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    // The same checks as every other entry point (credentials in the URL, name, interval,
    // authority, patterns), before the store is opened.
    let input = source_input::SourceInput {
        url: a.url.clone(),
        name: a.name.clone(),
        every: a.every.map(|s| s.to_string()),
        authority: a.authority.clone(),
        select: a.select.clone(),
        skip: a.skip.clone(),
        rules: a
            .rules
            .iter()
            .map(|r| format!("{}={}", r.pattern, r.class.as_str()))
            .collect(),
    };
    let checked = input
        .clone()
        .check(|u| Some(host_port(u)))
        .map_err(|e| bad_source(&a.url, &e))?;
    let url = url::Url::parse(&checked.url).context("checked URL")?;
    let store = cfg.database.open().await?;
    let name = match a.name.clone() {
        Some(n) => n,
        None => default_source_name(store.as_ref(), &url, cfg).await?,
    };
    let settings = NewSource { name, ..checked };
    let name = settings.name.clone();
    if let Some(existing) = store.source_by_name(&name).await?
        && existing.settings.url == settings.url
    {
        if !a.if_missing {
            bail!(
                "source {name} ({}) is registered already: `threddex sources list` shows it \
                 (`sources add --if-missing` succeeds in this case)",
                existing.settings.url
            );
        }
        outln!(
            "source {name} ({}) is registered already, every {}",
            existing.settings.url,
            every_text(existing.settings.every_secs)
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = conflict(store.as_ref(), &settings).await? {
        bail!("cannot register source {name:?}: {why}");
    }
    let s = store
        .add_source(&settings)
        .await
        .context("cannot register the source")?;
    outln!(
        "added source {} ({}), every {}",
        s.settings.name,
        s.settings.url,
        every_text(s.settings.every_secs)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A refused source setting as a configuration error (exit status 2).
pub fn bad_source(raw_url: &str, e: &source_input::SourceInputError) -> anyhow::Error {
    let shown = source_input::redact_url(raw_url.trim());
    anyhow::Error::new(crate::BadConfig(anyhow::anyhow!(
        "{shown:?}: {}: {}",
        e.field,
        e.message
    )))
}

/// Why `wanted` cannot be registered as it is, with what to do about it: another source has
/// its name (with another URL) or its URL (under another name). None when neither.
pub async fn conflict(store: &dyn Store, wanted: &NewSource) -> anyhow::Result<Option<String>> {
    if let Some(other) = store.source_by_name(&wanted.name).await?
        && other.settings.url != wanted.url
    {
        return Ok(Some(format!(
            "the name {:?} is taken by a source with another URL ({}): give another one with \
             --name, or \
             `threddex sources remove {}` first (it drops what was harvested from it)",
            wanted.name,
            source_input::redact_url(&other.settings.url),
            other.settings.name
        )));
    }
    if let Some(other) = store.source_by_url(&wanted.url).await?
        && other.settings.name != wanted.name
    {
        return Ok(Some(format!(
            "{} is registered as source {:?}: use --name {} (or no --name), or \
             `threddex sources remove {}` first (it drops what was harvested from it)",
            wanted.url, other.settings.name, other.settings.name, other.settings.name
        )));
    }
    Ok(None)
}

/// How a source's syncs are going: the latest run's status (`ok`, `partial`, `failed`,
/// `running`; `never` before the first) and how many of its catalogs failed at their last
/// read (they are retried on every sync).
struct Health {
    status: &'static str,
    failed_catalogs: usize,
}

async fn health(store: &dyn Store, s: &Source) -> anyhow::Result<Health> {
    let last = store.list_runs(Some(&s.settings.name), 1).await?;
    let status = match (last.first(), s.last_sync_at) {
        (Some(r), _) => r.status.as_str(),
        (None, None) => "never",
        (None, Some(t)) if s.last_success_at == Some(t) => RunStatus::Ok.as_str(),
        (None, Some(_)) => RunStatus::Failed.as_str(),
    };
    let failed_catalogs = store
        .catalogs_of_source(s.id)
        .await?
        .iter()
        .filter(|c| c.status == CatalogStatus::Failed)
        .count();
    Ok(Health {
        status,
        failed_catalogs,
    })
}

async fn list(a: SourcesListArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = cfg.database.open().await?;
    let sources = store.list_sources().await?;
    let mut with_credentials = Vec::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json {
        writeln!(
            out,
            "NAME\tURL\tEVERY\tLAST SYNC\tLAST SUCCESS\tSTATUS\tFAILED CATALOGS\tRULES"
        )?;
    }
    for s in &sources {
        // A URL stored with credentials (before they were refused) never shows its password.
        let url = source_input::redact_url(&s.settings.url);
        if source_input::has_credentials(&s.settings.url) {
            with_credentials.push(s.settings.name.clone());
        }
        let h = health(store.as_ref(), s).await?;
        if a.json {
            let mut v = serde_json::to_value(s)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("url".into(), url.into());
                obj.insert("status".into(), h.status.into());
                obj.insert("failed_catalogs".into(), h.failed_catalogs.into());
            }
            writeln!(out, "{v}")?;
            continue;
        }
        let rules: Vec<String> = s
            .settings
            .rules
            .iter()
            .map(|r| format!("{}={}", r.pattern, r.class.as_str()))
            .collect();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            s.settings.name,
            url,
            every_text(s.settings.every_secs),
            fmt_opt(s.last_sync_at),
            fmt_opt(s.last_success_at),
            h.status,
            h.failed_catalogs,
            if rules.is_empty() {
                "-".into()
            } else {
                rules.join(" ")
            }
        )?;
    }
    out.flush()?;
    for name in with_credentials {
        eprintln!(
            "warning: source {name}'s stored URL holds credentials; `threddex sources remove \
             {name}` and register it again with the URL alone and the credentials in \
             [sources.auth] of the configuration"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(a: SourcesRemoveArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = cfg.database.open().await?;
    if store.remove_source(&a.name).await? {
        outln!("removed source {} and everything harvested from it", a.name)?;
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
        assert!(name.len() <= source_input::MAX_NAME_CHARS, "{name}");
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
