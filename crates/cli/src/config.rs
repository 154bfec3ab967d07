//! `threddex.toml`: one configuration for everything a flag can set, plus the sources.
//!
//! Layers, each overriding the one before: built-in defaults → the config file (`--config PATH`,
//! else `THREDDEX_CONFIG`, else `./threddex.toml` when it exists) → environment variables
//! `THREDDEX__SECTION__KEY` (values parsed with the key's type; the older
//! `THREDDEX_DATABASE_URL` still works and sits just below `THREDDEX__DATABASE__URL`) → the
//! flags the user actually gave. Unknown keys, in the file or in `THREDDEX__` variables, are an
//! error that names the key and where it came from.
//!
//! Secrets (the database password, the admin token, source passwords, tokens and cookies) are
//! held in [`Secret`] and [`DatabaseUrl`], whose `Debug`, `Display` and `Serialize` redact them,
//! so neither logs nor `threddex config show` can print them.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use threddex_crawler::{SourceAuth, SourceAuthMap};
use threddex_store::{NewSource, Store};

use crate::cli::{ApiArgs, CrawlArgs, DbArgs, SyncArgs};
use crate::db::DEFAULT_DATABASE_URL;

/// Prefix of the environment variables that set config keys: `THREDDEX__SECTION__KEY`.
pub const ENV_PREFIX: &str = "THREDDEX__";
/// The environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "THREDDEX_CONFIG";
/// The older name of `THREDDEX__DATABASE__URL`, still honoured.
pub const LEGACY_DATABASE_ENV: &str = "THREDDEX_DATABASE_URL";
/// The config file read from the working directory when none is named.
pub const DEFAULT_CONFIG_FILE: &str = "threddex.toml";
/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// What secrets print as.
const REDACTED: &str = "[redacted]";

mod notify;
mod sources;
#[cfg(test)]
mod tests;
mod values;

pub use notify::{NotifySection, WebhooksSection};
pub use sources::{Registered, register_sources};
pub use values::{DatabaseUrl, Dur, Every, Secret, fmt_duration};

// ----- the configuration -------------------------------------------------------------------

/// The whole configuration (`threddex.toml`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[database]`.
    pub database: DatabaseSection,
    /// `[api]`: `threddex serve` (and `demo --serve`).
    pub api: ApiSection,
    /// `[crawl]`: politeness and limits of every crawl (harvest, sync, scheduler, refresh).
    pub crawl: CrawlSection,
    /// `[sync]`: `threddex sync` and the scheduler of `serve`.
    pub sync: SyncSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[admin]`: the administrative HTTP endpoints.
    pub admin: AdminSection,
    /// `[changes]`: the change log and its readers.
    pub changes: ChangesSection,
    /// `[notify]`: deliveries of the change log (`[notify.webhooks]`, `[notify.mqtt]`).
    pub notify: NotifySection,
    /// `[[sources]]`: registered (or their settings updated) on `serve` and `sync` start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceConfig>,
}

/// `[database]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    pub url: DatabaseUrl,
    /// Connections of each of a process's two Postgres pools (SQLite ignores it).
    pub pool_size: u32,
    /// A streaming replica of the Postgres database `url` names (`postgres://…`): `serve`
    /// sends its search reads there; writes, leases and crawl state stay on `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_url: Option<DatabaseUrl>,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new(DEFAULT_DATABASE_URL),
            pool_size: threddex_store_postgres::DEFAULT_POOL_SIZE,
            read_url: None,
        }
    }
}

impl DatabaseSection {
    /// Open (creating and migrating when needed) the database with these settings.
    pub async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        crate::db::open_store_with(self.url.expose(), self.pool_size).await
    }

    /// [`DatabaseSection::open`] for `serve`, with the shared-crawl capabilities of a Postgres
    /// database and search reads sent to `read_url` when it is set (commands that crawl or
    /// administer read where they write).
    pub async fn open_for_search(
        &self,
    ) -> anyhow::Result<(std::sync::Arc<dyn Store>, Option<crate::db::SharedCrawl>)> {
        let read = self.read_url.as_ref().map(|r| r.expose());
        crate::db::open_store_shared(self.url.expose(), read, self.pool_size).await
    }

    /// [`DatabaseSection::open`], with the shared-crawl capabilities of a Postgres database.
    pub async fn open_shared(
        &self,
    ) -> anyhow::Result<(std::sync::Arc<dyn Store>, Option<crate::db::SharedCrawl>)> {
        crate::db::open_store_shared(self.url.expose(), None, self.pool_size).await
    }
}

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Address to listen on.
    pub bind: String,
    /// Public base URL for absolute links (default: from the request's `Host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long `/index` waits for a refresh.
    pub refresh_deadline: Dur,
    /// A collection's live catalogs are re-read at most once per this interval.
    pub min_refresh_interval: Dur,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            refresh_deadline: Dur(Duration::from_secs(3)),
            min_refresh_interval: Dur(Duration::from_secs(60)),
        }
    }
}

