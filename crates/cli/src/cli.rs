//! Command-line definition (clap). Every flag here is documented in the README.

use clap::{Args, Parser, Subcommand};

/// Incremental THREDDS metadata crawler and search service.
#[derive(Debug, Parser)]
#[command(name = "threddex", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). `THREDDEX_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Config file (default: `./threddex.toml` when it exists). See `threddex config example`.
    #[arg(long, global = true, env = "THREDDEX_CONFIG", value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The database to use, shared by every command that touches the store.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: `sqlite://PATH` (created on first use) or `postgres://USER@HOST/DB`
    /// [default: sqlite://threddex.db; config database.url; env THREDDEX__DATABASE__URL or
    /// THREDDEX_DATABASE_URL].
    #[arg(long = "db", value_name = "URL")]
    pub db: Option<String>,
}

/// The politeness and retry settings of a crawl, shared by `harvest` and `sync` (config
/// `[crawl]`; a flag given here wins over the config).
#[derive(Debug, Clone, Args)]
pub struct CrawlArgs {
    /// Catalogs fetched at once [default: 8; config crawl.concurrency].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Requests per second per host, token bucket [default: 10; config crawl.rate].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Requests in flight per host at most [default: 8; config crawl.per_host].
    #[arg(long)]
    pub per_host: Option<usize>,
    /// Retries of a transient failure (5xx, 429, timeouts) before a catalog is recorded failed
    /// [default: 4; config crawl.retries].
    #[arg(long)]
    pub retries: Option<u32>,
    /// Seconds to wait for a catalog's response [default: 30; config crawl.timeout].
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Do not fetch or obey robots.txt, only for servers you run [config crawl.ignore_robots].
    #[arg(long)]
    pub ignore_robots: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Harvest a THREDDS server (from its start catalog URL) into the index.
    Harvest(HarvestArgs),
    /// List the collections in the index (step 1 of the two-step search).
    Collections(CollectionsArgs),
    /// List a collection's granules overlapping [start, end) (step 2 of the search).
    Granules(GranulesArgs),
    /// The change log: one CloudEvent (JSON) per line after a cursor; `--follow` waits for more.
    Changes(ChangesArgs),
    /// Derive collection IDs and times from dataset IDs: `collection_id<TAB>start<TAB>end`.
    Ids(IdsArgs),
    /// Start a simulated THREDDS server on loopback, harvest it, and show what to try next.
    Demo(DemoArgs),
    /// Write one ISO 19139 series record per collection into a directory.
    Export(ExportArgs),
    /// Run the HTTP search API (with refresh on demand) and the sync scheduler.
    Serve(ServeArgs),
    /// Register, list and remove sources (THREDDS servers synced on a schedule).
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// Webhook subscriptions: add, list, remove, resume, and their delivery logs.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// Re-read what may have changed (live nodes and new references) of one or all sources.
    Sync(SyncArgs),
    /// Crawl the registered sources together with the other workers of a Postgres database
    /// (the shared frontier), until ctrl-c or SIGTERM.
    Worker(WorkerArgs),
    /// Apply the database migrations and exit.
    Migrate(MigrateArgs),
    /// The configuration file: a commented example, or the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 when the service answers `GET /readyz` with 200, else 1 (container health checks).
    Healthcheck(HealthcheckArgs),
}

/// `threddex config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example `threddex.toml` (every key, its default and what it does).
    Example,
    /// Print the effective configuration (defaults, file, environment), secrets redacted.
    Show,
}

/// `threddex healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Base URL of the service [default: http://BIND from config api.bind, with 0.0.0.0 as
    /// 127.0.0.1, i.e. http://127.0.0.1:8080].
    #[arg(long)]
    pub url: Option<String>,
}

/// `threddex sources …`.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Register a source.
    Add(SourcesAddArgs),
    /// List the sources.
    List(SourcesListArgs),
    /// Remove a source and everything harvested from it.
    Remove(SourcesRemoveArgs),
}

/// `threddex subscriptions …` (against the database; `serve` delivers).
#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Register a webhook subscription; prints its ID and secret (shown only now).
    Add(SubscriptionsAddArgs),
    /// List the subscriptions with their state and cursor.
    List(SubscriptionsListArgs),
    /// Remove a subscription and its delivery log.
    Remove(SubscriptionIdArgs),
    /// Make a disabled subscription deliver again, from its cursor (or `--after`).
    Resume(SubscriptionsResumeArgs),
    /// The delivery log of a subscription, newest first.
    Deliveries(SubscriptionsDeliveriesArgs),
}

