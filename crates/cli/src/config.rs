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
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use threddex_crawler::{SourceAuth, SourceAuthMap};
use threddex_store::{ClassRule, NewSource, Source, Store};

use crate::cli::{ApiArgs, CrawlArgs, DbArgs, SyncArgs};
use crate::db::{DEFAULT_DATABASE_URL, redact};

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

// ----- secrets -----------------------------------------------------------------------------

/// A secret string: `Debug`, `Display` and `Serialize` print `[redacted]`; only
/// [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// A database URL: `Debug`, `Display` and `Serialize` show it with any password replaced.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wrap a database URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for opening the database only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&redact(&self.0))
    }
}

// ----- value types -------------------------------------------------------------------------

/// A duration written `250ms`, `3s`, `5m`, `1h` (a bare number is seconds).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fmt_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"3s\", \"5m\" or \"1h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                crate::time::parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                u64::try_from(v)
                    .map(|s| Dur(Duration::from_secs(s)))
                    .map_err(|_| E::custom(format!("{v} is not a duration (negative)")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Duration::try_from_secs_f64(v)
                    .map(Dur)
                    .map_err(|_| E::custom(format!("{v} is not a duration")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `250ms`, `3s`, `5m`, `6h`, `1.5s`: the shortest form [`crate::time::parse_duration`] reads
/// back to the same value.
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 {
        if secs > 0 && secs.is_multiple_of(3600) {
            format!("{}h", secs / 3600)
        } else if secs > 0 && secs.is_multiple_of(60) {
            format!("{}m", secs / 60)
        } else {
            format!("{secs}s")
        }
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// A source's sync interval, written `90s`, `10m`, `2h`, `1d` (or a number of seconds).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Every(pub i64);

impl fmt::Debug for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::commands::sources::every_text(Some(self.0)))
    }
}

impl Serialize for Every {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::commands::sources::every_text(Some(self.0)))
    }
}

impl<'de> Deserialize<'de> for Every {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Every;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an interval such as \"90s\", \"10m\", \"2h\" or \"1d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Every, E> {
                crate::commands::sources::parse_every(v)
                    .map(Every)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Every, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Every, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

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
    /// Connections of each process's Postgres pool (SQLite ignores it).
    pub pool_size: u32,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new(DEFAULT_DATABASE_URL),
            pool_size: threddex_store_postgres::DEFAULT_POOL_SIZE,
        }
    }
}

impl DatabaseSection {
    /// Open (creating and migrating when needed) the database with these settings.
    pub async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        crate::db::open_store_with(self.url.expose(), self.pool_size).await
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
}

impl Default for SyncSection {
    fn default() -> Self {
        Self {
            lease_ttl: Dur(Duration::from_secs(60)),
            grace: Dur(Duration::from_secs(6 * 3600)),
            scheduler: true,
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
        let rules = self
            .rules
            .iter()
            .map(|r| {
                crate::commands::sources::parse_rule_arg(r)
                    .map_err(|e| anyhow!("source {:?}: rules: {e}", self.name))
            })
            .collect::<anyhow::Result<Vec<ClassRule>>>()?;
        let url = crate::commands::sources::check_source_url(&self.url)
            .with_context(|| format!("source {:?}: url", self.name))?;
        Ok(NewSource {
            name: self.name.clone(),
            url: url.to_string(),
            authority: self.authority.clone(),
            every_secs: self.every.map(|e| e.0),
            select: self.select.clone(),
            skip: self.skip.clone(),
            rules,
        })
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
        let entry = t
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(s) = entry.as_table_mut() else {
            return Err(format!("[{section}] is not a table"));
        };
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
        chrono::Duration::from_std(self.sync.grace.0)
            .map_err(|_| anyhow!("sync.grace (--grace) is too long"))?;
        self.admin_token()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| anyhow!("log.level {:?} is not a log filter: {e}", self.log.level))?;
        let mut names = BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            s.validate(i, &mut names)?;
        }
        Ok(())
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