/// `[crawl]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlSection {
    /// Catalogs fetched at once.
    pub concurrency: usize,
    /// Requests per second per host.
    pub rate: f64,
    /// Requests in flight per host (unset: 8 for harvest and sync, 4 for `serve`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_host: Option<usize>,
    /// Retries of a transient failure.
    pub retries: u32,
    /// Seconds to wait for a catalog's response.
    pub timeout: u64,
    /// Neither fetch nor obey robots.txt.
    pub ignore_robots: bool,
    /// `User-Agent` header (unset: `threddex/VERSION (+URL)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Default for CrawlSection {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rate: 10.0,
            per_host: None,
            retries: 4,
            timeout: 30,
            ignore_robots: false,
            user_agent: None,
        }
    }
}

/// Requests in flight per host for `harvest` and `sync` when `crawl.per_host` is unset.
pub const PER_HOST_CLI: usize = 8;
/// Requests in flight per host for `serve` (scheduler, refresh on demand) when unset.
pub const PER_HOST_SERVE: usize = 4;

/// `[sync]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    /// Lifetime of a source's sync lease.
    pub lease_ttl: Dur,
    /// Grace period for late files in dated folders.
    pub grace: Dur,
    /// Run the sync scheduler inside `serve`.
    pub scheduler: bool,
    /// On Postgres, `serve`'s scheduler is a worker of the shared frontier (false: the
    /// per-process scheduler, one source per process at a time).
    pub worker: bool,
    /// How long a worker's claim on a catalog lasts unless renewed.
    pub claim_ttl: Dur,
}

impl Default for SyncSection {
    fn default() -> Self {
        Self {
            lease_ttl: Dur(Duration::from_secs(60)),
            grace: Dur(Duration::from_secs(6 * 3600)),
            scheduler: true,
            worker: true,
            claim_ttl: Dur(Duration::from_secs(30)),
        }
    }
}

/// The log filter when neither `-v`/`-q` nor `THREDDEX_LOG` is given.
pub const DEFAULT_LOG_LEVEL: &str = "warn,threddex=info";

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A `tracing` filter: `info`, `debug`, `warn,threddex_crawler=debug`, ….
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: DEFAULT_LOG_LEVEL.into(),
        }
    }
}

/// `[changes]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangesSection {
    /// How long change-log entries are kept; an older cursor answers 410 Gone.
    pub retention: Dur,
    /// How often `serve` looks for new entries (`/changes` long polls, `/changes/stream`).
    pub poll: Dur,
}

impl Default for ChangesSection {
    fn default() -> Self {
        Self {
            retention: Dur(Duration::from_secs(
                u64::from(threddex_store::DEFAULT_CHANGE_RETENTION_DAYS) * 86_400,
            )),
            poll: Dur(Duration::from_millis(250)),
        }
    }
}

/// `[admin]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Bearer token of the administrative endpoints (unset or empty: they are disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}

/// One `[[sources]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name.
    pub name: String,
    /// Start catalog URL.
    pub url: String,
    /// Sync interval (unset: 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Every>,
    /// Naming authority for collection IDs when the catalogs give none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Only datasets matching one of these regexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
    /// Datasets and catalogRefs matching any of these regexes are skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
    /// Classification overrides `REGEX=archival|live|daily|mixed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Credentials sent on every request to this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

/// `[sources.auth]`: credentials, given in the file or read from a named environment variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthConfig {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password (or `password_env`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<Secret>,
        /// Environment variable holding the password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_env: Option<String>,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token (or `token_env`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<Secret>,
        /// Environment variable holding the token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_env: Option<String>,
    },
    /// A `Cookie` header value (`name=value; name2=value2`).
    Cookie {
        /// The cookie (or `cookie_env`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cookie: Option<Secret>,
        /// Environment variable holding the cookie.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cookie_env: Option<String>,
    },
}