/// `threddex subscriptions add`.
#[derive(Debug, Args)]
pub struct SubscriptionsAddArgs {
    /// Where deliveries are POSTed (http or https; private addresses need
    /// notify.webhooks.allow_private_targets).
    pub url: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Only this collection (repeatable).
    #[arg(long, value_name = "ID")]
    pub collection: Vec<String>,
    /// Only collections whose ID matches this glob (`*`, `?`, `\` escapes).
    #[arg(long, value_name = "GLOB")]
    pub pattern: Option<String>,
    /// Only collections this free-text search finds.
    #[arg(long = "query", visible_alias = "q")]
    pub query: Option<String>,
    /// Only collections whose extent intersects WEST,SOUTH,EAST,NORTH.
    #[arg(long, value_name = "W,S,E,N")]
    pub bbox: Option<String>,
    /// Deliver entries after this change-log position [default: the newest].
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<i64>,
}

/// `threddex subscriptions list`.
#[derive(Debug, Args)]
pub struct SubscriptionsListArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `threddex subscriptions remove`.
#[derive(Debug, Args)]
pub struct SubscriptionIdArgs {
    /// The subscription's ID.
    pub id: i64,
    #[command(flatten)]
    pub db: DbArgs,
}

/// `threddex subscriptions resume`.
#[derive(Debug, Args)]
pub struct SubscriptionsResumeArgs {
    /// The subscription's ID.
    pub id: i64,
    #[command(flatten)]
    pub db: DbArgs,
    /// Deliver from after this change-log position instead of the stored cursor.
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<i64>,
}

/// `threddex subscriptions deliveries`.
#[derive(Debug, Args)]
pub struct SubscriptionsDeliveriesArgs {
    /// The subscription's ID.
    pub id: i64,
    #[command(flatten)]
    pub db: DbArgs,
    /// Most attempts shown.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// `threddex sources add`.
#[derive(Debug, Args)]
pub struct SourcesAddArgs {
    /// The start catalog URL.
    pub url: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Unique name (default: host[:port], or when taken host[:port]_PATH from the catalog
    /// path, then -2, -3, …; a registered URL keeps its name).
    #[arg(long)]
    pub name: Option<String>,
    /// Sync interval: a number with a unit `s`, `m`, `h` or `d` (`90s`, `10m`, `2h`, `1d`).
    #[arg(long, value_parser = crate::commands::sources::parse_every)]
    pub every: Option<i64>,
    /// Naming authority for collection IDs when the catalogs give none.
    #[arg(long)]
    pub authority: Option<String>,
    /// Only harvest datasets whose ID, name or urlPath matches (regex, repeatable).
    #[arg(long)]
    pub select: Vec<String>,
    /// Skip datasets, catalogRefs and virtual views matching (regex, repeatable).
    #[arg(long)]
    pub skip: Vec<String>,
    /// Classification override `REGEX=archival|live|daily|mixed` on catalog URLs (repeatable;
    /// the first matching rule wins over every other classification).
    #[arg(long = "rule", value_parser = crate::commands::sources::parse_rule_arg)]
    pub rules: Vec<threddex_store::ClassRule>,
    /// Succeed without change when a source of this name and URL exists already (an error
    /// still when the name is registered with another URL).
    #[arg(long)]
    pub if_missing: bool,
}

/// `threddex sources list`.
#[derive(Debug, Args)]
pub struct SourcesListArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `threddex sources remove`.
#[derive(Debug, Args)]
pub struct SourcesRemoveArgs {
    /// The source's name.
    pub name: String,
    #[command(flatten)]
    pub db: DbArgs,
}

/// `threddex sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only this source (by name); all sources when omitted.
    #[arg(long)]
    pub source: Option<String>,
    /// Lifetime of the source's sync lease (renewed while running): a sync killed on another
    /// host blocks the source for at most this long (one killed on this host not at all)
    /// [default: 60s; config sync.lease_ttl].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub lease_ttl: Option<std::time::Duration>,
    /// Grace period for late files in dated folders, beyond the day after their date (UTC)
    /// [default: 6h; config sync.grace].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub grace: Option<std::time::Duration>,
    #[command(flatten)]
    pub crawl: CrawlArgs,
    /// Print the reports as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// When another sync holds a source's lease, wait until it is released or expires
    /// (checking every 2 s at most), then sync; give up after MAX in all (default 1h) with
    /// exit status 3. Without it, a busy source is skipped at once (exit status 3).
    #[arg(
        long,
        value_name = "MAX",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1h",
        value_parser = crate::time::parse_duration
    )]
    pub wait: Option<std::time::Duration>,
}

