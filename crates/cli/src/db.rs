//! The one place that names storage backends: pick one from the database URL.

use std::sync::Arc;

use anyhow::Context;
use threddex_store::{Store, StoreError};
use threddex_store_postgres::PostgresStore;
use threddex_store_sqlite::SqliteStore;

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://threddex.db";

/// Open (creating and migrating when needed) the store named by `url`.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
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
            let store = PostgresStore::connect(url)
                .await
                .with_context(|| format!("cannot open database {}", redact(url)))?;
            Ok(Arc::new(store))
        }
        _ => Err(StoreError::UnsupportedUrl(redact(url)).into()),
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("*****"));
            u.to_string()
        }
        _ => url.to_string(),
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
