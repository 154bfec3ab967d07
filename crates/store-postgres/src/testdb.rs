//! Fresh Postgres databases for tests and benches (feature `testdb`), shared by every crate
//! whose tests need a throwaway database.
//!
//! The admin URL comes from `THREDDEX_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Postgres is required: when it is unreachable the
//! helpers panic with a clear message instead of skipping (CI must fail).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::PostgresStore;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

/// Default admin database URL.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Prefix of the databases made here; the creating process ID follows it.
const PREFIX: &str = "threddex_test_";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The admin URL (a database the tests may connect to and create databases from).
pub fn admin_url() -> String {
    std::env::var("THREDDEX_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

async fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "Postgres is required for these tests but {url} is unreachable: {e}. Start it \
             (`.ci/run` does) or point THREDDEX_TEST_POSTGRES_URL at a server with trust auth; \
             these tests never skip."
        )
    })
}

/// Drop databases left behind by earlier test processes that are gone.
async fn drop_stale(conn: &mut PgConnection) {
    let rows =
        sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'threddex\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .expect("list test databases");
    let me = std::process::id();
    for row in rows {
        let name: String = row.get(0);
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != me && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = conn.execute(AssertSqlSafe(sql)).await;
        }
    }
}

/// Create a fresh, empty database; returns its URL.
pub async fn fresh_database_url() -> String {
    let mut conn = admin().await;
    if COUNTER.load(Ordering::SeqCst) == 0 {
        drop_stale(&mut conn).await;
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("{PREFIX}{}_{n}_{nanos}", std::process::id());
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = conn.close().await;
    with_database(&admin_url(), &name)
}

/// A migrated store on a fresh database.
pub async fn fresh_store() -> PostgresStore {
    let url = fresh_database_url().await;
    PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"))
}

/// Drops its database when dropped (end of a test, also on panic).
pub struct DropDatabase(pub String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop cannot await: a short-lived thread with its own runtime does the work, joined
        // so the database is gone when the test ends.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute(AssertSqlSafe(sql)).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A fresh, empty database: its URL and a guard that drops it.
pub async fn fresh_database() -> (String, DropDatabase) {
    let url = fresh_database_url().await;
    let name = url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    (url, DropDatabase(name))
}

/// A migrated store on a fresh database, with a guard dropping the database afterwards.
pub async fn fresh_store_with_guard() -> (PostgresStore, DropDatabase) {
    let (url, guard) = fresh_database().await;
    let store = PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    (store, guard)
}