impl SourceConfig {
    /// The settings stored in the database (never the credentials).
    pub fn new_source(&self) -> anyhow::Result<NewSource> {
        threddex_crawler::source_input::SourceInput {
            url: self.url.clone(),
            name: Some(self.name.clone()),
            every: self.every.map(|e| e.0.to_string()),
            authority: self.authority.clone(),
            select: self.select.clone(),
            skip: self.skip.clone(),
            rules: self.rules.clone(),
        }
        .check(|_| None)
        .map_err(|e| anyhow!("source {:?}: {}: {}", self.name, e.field, e.message))
    }

    /// The credentials with secrets read; `env` looks environment variables up (the process
    /// environment in production). An `*_env` variable that is unset is an error naming it.
    /// ([`SourceAuth`]'s `Debug` redacts the secrets.)
    pub fn resolve_auth(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<SourceAuth>> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let name = &self.name;
        let pick =
            |value: &Option<Secret>, var: &Option<String>, key: &str| -> anyhow::Result<Secret> {
                match (value, var) {
                    (Some(v), None) => Ok(v.clone()),
                    (None, Some(var)) => env(var).map(Secret::new).ok_or_else(|| {
                        anyhow!("source {name:?}: auth.{key}_env names {var}, which is not set")
                    }),
                    (Some(_), Some(_)) => {
                        bail!("source {name:?}: give auth.{key} or auth.{key}_env, not both")
                    }
                    (None, None) => bail!("source {name:?}: auth needs {key} or {key}_env"),
                }
            };
        Ok(Some(match auth {
            AuthConfig::Basic {
                username,
                password,
                password_env,
            } => SourceAuth::basic(
                username.clone(),
                pick(password, password_env, "password")?.0,
            ),
            AuthConfig::Bearer { token, token_env } => {
                SourceAuth::bearer(pick(token, token_env, "token")?.0)
            }
            AuthConfig::Cookie { cookie, cookie_env } => {
                SourceAuth::cookie(pick(cookie, cookie_env, "cookie")?.0)
            }
        }))
    }

    /// Check everything but the secrets' presence in the environment.
    fn validate(&self, index: usize, names: &mut BTreeSet<String>) -> anyhow::Result<()> {
        let at = format!("sources[{index}] ({:?})", self.name);
        if self.name.trim().is_empty() {
            bail!("sources[{index}].name must not be empty");
        }
        if !names.insert(self.name.clone()) {
            bail!("{at}: the name appears twice in [[sources]]");
        }
        self.new_source().with_context(|| at.clone())?;
        for p in self.select.iter().chain(&self.skip) {
            regex::Regex::new(p).with_context(|| format!("{at}: bad select/skip pattern {p:?}"))?;
        }
        // Shape of the credentials, without reading the environment.
        let present = |_: &str| Some(String::new());
        self.resolve_auth(&present).with_context(|| at.clone())?;
        if let Some(AuthConfig::Basic { username, .. }) = &self.auth
            && username.contains(':')
        {
            bail!("{at}: auth.username must not contain ':'");
        }
        Ok(())
    }
}

// ----- loading -----------------------------------------------------------------------------

/// The effective configuration and where it came from.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The merged configuration (before command-line flags).
    pub config: Config,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// The environment variables that set keys.
    pub env_vars: Vec<String>,
}

/// Load defaults → file → environment from the process environment. `explicit` is the
/// `--config` flag (or `THREDDEX_CONFIG`).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Loaded> {
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if k.starts_with(ENV_PREFIX) || k == LEGACY_DATABASE_ENV {
            let v = v
                .into_string()
                .map_err(|_| anyhow!("environment variable {k} is not valid UTF-8"))?;
            env.push((k.to_string(), v));
        }
    }
    let explicit = explicit.filter(|p| !p.as_os_str().is_empty());
    let file = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG_FILE);
            p.is_file().then_some(p)
        }
    };
    let text = match &file {
        Some(p) => Some(read_file(p)?),
        None => None,
    };
    let mut loaded = load_from(
        text.as_deref()
            .zip(file.as_ref().map(|p| p.display().to_string())),
        env,
    )?;
    loaded.file = file;
    Ok(loaded)
}

fn read_file(p: &Path) -> anyhow::Result<String> {
    let f = std::fs::File::open(p)
        .with_context(|| format!("cannot read the config file {}", p.display()))?;
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the config file {}", p.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!(
            "the config file {} is larger than {MAX_CONFIG_BYTES} bytes",
            p.display()
        );
    }
    Ok(text)
}

