//! Tests of the configuration: layering, errors, redaction, sources, the example.

use super::*;
use clap::{CommandFactory, Parser};
use threddex_store::ClassRule;

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
    let cli = crate::cli::Cli::try_parse_from(["threddex", "sync", "--concurrency", "7"]).unwrap();
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
        read_url: None,
    };
    let store = db.open().await.unwrap();
    assert_eq!(store.backend(), "postgres");
    store.ping().await.unwrap();
    // The size reaches the Postgres connector, which refuses a size of 0.
    let zero = DatabaseSection {
        url: DatabaseUrl::new(url),
        pool_size: 0,
        read_url: None,
    };
    let err = zero.open().await.err().unwrap();
    assert!(format!("{err:#}").contains("pool size 0"), "{err:#}");
}

#[test]
fn the_read_replica_url_comes_from_the_file_or_env_and_must_be_postgres() {
    let c = load_from(
        file("[database]\nurl = \"postgres://u:pw@primary/db\"\nread_url = \"postgres://u:pw@replica/db\"\n"),
        env(&[]),
    )
    .unwrap()
    .config;
    assert_eq!(
        c.database.read_url.as_ref().map(DatabaseUrl::expose),
        Some("postgres://u:pw@replica/db")
    );
    // Redacted wherever it is shown.
    assert!(!format!("{:?}", c.database).contains("pw"));
    let c = load_from(
        file("[database]\nurl = \"postgres://u@primary/db\"\n"),
        env(&[("THREDDEX__DATABASE__READ_URL", "postgres://u@replica/db")]),
    )
    .unwrap()
    .config;
    assert_eq!(
        c.database.read_url.as_ref().map(DatabaseUrl::expose),
        Some("postgres://u@replica/db")
    );
    // Replicas are Postgres streaming replicas (of a Postgres primary: checked on opening).
    let err = load_from(
        file("[database]\nurl = \"postgres://u@primary/db\"\nread_url = \"sqlite://y.db\"\n"),
        env(&[]),
    )
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains("database.read_url"), "{err:#}");
}

#[tokio::test]
async fn a_read_replica_of_a_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = DatabaseSection {
        url: DatabaseUrl::new(format!("sqlite://{}", dir.path().join("x.db").display())),
        pool_size: 2,
        read_url: Some(DatabaseUrl::new("postgres://u@127.0.0.1:1/db")),
    };
    let err = db.open_for_search().await.err().unwrap();
    assert!(format!("{err:#}").contains("database.read_url"), "{err:#}");
    assert!(!dir.path().join("x.db").exists(), "nothing opened");
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
fn webhook_settings_come_from_a_sub_section_of_file_and_environment() {
    let file = "[notify.webhooks]\nallow_private_targets = true\ntimeout = \"2s\"\n";
    let l = load_from(
        Some((file, "t.toml".into())),
        env(&[
            ("THREDDEX__NOTIFY__WEBHOOKS__MAX_FAILURES", "7"),
            ("THREDDEX__CHANGES__POLL", "50ms"),
        ]),
    )
    .unwrap();
    let api = l.config.api_config().unwrap();
    assert!(api.webhooks.allow_private_targets);
    assert_eq!(api.webhooks.timeout, Duration::from_secs(2));
    assert_eq!(api.webhooks.max_failures, 7);
    assert_eq!(api.webhooks.poll, Duration::from_millis(50));
    for (var, value, needle) in [
        (
            "THREDDEX__NOTIFY__WEBHOOKS__MAX_FAILURES",
            "0",
            "max_failures",
        ),
        ("THREDDEX__NOTIFY__WEBHOOKS__TIMEOUTT", "1s", "timeoutt"),
        ("THREDDEX__NOTIFY__WEBHOOKS__TIMEOUT", "10ms", "timeout"),
    ] {
        let err = load_from(None, env(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{var}: {err}");
    }
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
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
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
    assert!(all.notify.mqtt.is_some());
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
            for (k, v) in t {
                if section == "sources" && k == "auth" {
                    continue;
                }
                // A sub-table (`[notify.webhooks]`): its keys.
                if let toml::Value::Table(sub) = v {
                    for kk in sub.keys() {
                        assert!(
                            keys.contains(&format!("{section}.{k}.{kk}")),
                            "{section}.{k}.{kk} is missing from the example"
                        );
                    }
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
    ("read-db", "database.read_url"),
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
    ("no-worker", "sync.worker"),
    ("claim-ttl", "sync.claim_ttl"),
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
    "wait",         // sync: how this run treats a busy lease
    "source",       // sync: one source of the run
    "max-depth",    // harvest: limit of one run
    "max-catalogs", // harvest: limit of one run
    "once",         // worker: stop when nothing is left to do
    "help",
    "version",
];

#[test]
fn every_flag_has_a_key_in_the_example() {
    let keys = example_keys();
    let mut cmd = crate::cli::Cli::command();
    cmd.build();
    for name in ["harvest", "sync", "serve", "worker"] {
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