/// `threddex migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

/// `threddex harvest`.
#[derive(Debug, Args)]
pub struct HarvestArgs {
    /// The start catalog URL (`…/catalog.xml`; an HTML catalog URL is switched to its XML twin).
    pub url: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Only harvest datasets whose ID or name matches (regex, repeatable).
    #[arg(long)]
    pub select: Vec<String>,
    /// Skip datasets, catalogRefs and virtual views whose ID, name, href or title matches (regex,
    /// repeatable).
    #[arg(long)]
    pub skip: Vec<String>,
    #[command(flatten)]
    pub crawl: CrawlArgs,
    /// Follow catalogRefs at most this deep below the start catalog [this run only: no config
    /// key].
    #[arg(long)]
    pub max_depth: Option<u32>,
    /// Fetch at most this many catalogs in this run [this run only: no config key].
    #[arg(long)]
    pub max_catalogs: Option<u64>,
    /// Naming authority for collection IDs when the catalogs give none (default: from the host;
    /// a catalog's own authority wins, and the summary says when it did).
    #[arg(long)]
    pub authority: Option<String>,
    /// Name of the source to register (default: the config source with this URL, else the
    /// registered source with this URL, else host[:port], or when taken host[:port]_PATH from
    /// the catalog path, then -2, -3, …). The credentials of the config source of that name
    /// are sent.
    #[arg(long)]
    pub name: Option<String>,
    /// Write nothing; print one JSON object per granule to stdout.
    #[arg(long)]
    pub dry_run: bool,
}

/// `threddex collections`.
#[derive(Debug, Args)]
pub struct CollectionsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only collections whose ID or title contains this text.
    #[arg(long = "query", visible_alias = "q")]
    pub query: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `threddex changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Entries after this cursor (a log position: the `id` of the last event read)
    /// [default: the oldest entry kept].
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<i64>,
    /// Only entries of this collection (repeatable).
    #[arg(long, value_name = "ID")]
    pub collection: Vec<String>,
    /// Keep running and print entries as they commit (stop with ctrl-c).
    #[arg(long)]
    pub follow: bool,
    /// How often `--follow` looks for new entries [default: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub poll: Option<std::time::Duration>,
}

/// `threddex granules`.
#[derive(Debug, Args)]
pub struct GranulesArgs {
    /// The collection ID (as printed by `threddex collections`).
    pub collection: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Window start, inclusive (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_parser = crate::time::parse_time)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Window end, exclusive (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_parser = crate::time::parse_time)]
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    /// Print at most this many granules.
    #[arg(long)]
    pub limit: Option<u64>,
    /// One JSON object per line (with access URLs) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `threddex ids`.
#[derive(Debug, Args)]
pub struct IdsArgs {
    /// Naming authority to prefix (e.g. `edu.ucar.unidata`); none when omitted.
    #[arg(long)]
    pub authority: Option<String>,
    /// Extra rule: a regex of tokens that vary but do not identify a series (repeatable).
    #[arg(long = "rule")]
    pub rules: Vec<String>,
    /// Dataset IDs (or urlPaths, or names). Read from stdin, one per line, when none is given.
    pub ids: Vec<String>,
}

/// `threddex export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format: `iso` (ISO 19139 series records, one XML file per collection) or
    /// `stac-geoparquet` (the collection's STAC Items, one Parquet file per collection).
    #[arg(long, default_value = "iso")]
    pub format: String,
    /// Directory to write into (created when missing). File names are the collection IDs
    /// percent-encoded (every byte but `A-Z a-z 0-9 - . _ ~`) plus `.xml` or `.parquet`.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Only this collection (repeatable; `stac-geoparquet` only) [default: every collection].
    #[arg(long = "collection", value_name = "ID")]
    pub collections: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Public base URL of the service: the search link of ISO records built during the export
    /// (collections whose record is missing), the links of STAC Items and Collections
    /// (under `URL/stac`) [default: config api.public_url, else http://127.0.0.1:8080].
    #[arg(long)]
    pub public_url: Option<String>,
}