/// Merge `file` (its text and name) and `env` (variables `THREDDEX__…` and
/// `THREDDEX_DATABASE_URL`; others are ignored) over the defaults, and check the result.
pub fn load_from(
    file: Option<(&str, String)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Loaded> {
    let mut table = toml::Table::new();
    if let Some((text, origin)) = &file {
        // Parsing into the struct first gives errors with the line and the key.
        toml::from_str::<Config>(text)
            .map_err(|e| anyhow!("config file {origin}: {}", e.to_string().trim_end()))?;
        table = toml::from_str(text)
            .map_err(|e| anyhow!("config file {origin}: {}", e.to_string().trim_end()))?;
    }
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) || k == LEGACY_DATABASE_ENV)
        .collect();
    // The legacy name first, so that THREDDEX__DATABASE__URL wins over it; then sorted.
    vars.sort_by(|a, b| {
        (a.0 != LEGACY_DATABASE_ENV, &a.0).cmp(&(b.0 != LEGACY_DATABASE_ENV, &b.0))
    });
    let mut env_vars = Vec::new();
    for (name, raw) in vars {
        let (section, key) = if name == LEGACY_DATABASE_ENV {
            ("database".to_string(), "url".to_string())
        } else {
            env_key(&name)?
        };
        table = set_from_env(table, &name, &section, &key, &raw)?;
        env_vars.push(name);
    }
    let mut config: Config = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| anyhow!("configuration: {}", e.message()))?;
    config.normalise();
    config.validate().map_err(|e| {
        let origin = match (&file, env_vars.is_empty()) {
            (Some((_, f)), true) => format!(" (from {f})"),
            (Some((_, f)), false) => format!(" (from {f} and the environment)"),
            (None, false) => " (from the environment)".to_string(),
            (None, true) => String::new(),
        };
        anyhow!("configuration{origin}: {e:#}")
    })?;
    Ok(Loaded {
        config,
        file: None,
        env_vars,
    })
}

/// `THREDDEX__API__BIND` → (`api`, `bind`).
fn env_key(name: &str) -> anyhow::Result<(String, String)> {
    let rest = &name[ENV_PREFIX.len()..];
    let parts: Vec<&str> = rest.split("__").collect();
    match parts.as_slice() {
        [section, key] if !section.is_empty() && !key.is_empty() => {
            let section = section.to_ascii_lowercase();
            if section == "sources" {
                bail!(
                    "environment variable {name}: [[sources]] are set in the config file only \
                     (credentials can be read from the environment with auth.password_env, \
                     token_env or cookie_env)"
                );
            }
            Ok((section, key.to_ascii_lowercase()))
        }
        // A sub-section: THREDDEX__NOTIFY__WEBHOOKS__TIMEOUT → (`notify.webhooks`, `timeout`).
        [section, sub, key] if !section.is_empty() && !sub.is_empty() && !key.is_empty() => Ok((
            format!(
                "{}.{}",
                section.to_ascii_lowercase(),
                sub.to_ascii_lowercase()
            ),
            key.to_ascii_lowercase(),
        )),
        _ => bail!(
            "environment variable {name}: expected {ENV_PREFIX}SECTION__KEY, e.g. THREDDEX__API__BIND"
        ),
    }
}

/// Set `section.key` from an environment variable's text: as a string when the key takes one,
/// else as the TOML value it spells (`8`, `2.5`, `true`).
fn set_from_env(
    table: toml::Table,
    name: &str,
    section: &str,
    key: &str,
    raw: &str,
) -> anyhow::Result<toml::Table> {
    let with = |v: toml::Value| -> Result<toml::Table, String> {
        let mut t = table.clone();
        let mut s = &mut t;
        for part in section.split('.') {
            let entry = s
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(sub) = entry.as_table_mut() else {
                return Err(format!("[{section}] is not a table"));
            };
            s = sub;
        }
        s.insert(key.to_string(), v);
        toml::Value::Table(t.clone())
            .try_into::<Config>()
            .map(|_| t)
            .map_err(|e| e.message().to_string())
    };
    let as_string = with(toml::Value::String(raw.to_string()));
    if let Ok(t) = as_string {
        return Ok(t);
    }
    let literal = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_str());
    let err = match literal {
        Some(v) => match with(v) {
            Ok(t) => return Ok(t),
            Err(e) => e,
        },
        None => as_string.err().unwrap_or_default(),
    };
    bail!("environment variable {name} (key {section}.{key}): {err}")
}