    /// The API settings from `[api]` and `[admin]`.
    pub fn api_config(&self) -> anyhow::Result<threddex_api::ApiConfig> {
        Ok(threddex_api::ApiConfig {
            public_url: self.api.public_url.clone(),
            refresh_deadline: self.api.refresh_deadline.0,
            min_refresh_interval: self.api.min_refresh_interval.0,
            admin_token: self.admin_token()?,
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

// ----- sources from the config -------------------------------------------------------------

/// What [`register_sources`] did with one config source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registered {
    /// Newly added.
    Added(String),
    /// Already there with the same URL and settings.
    Unchanged(String),
    /// Already there with the same URL; these settings (`every`, `authority`, `select`,
    /// `skip`, `rules`) were changed to the file's.
    Updated(String, Vec<&'static str>),
}

/// Register the `[[sources]]` of the config (never their credentials): missing ones are
/// added, existing ones get the file's settings (`every`, `authority`, `select`, `skip`,
/// `rules`; their ID and everything harvested stay). A source whose name is registered with
/// another URL, or whose URL is registered under another name, is an error.
pub async fn register_sources(
    store: &dyn Store,
    sources: &[SourceConfig],
) -> anyhow::Result<Vec<Registered>> {
    let mut out = Vec::with_capacity(sources.len());
    for s in sources {
        let wanted = s.new_source()?;
        match store.source_by_name(&wanted.name).await? {
            Some(existing) => out.push(reconcile(store, &existing, wanted).await?),
            None => {
                if let Some(other) = store.source_by_url(&wanted.url).await? {
                    bail!(
                        "config source {:?}: its url {} is registered as source {:?}; rename \
                         one of them",
                        wanted.name,
                        wanted.url,
                        other.settings.name
                    );
                }
                store
                    .add_source(&wanted)
                    .await
                    .with_context(|| format!("cannot register config source {:?}", wanted.name))?;
                tracing::info!(source = %wanted.name, url = %wanted.url, "registered source from the config");
                out.push(Registered::Added(wanted.name));
            }
        }
    }
    Ok(out)
}

/// The settings of `wanted` that differ from `existing`'s, by config key.
fn changed_fields(existing: &NewSource, wanted: &NewSource) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if existing.every_secs != wanted.every_secs {
        fields.push("every");
    }
    if existing.authority != wanted.authority {
        fields.push("authority");
    }
    if existing.select != wanted.select {
        fields.push("select");
    }
    if existing.skip != wanted.skip {
        fields.push("skip");
    }
    if existing.rules != wanted.rules {
        fields.push("rules");
    }
    fields
}

async fn reconcile(
    store: &dyn Store,
    existing: &Source,
    wanted: NewSource,
) -> anyhow::Result<Registered> {
    if existing.settings.url != wanted.url {
        bail!(
            "config source {:?} has url {}, but the database has it with url {} \
             (`threddex sources remove {}` drops it and what was harvested from it)",
            wanted.name,
            wanted.url,
            existing.settings.url,
            wanted.name
        );
    }
    let fields = changed_fields(&existing.settings, &wanted);
    if fields.is_empty() {
        return Ok(Registered::Unchanged(wanted.name));
    }
    store
        .update_source(&wanted)
        .await
        .with_context(|| format!("cannot update config source {:?}", wanted.name))?;
    // Only key names: the values are in the file (and settings hold no credentials anyway).
    tracing::info!(
        source = %wanted.name,
        changed = %fields.join(", "),
        "updated source settings from the config"
    );
    Ok(Registered::Updated(wanted.name, fields))
}

// ----- the example -------------------------------------------------------------------------

/// `threddex config example`: every key with its default and a one-line explanation. Keys
/// without a default are commented out as `#key = …`; a test keeps this in step with the flags
/// and with [`Config::default`].
pub const EXAMPLE: &str = r#"# threddex.toml: the configuration of threddex (`threddex config example` prints this file).
#
# Read from `--config PATH`, else $THREDDEX_CONFIG, else ./threddex.toml when it exists.
# Layers, each overriding the one before: built-in defaults (shown below) < this file
# < environment variables THREDDEX__SECTION__KEY (e.g. THREDDEX__API__BIND=0.0.0.0:8080)
# < command-line flags. Unknown keys are an error. `threddex config show` prints the result.
# Durations: 250ms, 3s, 5m, 1h (a bare number is seconds). Secrets (the database password,
# the admin token, source credentials) are never printed or logged.

[database]
# sqlite://PATH (created on first use) or postgres://USER:PASSWORD@HOST:5432/DB.
# Flag --db; env THREDDEX__DATABASE__URL (THREDDEX_DATABASE_URL also works).
url = "sqlite://threddex.db"
# Connections each process keeps open to Postgres (1 to 1000; SQLite ignores it). More is not
# faster on small machines (docs/benchmarks.md); Postgres's max_connections must cover the sum
# over all processes. Env THREDDEX__DATABASE__POOL_SIZE.
pool_size = 8

[api]
# Address `threddex serve` listens on (HOST:PORT; port 0 picks a free one). Flag --bind.
bind = "127.0.0.1:8080"
# Public base URL for absolute links in answers (unset: from the request's Host). Flag --public-url.
#public_url = "https://example.org/threddex"
# How long /index waits for a refresh before answering from the index. Flag --refresh-deadline.
refresh_deadline = "3s"
# A collection's live catalogs are re-read at most once per this interval. Flag --min-refresh-interval.
min_refresh_interval = "1m"

[crawl]
# Catalogs fetched at once. Flag --concurrency.
concurrency = 8
# Requests per second per host (token bucket). Flag --rate.
rate = 10.0
# Requests in flight per host (unset: 8 for harvest and sync, 4 for serve). Flag --per-host.
#per_host = 8
# Retries of a transient failure (5xx, 429, timeouts) before a catalog is failed. Flag --retries.
retries = 4
# Seconds to wait for a catalog's response. Flag --timeout.
timeout = 30
# Neither fetch nor obey robots.txt (only for servers you run). Flag --ignore-robots.
ignore_robots = false
# User-Agent header; its first word is the robots.txt agent (unset: threddex/VERSION (+URL)).
#user_agent = "threddex/0.1 (+https://example.org/contact)"

[sync]
# Lifetime of a source's sync lease: a killed sync blocks the source at most this long. Flag --lease-ttl.
lease_ttl = "1m"
# Grace period for late files in dated folders, beyond the day after their date. Flag --grace.
grace = "6h"
# Run the sync scheduler inside `threddex serve` (false = API only). Flag --no-scheduler.
scheduler = true

[log]
# Log filter when neither -v/-q nor THREDDEX_LOG is given (e.g. "info", "warn,threddex_crawler=debug").
level = "warn,threddex=info"

[admin]
# Bearer token of the administrative HTTP endpoints (unset or empty: they are disabled).
# Better set from the environment: THREDDEX__ADMIN__TOKEN.
#token = "change-me"

# Sources, registered when `threddex serve` or `threddex sync` starts: missing ones are added,
# existing ones (same name and url) take the settings below (credentials are never stored in
# the database). Repeat [[sources]] for more.
#[[sources]]
# Unique name (flag --name of harvest and sources add).
#name = "nexrad"
# Start catalog URL.
#url = "https://thredds.example.org/thredds/catalog/nexrad/level3/catalog.xml"
# Sync interval: 90s, 10m, 2h, 1d (unset: 10m). Flag --every of sources add.
#every = "10m"
# Naming authority for collection IDs when the catalogs give none. Flag --authority.
#authority = "org.example"
# Only datasets whose ID, name or urlPath matches one of these regexes. Flag --select.
#select = ["N0Q"]
# Skip datasets and catalogRefs matching any of these regexes. Flag --skip.
#skip = ["Individual Files"]
# Classification overrides REGEX=archival|live|daily|mixed on catalog URLs. Flag --rule.
#rules = ["/latest/=live"]
# Credentials sent on every request to this source (catalogs, ISO records); one of:
#   type = "basic",  username = "…", password = "…" or password_env = "VAR"
#   type = "bearer", token = "…" or token_env = "VAR"
#   type = "cookie", cookie = "name=value" or cookie_env = "VAR"
#[sources.auth]
#type = "basic"
#username = "reader"
#password_env = "NEXRAD_PASSWORD"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> Option<(&str, String)> {
        Some((text, "test.toml".to_string()))
    }

    #[test]
    fn defaults_without_file_or_env() {
        let l = load_from(None, env(&[("PATH", "/bin"), ("THREDDEX_LOG", "x")])).unwrap();
        assert_eq!(l.config, Config::default());
        assert!(l.env_vars.is_empty());
        assert_eq!(l.config.database.url.expose(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn layers_default_file_env_flag() {
        let text = r#"
            [api]
            bind = "0.0.0.0:9000"
            refresh_deadline = "5s"
            [crawl]
            concurrency = 3
            rate = 2
            retries = 1
        "#;
        let l = load_from(
            file(text),
            env(&[
                ("THREDDEX__CRAWL__CONCURRENCY", "5"),
                ("THREDDEX__CRAWL__RETRIES", "2"),
                ("THREDDEX__CRAWL__IGNORE_ROBOTS", "true"),
                ("THREDDEX__API__PUBLIC_URL", "https://example.org/x"),
            ]),
        )
        .unwrap();
        let mut c = l.config;
        // default < file
        assert_eq!(c.api.min_refresh_interval.0, Duration::from_secs(60));
        assert_eq!(c.api.refresh_deadline.0, Duration::from_secs(5));
        assert_eq!(c.crawl.rate, 2.0);
        // file < env
        assert_eq!(c.crawl.concurrency, 5);
        assert_eq!(c.crawl.retries, 2);
        assert!(c.crawl.ignore_robots);
        assert_eq!(c.api.public_url.as_deref(), Some("https://example.org/x"));
        // env < flag (only the flags given)
        let cli = crate::cli::Cli::try_parse_from([
            "threddex",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--refresh-deadline",
            "1s",
        ])
        .unwrap();
        let crate::cli::Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        c.apply_api(&s.api);
        assert_eq!(c.api.bind, "127.0.0.1:0");
        assert_eq!(c.api.refresh_deadline.0, Duration::from_secs(1));
        assert_eq!(c.api.public_url.as_deref(), Some("https://example.org/x"));
        let cli =
            crate::cli::Cli::try_parse_from(["threddex", "sync", "--concurrency", "7"]).unwrap();
        let crate::cli::Command::Sync(a) = cli.command else {
            panic!("not sync")
        };
        c.apply_sync(&a);
        assert_eq!(c.crawl.concurrency, 7);
        assert_eq!(c.crawl.retries, 2, "a flag not given keeps the env value");
        assert_eq!(c.crawl.rate, 2.0, "a flag not given keeps the file value");
        let cfg = c.crawl_config(PER_HOST_CLI);
        assert_eq!(cfg.concurrency, 7);
        assert_eq!(cfg.per_host_in_flight, 8);
        assert!(!cfg.respect_robots);
        assert_eq!(cfg.public_url, "https://example.org/x");
    }

    #[test]
    fn database_url_env_names() {
        let l = load_from(
            file("[database]\nurl = \"sqlite://a.db\"\n"),
            env(&[(LEGACY_DATABASE_ENV, "sqlite://b.db")]),
        )
        .unwrap();
        assert_eq!(l.config.database.url.expose(), "sqlite://b.db");
        let l = load_from(
            None,
            env(&[
                ("THREDDEX__DATABASE__URL", "sqlite://new.db"),
                (LEGACY_DATABASE_ENV, "sqlite://old.db"),
            ]),
        )
        .unwrap();
        assert_eq!(l.config.database.url.expose(), "sqlite://new.db");
    }

    #[test]
    fn database_pool_size_layers_and_is_checked() {
        assert_eq!(Config::default().database.pool_size, 8);
        let l = load_from(file("[database]\npool_size = 4\n"), env(&[])).unwrap();
        assert_eq!(l.config.database.pool_size, 4);
        let l = load_from(
            file("[database]\npool_size = 4\n"),
            env(&[("THREDDEX__DATABASE__POOL_SIZE", "12")]),
        )
        .unwrap();
        assert_eq!(l.config.database.pool_size, 12);
        for bad in ["0", "1001"] {
            let err = load_from(None, env(&[("THREDDEX__DATABASE__POOL_SIZE", bad)]))
                .and_then(|l| l.config.validate())
                .unwrap_err();
            assert!(format!("{err:#}").contains("database.pool_size"), "{err:#}");
        }
        let err = load_from(file("[database]\npool_size = -1\n"), env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("pool_size"), "{err:#}");
    }

    #[tokio::test]
    async fn database_section_opens_postgres_with_its_pool_size() {
        let (url, _drop) = threddex_store_postgres::testdb::fresh_database().await;
        let db = DatabaseSection {
            url: DatabaseUrl::new(url.clone()),
            pool_size: 2,
        };
        let store = db.open().await.unwrap();
        assert_eq!(store.backend(), "postgres");
        store.ping().await.unwrap();
        // The size reaches the Postgres connector, which refuses a size of 0.
        let zero = DatabaseSection {
            url: DatabaseUrl::new(url),
            pool_size: 0,
        };
        let err = zero.open().await.err().unwrap();
        assert!(format!("{err:#}").contains("pool size 0"), "{err:#}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        let err = load_from(file("[api]\nbindd = \"x\"\n"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.toml"), "{err}");
        assert!(err.contains("bindd"), "{err}");
        let err = load_from(file("[apii]\nbind = \"x\"\n"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apii"), "{err}");
        let err = load_from(
            file("[[sources]]\nname = \"a\"\nurl = \"http://h/c.xml\"\nevry = \"1m\"\n"),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("evry"), "{err}");
        let err = load_from(
            file(
                "[[sources]]\nname = \"a\"\nurl = \"http://h/c.xml\"\n[sources.auth]\ntype = \"bearer\"\ntoken = \"t\"\nusername = \"u\"\n",
            ),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("username"), "{err}");
        assert!(!err.contains("\"t\""), "no secret in errors: {err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = load_from(file("[crawl]\nconcurrency = \"many\"\n"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("concurrency"), "{err}");
        let err = load_from(file("[sync]\ngrace = \"soon\"\n"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("grace") && err.contains("not a duration"),
            "{err}"
        );
        let err = load_from(file("[crawl]\nrate = -1\n"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("crawl.rate") && err.contains("test.toml"),
            "{err}"
        );
        let err = load_from(None, env(&[("THREDDEX__CRAWL__CONCURRENCY", "many")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("THREDDEX__CRAWL__CONCURRENCY") && err.contains("crawl.concurrency"),
            "{err}"
        );
        let err = load_from(None, env(&[("THREDDEX__CRAWL__CONCURRENCY", "-3")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("-3"), "{err}");
        let err = load_from(
            file("[[sources]]\nname = \"a\"\nurl = \"http://h/c.xml\"\nrules = [\"x=often\"]\n"),
            env(&[]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("rules"), "{err:#}");
    }

    #[test]
    fn unknown_env_keys_are_named() {
        for (var, needle) in [
            ("THREDDEX__API__BINDD", "THREDDEX__API__BINDD"),
            ("THREDDEX__NOPE__X", "THREDDEX__NOPE__X"),
            ("THREDDEX__API", "THREDDEX__API"),
            ("THREDDEX__SOURCES__NAME", "config file only"),
        ] {
            let err = load_from(None, env(&[(var, "1")])).unwrap_err().to_string();
            assert!(err.contains(needle), "{var}: {err}");
        }
        let err = load_from(None, env(&[("THREDDEX__API__BINDD", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bindd"), "{err}");
    }

    #[test]
    fn env_values_take_the_keys_type() {
        let l = load_from(
            None,
            env(&[
                ("THREDDEX__ADMIN__TOKEN", "12345"),
                ("THREDDEX__CRAWL__RATE", "2.5"),
                ("THREDDEX__CRAWL__PER_HOST", "3"),
                ("THREDDEX__SYNC__SCHEDULER", "false"),
                ("THREDDEX__SYNC__LEASE_TTL", "90"),
                ("THREDDEX__LOG__LEVEL", "debug"),
                ("THREDDEX__API__PUBLIC_URL", ""),
            ]),
        )
        .unwrap();
        let c = l.config;
        assert_eq!(c.admin.token.as_ref().map(Secret::expose), Some("12345"));
        assert_eq!(c.crawl.rate, 2.5);
        assert_eq!(c.crawl.per_host, Some(3));
        assert!(!c.sync.scheduler);
        assert_eq!(c.sync.lease_ttl.0, Duration::from_secs(90));
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.api.public_url, None, "empty means unset");
        let l = load_from(None, env(&[("THREDDEX__ADMIN__TOKEN", "")])).unwrap();
        assert_eq!(l.config.admin.token, None);
        assert_eq!(l.config.api_config().unwrap().admin_token, None);
    }

    #[test]
    fn admin_token_reaches_the_api_config() {
        let c = load_from(None, env(&[("THREDDEX__ADMIN__TOKEN", "tok-0123456789")]))
            .unwrap()
            .config;
        let api = c.api_config().unwrap();
        assert_eq!(
            api.admin_token,
            Some(threddex_api::AdminToken::new("tok-0123456789").unwrap())
        );
        assert!(!format!("{api:?}").contains("tok-0123456789"));
        let err = load_from(None, env(&[("THREDDEX__ADMIN__TOKEN", "bad token\u{7}")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("admin.token"), "{err}");
        assert!(!err.contains("bad token"), "{err}");
    }

    const SECRETS_TOML: &str = r#"
        [database]
        url = "postgres://app:db-pass-123@db:5432/threddex"
        [admin]
        token = "admin-token-456"
        [[sources]]
        name = "basic"
        url = "http://127.0.0.1:1/thredds/catalog.xml"
        [sources.auth]
        type = "basic"
        username = "reader"
        password = "source-pass-789"
        [[sources]]
        name = "cookie"
        url = "http://127.0.0.1:2/thredds/catalog.xml"
        auth = { type = "cookie", cookie = "session=cookie-abc" }
        [[sources]]
        name = "bearer"
        url = "http://127.0.0.1:3/thredds/catalog.xml"
        auth = { type = "bearer", token_env = "THREDDEX_TEST_TOKEN_VAR" }
    "#;
    const SECRET_VALUES: [&str; 5] = [
        "db-pass-123",
        "admin-token-456",
        "source-pass-789",
        "cookie-abc",
        "bearer-def",
    ];

    #[test]
    fn secrets_are_redacted_in_debug_display_and_show() {
        let c = load_from(file(SECRETS_TOML), env(&[])).unwrap().config;
        let lookup = |k: &str| (k == "THREDDEX_TEST_TOKEN_VAR").then(|| "bearer-def".to_string());
        let auth: Vec<_> = c
            .sources
            .iter()
            .map(|s| s.resolve_auth(&lookup).unwrap())
            .collect();
        let shown = c.to_toml().unwrap();
        for text in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{auth:?}"),
            shown.clone(),
            c.database.url.to_string(),
        ] {
            for s in SECRET_VALUES {
                assert!(!text.contains(s), "{s} leaked in {text}");
            }
        }
        assert!(
            shown.contains("postgres://app:*****@db:5432/threddex"),
            "{shown}"
        );
        assert!(shown.contains(REDACTED), "{shown}");
        // The secrets are still there for the code that needs them.
        assert_eq!(
            c.database.url.expose(),
            "postgres://app:db-pass-123@db:5432/threddex"
        );
        assert_eq!(auth[2], Some(SourceAuth::bearer("bearer-def")));
        // The printed config reads back (secrets replaced by the placeholder).
        let back: Config = toml::from_str(&shown).unwrap();
        assert_eq!(back.sources.len(), 3);
    }

    #[test]
    fn secrets_are_redacted_in_log_lines() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let c = load_from(file(SECRETS_TOML), env(&[])).unwrap().config;
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(database = %c.database.url, "database");
            tracing::debug!(config = ?c, "effective configuration");
            tracing::info!(token = ?c.admin.token, "admin");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("postgres://app:*****@db"), "{out}");
        for s in SECRET_VALUES {
            assert!(!out.contains(s), "{s} leaked in {out}");
        }
    }

    #[test]
    fn auth_needs_exactly_one_of_value_and_env() {
        let with = |auth: &str| {
            load_from(
                file(&format!(
                    "[[sources]]\nname = \"s\"\nurl = \"http://h/catalog.xml\"\nauth = {auth}\n"
                )),
                env(&[]),
            )
            .map_err(|e| format!("{e:#}"))
        };
        let err = with(r#"{ type = "bearer" }"#).unwrap_err();
        assert!(err.contains("token or token_env"), "{err}");
        let err = with(r#"{ type = "cookie", cookie = "a", cookie_env = "B" }"#).unwrap_err();
        assert!(err.contains("not both"), "{err}");
        let err = with(r#"{ type = "digest" }"#).unwrap_err();
        assert!(err.contains("digest"), "{err}");
        let c = with(r#"{ type = "basic", username = "u", password_env = "THREDDEX_NOT_SET_X" }"#)
            .unwrap()
            .config;
        let err = c.sources[0]
            .resolve_auth(&|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("THREDDEX_NOT_SET_X") && err.contains("not set"),
            "{err}"
        );
    }

    #[test]
    fn sources_are_checked() {
        let err = load_from(
            file(
                "[[sources]]\nname = \"a\"\nurl = \"http://h/c.xml\"\n[[sources]]\nname = \"a\"\nurl = \"http://h/d.xml\"\n",
            ),
            env(&[]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("twice"), "{err:#}");
        let err = load_from(
            file("[[sources]]\nname = \"a\"\nurl = \"ftp://h/c.xml\"\n"),
            env(&[]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("url"), "{err:#}");
        let err = load_from(
            file("[[sources]]\nname = \"a\"\nurl = \"http://h/c.xml\"\nskip = [\"([\"]\n"),
            env(&[]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("pattern"), "{err:#}");
    }

    /// The example with the commented-out keys (`#key = …`, `#[…]`) switched on.
    fn example_all_keys() -> String {
        EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `section.key` of every key line of the example (`sources` for `[[sources]]` and
    /// `sources.auth` for its table).
    fn example_keys() -> BTreeSet<String> {
        let mut section = String::new();
        let mut keys = BTreeSet::new();
        for l in example_all_keys().lines() {
            let l = l.trim();
            if let Some(s) = l.strip_prefix("[[").and_then(|s| s.strip_suffix("]]")) {
                section = s.to_string();
            } else if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.to_string();
            } else if let Some((k, _)) = l.split_once(" = ")
                && !l.starts_with('#')
            {
                keys.insert(format!("{section}.{}", k.trim()));
            }
        }
        keys
    }

    #[test]
    fn example_is_the_defaults_and_every_key_parses() {
        let shown: Config = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(
            shown,
            Config::default(),
            "the example's values are the defaults"
        );
        let all: Config = toml::from_str(&example_all_keys())
            .unwrap_or_else(|e| panic!("example with every key: {e}"));
        assert_eq!(all.sources.len(), 1);
        assert!(all.sources[0].auth.is_some());
        assert!(all.api.public_url.is_some() && all.crawl.per_host.is_some());
        assert!(all.crawl.user_agent.is_some() && all.admin.token.is_some());
        all.validate().unwrap();
        // Every key of the struct appears in the example.
        let keys = example_keys();
        let full: toml::Table = toml::from_str(&all.to_toml().unwrap()).unwrap();
        for (section, v) in &full {
            let rows: Vec<&toml::Table> = match v {
                toml::Value::Table(t) => vec![t],
                toml::Value::Array(a) => a.iter().filter_map(toml::Value::as_table).collect(),
                _ => panic!("top-level key {section} is not a section"),
            };
            for t in rows {
                for k in t.keys() {
                    if section == "sources" && k == "auth" {
                        continue;
                    }
                    assert!(
                        keys.contains(&format!("{section}.{k}")),
                        "{section}.{k} is missing from the example"
                    );
                }
            }
        }
    }

    /// Which config key each long flag of `harvest`, `sync` and `serve` sets.
    const FLAG_KEYS: &[(&str, &str)] = &[
        ("db", "database.url"),
        ("bind", "api.bind"),
        ("public-url", "api.public_url"),
        ("refresh-deadline", "api.refresh_deadline"),
        ("min-refresh-interval", "api.min_refresh_interval"),
        ("concurrency", "crawl.concurrency"),
        ("rate", "crawl.rate"),
        ("per-host", "crawl.per_host"),
        ("retries", "crawl.retries"),
        ("timeout", "crawl.timeout"),
        ("ignore-robots", "crawl.ignore_robots"),
        ("lease-ttl", "sync.lease_ttl"),
        ("grace", "sync.grace"),
        ("no-scheduler", "sync.scheduler"),
        ("verbose", "log.level"),
        ("quiet", "log.level"),
        ("name", "sources.name"),
        ("authority", "sources.authority"),
        ("select", "sources.select"),
        ("skip", "sources.skip"),
    ];
    /// Flags that only make sense for one run, so no config key.
    const PER_RUN_FLAGS: &[&str] = &[
        "config",       // names the config file itself
        "dry-run",      // harvest: print instead of write
        "json",         // sync: output format
        "source",       // sync: one source of the run
        "max-depth",    // harvest: limit of one run
        "max-catalogs", // harvest: limit of one run
        "help",
        "version",
    ];

    #[test]
    fn every_flag_has_a_key_in_the_example() {
        let keys = example_keys();
        let mut cmd = crate::cli::Cli::command();
        cmd.build();
        for name in ["harvest", "sync", "serve"] {
            let sub = cmd
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("no subcommand {name}"));
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if PER_RUN_FLAGS.contains(&long) {
                    continue;
                }
                let key = FLAG_KEYS
                    .iter()
                    .find(|(f, _)| *f == long)
                    .map(|(_, k)| *k)
                    .unwrap_or_else(|| {
                        panic!(
                            "`threddex {name} --{long}` has no config key: add one to Config, \
                             EXAMPLE and FLAG_KEYS (or to PER_RUN_FLAGS with a reason)"
                        )
                    });
                assert!(
                    keys.contains(key),
                    "--{long} maps to {key}, which the example lacks"
                );
            }
        }
    }

    #[test]
    fn durations_print_as_they_parse() {
        for d in [
            Duration::from_millis(250),
            Duration::from_secs(3),
            Duration::from_secs(90),
            Duration::from_secs(120),
            Duration::from_secs(6 * 3600),
            Duration::from_millis(1500),
            Duration::ZERO,
        ] {
            let text = fmt_duration(d);
            assert_eq!(crate::time::parse_duration(&text).unwrap(), d, "{text}");
        }
        assert_eq!(fmt_duration(Duration::from_secs(60)), "1m");
    }

    #[tokio::test]
    async fn sources_from_the_config_are_registered() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::db::open_store(&url).await.unwrap();
        let text = r#"
            [[sources]]
            name = "a"
            url = "http://127.0.0.1:1/thredds/catalog.html"
            every = "2h"
            rules = ["/latest/=live"]
            skip = ["Individual"]
            auth = { type = "bearer", token = "never-stored" }
            [[sources]]
            name = "b"
            url = "http://127.0.0.1:2/thredds/catalog.xml"
        "#;
        let c = load_from(file(text), env(&[])).unwrap().config;
        let got = register_sources(store.as_ref(), &c.sources).await.unwrap();
        assert_eq!(
            got,
            vec![Registered::Added("a".into()), Registered::Added("b".into())]
        );
        let a = store.source_by_name("a").await.unwrap().unwrap();
        assert_eq!(a.settings.url, "http://127.0.0.1:1/thredds/catalog.xml");
        assert_eq!(a.settings.every_secs, Some(7200));
        assert_eq!(a.settings.rules.len(), 1);
        assert_eq!(a.settings.skip, vec!["Individual"]);
        assert!(!serde_json::to_string(&a).unwrap().contains("never-stored"));
        // A second start finds them.
        let got = register_sources(store.as_ref(), &c.sources).await.unwrap();
        assert_eq!(
            got,
            vec![
                Registered::Unchanged("a".into()),
                Registered::Unchanged("b".into())
            ]
        );
        // The file changes: every and rules of "a" are applied on the next start, its ID
        // and sync times stay; a third start finds nothing to change.
        store
            .mark_source_synced(a.id, chrono::Utc::now(), true)
            .await
            .unwrap();
        let a = store.source_by_name("a").await.unwrap().unwrap();
        let edited = text.replace(r#"every = "2h""#, r#"every = "5m""#).replace(
            r#"rules = ["/latest/=live"]"#,
            r#"rules = ['/\d{4}/=archival']"#,
        );
        let mut changed = load_from(file(&edited), env(&[])).unwrap().config.sources;
        for round in 0..2 {
            let got = register_sources(store.as_ref(), &changed).await.unwrap();
            let want_a = if round == 0 {
                Registered::Updated("a".into(), vec!["every", "rules"])
            } else {
                Registered::Unchanged("a".into())
            };
            assert_eq!(got, vec![want_a, Registered::Unchanged("b".into())]);
            let now = store.source_by_name("a").await.unwrap().unwrap();
            assert_eq!(now.settings.every_secs, Some(300));
            assert_eq!(
                now.settings.rules,
                vec![ClassRule {
                    pattern: r"/\d{4}/".into(),
                    class: threddex_store::NodeClass::Archival,
                }]
            );
            assert_eq!(now.settings.skip, vec!["Individual"]);
            assert_eq!(
                (now.id, now.created_at, now.last_sync_at),
                (a.id, a.created_at, a.last_sync_at)
            );
        }
        // Settings removed from the file are removed from the database.
        changed[0].skip.clear();
        changed[0].every = None;
        let got = register_sources(store.as_ref(), &changed).await.unwrap();
        assert_eq!(
            got[0],
            Registered::Updated("a".into(), vec!["every", "skip"])
        );
        let now = store.source_by_name("a").await.unwrap().unwrap();
        assert_eq!(
            (now.settings.every_secs, now.settings.skip.len()),
            (None, 0)
        );
        // Same name, other URL: an error naming both.
        changed[0].url = "http://127.0.0.1:9/thredds/catalog.xml".into();
        let err = register_sources(store.as_ref(), &changed)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("127.0.0.1:9") && err.contains("127.0.0.1:1"),
            "{err}"
        );
        // Same URL under another name: an error.
        let other = vec![SourceConfig {
            name: "c".into(),
            ..c.sources[1].clone()
        }];
        let err = register_sources(store.as_ref(), &other)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("registered as source \"b\""), "{err}");
    }
}