/// `threddex demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// NEXRAD stations per product in the simulated tree.
    #[arg(long, default_value_t = 4)]
    pub stations: usize,
    /// Days of data in the simulated tree (ending today, UTC).
    #[arg(long, default_value_t = 3)]
    pub days: usize,
    /// Keep the simulated server running after the harvest (until ctrl-c).
    #[arg(long)]
    pub keep_running: bool,
    /// After the harvest, keep the simulated server running and serve the API over the store
    /// (with the sync scheduler and refresh on demand against the live simulated server), until
    /// ctrl-c or SIGTERM. Takes the `serve` flags (`--bind`, …).
    #[arg(long)]
    pub serve: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    /// With `--serve`: serve only, without the sync scheduler [config sync.scheduler = false].
    #[arg(long, requires = "serve")]
    pub no_scheduler: bool,
}

/// The API settings shared by `serve` and `demo --serve` (config `[api]`).
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Address to listen on, `HOST:PORT`; port 0 picks a free port [default: 127.0.0.1:8080;
    /// config api.bind].
    #[arg(long)]
    pub bind: Option<String>,
    /// Public base URL for absolute links in answers [default: from the request's Host;
    /// config api.public_url].
    #[arg(long)]
    pub public_url: Option<String>,
    /// How long an `/index` request waits for a refresh before answering from the index
    /// [default: 3s; config api.refresh_deadline].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub refresh_deadline: Option<std::time::Duration>,
    /// A collection's live catalogs are re-read at most once per this interval [default: 60s;
    /// config api.min_refresh_interval].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub min_refresh_interval: Option<std::time::Duration>,
}

/// `threddex serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A streaming replica of the Postgres database (`postgres://USER@HOST/DB`) to send search
    /// reads to; writes, leases and crawl state stay on --db [config database.read_url; env
    /// THREDDEX__DATABASE__READ_URL].
    #[arg(long = "read-db", value_name = "URL")]
    pub read_db: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Serve only: do not run the sync scheduler in this process [config sync.scheduler = false].
    #[arg(long)]
    pub no_scheduler: bool,
    /// On Postgres, run the per-process sync scheduler instead of a worker of the shared crawl
    /// frontier [config sync.worker = false].
    #[arg(long)]
    pub no_worker: bool,
}

/// `threddex worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Lifetime of the sync lease a round holds for its source (renewed by every worker while
    /// the round is open) [default: 60s; config sync.lease_ttl].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub lease_ttl: Option<std::time::Duration>,
    /// Grace period for late files in dated folders, beyond the day after their date (UTC)
    /// [default: 6h; config sync.grace].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub grace: Option<std::time::Duration>,
    /// How long a claim on a catalog lasts unless renewed (renewed every third of it): a
    /// worker killed with -9 holds its claims up to this long [default: 30s; config
    /// sync.claim_ttl].
    #[arg(long, value_parser = crate::time::parse_duration)]
    pub claim_ttl: Option<std::time::Duration>,
    #[command(flatten)]
    pub crawl: CrawlArgs,
    /// Stop once no source is due, no round is open and no claim is held [this run only].
    #[arg(long)]
    pub once: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn harvest_flags_parse() {
        let cli = Cli::try_parse_from([
            "threddex",
            "harvest",
            "http://127.0.0.1:1/thredds/catalog.xml",
            "--select",
            "NEXRAD",
            "--select",
            "GOES",
            "--concurrency",
            "16",
            "--dry-run",
        ])
        .unwrap();
        let Command::Harvest(h) = cli.command else {
            panic!("not harvest")
        };
        assert_eq!(h.select, vec!["NEXRAD", "GOES"]);
        assert_eq!(h.crawl.concurrency, Some(16));
        assert!(h.dry_run);
        assert_eq!(h.crawl.rate, None, "not given: the config decides");
    }

    #[test]
    fn bad_time_is_rejected_with_the_reason() {
        let err = Cli::try_parse_from(["threddex", "granules", "c", "--start", "2019-13-40"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a time"), "{err}");
    }
}