impl Config {
    /// Empty optional strings mean unset (handy in compose files: `${VAR:-}`).
    fn normalise(&mut self) {
        if self.admin.token.as_ref().is_some_and(|t| t.0.is_empty()) {
            self.admin.token = None;
        }
        if self.api.public_url.as_ref().is_some_and(String::is_empty) {
            self.api.public_url = None;
        }
        if self.crawl.user_agent.as_ref().is_some_and(String::is_empty) {
            self.crawl.user_agent = None;
        }
    }

    /// Check values that parse but make no sense; the errors name the key (and its flag).
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.database.url.0.trim().is_empty() {
            bail!("database.url (--db) must not be empty");
        }
        if let Some(read) = &self.database.read_url
            && !threddex_store_postgres::is_postgres_url(read.expose())
        {
            bail!(
                "database.read_url (--read-db) is a Postgres streaming replica (postgres://…), \
                 not {read}"
            );
        }
        let max_pool = threddex_store_postgres::MAX_POOL_SIZE;
        if self.database.pool_size == 0 || self.database.pool_size > max_pool {
            bail!(
                "database.pool_size must be between 1 and {max_pool}, not {}",
                self.database.pool_size
            );
        }
        if self.api.bind.trim().is_empty() {
            bail!("api.bind (--bind) needs an address such as 127.0.0.1:8080");
        }
        if let Some(u) = &self.api.public_url {
            let parsed = url::Url::parse(u).map_err(|_| {
                anyhow!(
                    "api.public_url (--public-url) {u:?} is not a URL (e.g. https://example.org/threddex)"
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                bail!("api.public_url (--public-url) {u:?} must be an http(s) URL with a host");
            }
        }
        if self.changes.retention.0 < Duration::from_secs(60) {
            bail!("changes.retention must be at least 1m");
        }
        if self.changes.poll.0 < Duration::from_millis(10)
            || self.changes.poll.0 > Duration::from_secs(60)
        {
            bail!("changes.poll must be between 10ms and 1m");
        }
        if self.api.refresh_deadline.0.is_zero() {
            bail!("api.refresh_deadline (--refresh-deadline) must be positive");
        }
        if !(self.crawl.rate > 0.0 && self.crawl.rate.is_finite()) {
            bail!(
                "crawl.rate (--rate) must be a positive number of requests per second, not {}",
                self.crawl.rate
            );
        }
        if self.sync.lease_ttl.0 < Duration::from_secs(1) {
            bail!("sync.lease_ttl (--lease-ttl) must be at least 1s");
        }
        if self.sync.claim_ttl.0 < Duration::from_secs(1) {
            bail!("sync.claim_ttl (--claim-ttl) must be at least 1s");
        }
        chrono::Duration::from_std(self.sync.grace.0)
            .map_err(|_| anyhow!("sync.grace (--grace) is too long"))?;
        self.admin_token()?;
        self.notify.validate()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| anyhow!("log.level {:?} is not a log filter: {e}", self.log.level))?;
        let mut names = BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            s.validate(i, &mut names)?;
        }
        Ok(())
    }

    /// [`Config::validate`] once the flags are applied: a refusal is a [`BadConfig`](crate::BadConfig)
    /// (exit status 2, as for a bad config file).
    pub fn check_flags(&self) -> anyhow::Result<()> {
        self.validate()
            .map_err(|e| anyhow::Error::new(crate::BadConfig(e)))
    }

    /// `--db` over `database.url`.
    pub fn apply_db(&mut self, a: &DbArgs) {
        if let Some(u) = &a.db {
            self.database.url = DatabaseUrl::new(u.clone());
        }
    }

    /// The crawl flags over `[crawl]`.
    pub fn apply_crawl(&mut self, a: &CrawlArgs) {
        let c = &mut self.crawl;
        set(&mut c.concurrency, a.concurrency);
        set(&mut c.rate, a.rate);
        if a.per_host.is_some() {
            c.per_host = a.per_host;
        }
        set(&mut c.retries, a.retries);
        set(&mut c.timeout, a.timeout);
        if a.ignore_robots {
            c.ignore_robots = true;
        }
    }

    /// The API flags over `[api]`.
    pub fn apply_api(&mut self, a: &ApiArgs) {
        let s = &mut self.api;
        set(&mut s.bind, a.bind.clone());
        if a.public_url.is_some() {
            s.public_url = a.public_url.clone();
        }
        set(&mut s.refresh_deadline, a.refresh_deadline.map(Dur));
        set(&mut s.min_refresh_interval, a.min_refresh_interval.map(Dur));
    }

    /// The `worker` flags over `[sync]` and `[crawl]`.
    pub fn apply_worker(&mut self, a: &crate::cli::WorkerArgs) {
        self.apply_db(&a.db);
        self.apply_crawl(&a.crawl);
        set(&mut self.sync.lease_ttl, a.lease_ttl.map(Dur));
        set(&mut self.sync.grace, a.grace.map(Dur));
        set(&mut self.sync.claim_ttl, a.claim_ttl.map(Dur));
    }

    /// The `sync` flags over `[sync]` and `[crawl]`.
    pub fn apply_sync(&mut self, a: &SyncArgs) {
        self.apply_db(&a.db);
        self.apply_crawl(&a.crawl);
        set(&mut self.sync.lease_ttl, a.lease_ttl.map(Dur));
        set(&mut self.sync.grace, a.grace.map(Dur));
    }

    /// The crawler settings from `[crawl]`; `per_host_default` applies when `crawl.per_host`
    /// is unset ([`PER_HOST_CLI`] or [`PER_HOST_SERVE`]).
    pub fn crawl_config(&self, per_host_default: usize) -> threddex_crawler::CrawlConfig {
        let c = &self.crawl;
        let mut cfg = threddex_crawler::CrawlConfig {
            concurrency: c.concurrency.max(1),
            rate: c.rate,
            per_host_in_flight: c.per_host.unwrap_or(per_host_default).max(1),
            respect_robots: !c.ignore_robots,
            read_timeout: Duration::from_secs(c.timeout.max(1)),
            max_retries: c.retries,
            ..threddex_crawler::CrawlConfig::default()
        };
        if let Some(ua) = &c.user_agent {
            cfg.user_agent = ua.clone();
        }
        if let Some(u) = &self.api.public_url {
            cfg.public_url = u.trim_end_matches('/').to_string();
        }
        cfg
    }

    /// The API settings from `[api]`, `[admin]`, `[changes]` and `[notify.webhooks]`.
    pub fn api_config(&self) -> anyhow::Result<threddex_api::ApiConfig> {
        Ok(threddex_api::ApiConfig {
            public_url: self.api.public_url.clone(),
            refresh_deadline: self.api.refresh_deadline.0,
            min_refresh_interval: self.api.min_refresh_interval.0,
            admin_token: self.admin_token()?,
            change_retention: self.changes.retention.0,
            change_poll: self.changes.poll.0,
            webhooks: self.notify.webhooks.config(self.changes.poll.0),
            ..threddex_api::ApiConfig::default()
        })
    }

    /// `admin.token` as the API takes it (None: the admin endpoints are disabled).
    fn admin_token(&self) -> anyhow::Result<Option<threddex_api::AdminToken>> {
        self.admin
            .token
            .as_ref()
            .map(|t| threddex_api::AdminToken::new(t.expose()))
            .transpose()
            .map_err(|e| anyhow!("admin.token: {e}"))
    }

    /// The sync options from `[sync]`.
    pub fn sync_options(&self) -> anyhow::Result<threddex_crawler::SyncOptions> {
        Ok(threddex_crawler::SyncOptions {
            grace: chrono::Duration::from_std(self.sync.grace.0)
                .map_err(|_| anyhow!("sync.grace (--grace) is too long"))?,
            lease_ttl: self.sync.lease_ttl.0,
            ..threddex_crawler::SyncOptions::default()
        })
    }

    /// The config source whose start URL is `url` (and whose name is `name`, when given).
    pub fn source_for(&self, name: Option<&str>, url: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| {
            name.is_none_or(|n| s.name == n)
                && crate::commands::sources::check_source_url(&s.url)
                    .map(|u| u.as_str() == url)
                    .unwrap_or(false)
        })
    }

    /// Per-source credentials (by source name) with secrets read from the process environment,
    /// for [`CrawlConfig::auth`](threddex_crawler::CrawlConfig::auth).
    pub fn source_auth(&self) -> anyhow::Result<SourceAuthMap> {
        let env = |k: &str| std::env::var(k).ok();
        let mut out = SourceAuthMap::new();
        for s in &self.sources {
            if let Some(a) = s.resolve_auth(&env)? {
                out.insert(s.name.clone(), a);
            }
        }
        Ok(out)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        toml::to_string(self).context("cannot print the configuration")
    }
}

fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *slot = v;
    }
}

// ----- the example -------------------------------------------------------------------------

/// `threddex config example`: every key with its default and a one-line explanation. Keys
/// without a default are commented out as `#key = …`; a test keeps this in step with the flags
/// and with [`Config::default`].
pub const EXAMPLE: &str = include_str!("config/example.toml");
