//! The one place that names storage backends: pick one from the database URL.

use std::sync::Arc;

use anyhow::Context;
use threddex_store::{Frontier, HostLimits, Store, StoreError};
use threddex_store_postgres::{PostgresOptions, PostgresStore};
use threddex_store_sqlite::SqliteStore;

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://threddex.db";

/// Open (creating and migrating when needed) the store named by `url`.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(url, threddex_store_postgres::DEFAULT_POOL_SIZE).await
}

/// [`open_store`] with a Postgres pool of `pool_size` connections (SQLite ignores it).
pub async fn open_store_with(url: &str, pool_size: u32) -> anyhow::Result<Arc<dyn Store>> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => {
            let store = SqliteStore::connect(url)
                .await
                .with_context(|| format!("cannot open database {}", redact(url)))?;
            Ok(Arc::new(store))
        }
        "postgres" | "postgresql" => {
            let store = PostgresStore::connect_with(url, PostgresOptions { pool_size })
                .await
                .with_context(|| format!("cannot open database {}", redact(url)))?;
            Ok(Arc::new(store))
        }
        _ => Err(StoreError::UnsupportedUrl(redact(url)).into()),
    }
}

/// The shared-crawl capabilities of a Postgres database (the frontier of `threddex worker` and
/// per-host limits shared by every process); SQLite has none (one process).
#[derive(Clone)]
pub struct SharedCrawl {
    /// The shared frontier.
    pub frontier: Arc<dyn Frontier>,
    /// Per-host politeness shared by every process.
    pub hosts: Arc<dyn HostLimits>,
}

/// [`open_store_with`], and for Postgres the same store's shared-crawl capabilities. With
/// `read_url` (Postgres only), search reads go to that streaming replica of `url` (connected
/// to without migrating).
pub async fn open_store_shared(
    url: &str,
    read_url: Option<&str>,
    pool_size: u32,
) -> anyhow::Result<(Arc<dyn Store>, Option<SharedCrawl>)> {
    if threddex_store_postgres::is_postgres_url(url) {
        let mut store = PostgresStore::connect_with(url, PostgresOptions { pool_size })
            .await
            .with_context(|| format!("cannot open database {}", redact(url)))?;
        if let Some(read) = read_url {
            store = store
                .with_read_replica(read)
                .await
                .with_context(|| format!("cannot open the read replica {}", redact(read)))?;
        }
        let store = Arc::new(store);
        let shared = SharedCrawl {
            frontier: Arc::clone(&store) as Arc<dyn Frontier>,
            hosts: Arc::clone(&store) as Arc<dyn HostLimits>,
        };
        return Ok((store, Some(shared)));
    }
    if read_url.is_some() {
        anyhow::bail!(
            "database.read_url (--read-db) is a streaming replica of a Postgres database.url, \
             not of {}",
            redact(url)
        );
    }
    Ok((open_store_with(url, pool_size).await?, None))
}

/// A database URL with any password replaced, for messages and logs: the one after `user:`
/// and `password`/`sslpassword` query parameters (which sqlx also reads). A URL that does not
/// parse loses everything before its `@`.
pub fn redact(url: &str) -> String {
    const MASK: &str = "*****";
    let secret_param = |k: &str| {
        let k = k.to_ascii_lowercase();
        k == "password" || k == "sslpassword"
    };
    match url::Url::parse(url) {
        Ok(mut u) => {
            let mut changed = false;
            if u.password().is_some() {
                changed |= u.set_password(Some(MASK)).is_ok();
            }
            if u.query_pairs().any(|(k, _)| secret_param(&k)) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if secret_param(&k) {
                            MASK.to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
                changed = true;
            }
            if changed {
                u.to_string()
            } else {
                url.to_string()
            }
        }
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}://{MASK}@{}", &url[..s], &url[at + 1..]),
            _ => url.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/threddex"),
            "postgres://app:*****@db:5432/threddex"
        );
        assert_eq!(redact("sqlite://threddex.db"), "sqlite://threddex.db");
        assert_eq!(
            redact("postgres://app@db/threddex?password=s3cret&sslmode=require"),
            "postgres://app@db/threddex?password=*****&sslmode=require"
        );
        assert_eq!(
            redact("postgres://app:s3cret@[bad/threddex"),
            "postgres://*****@[bad/threddex"
        );
        assert_eq!(
            redact("postgres://app@db/threddex"),
            "postgres://app@db/threddex"
        );
    }

    #[tokio::test]
    async fn unknown_scheme_is_a_clear_error() {
        let err = open_store("mysql://localhost/x")
            .await
            .err()
            .expect("must fail");
        assert!(
            err.to_string().contains("unsupported database URL"),
            "{err}"
        );
    }
}
