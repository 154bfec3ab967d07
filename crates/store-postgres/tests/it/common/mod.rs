//! Fresh Postgres databases (the crate's own `testdb` helpers) and the small fixtures the
//! Postgres-specific test files share.

#![allow(unused_imports, dead_code, clippy::unwrap_used)] // shared test fixtures

use threddex_store::prelude::*;
use threddex_store::{CollectionUpsert, NewSource, Store};
use threddex_store_postgres::PostgresStore;

pub use threddex_store_postgres::testdb::*;

/// `secs` after 2024-01-01T00:00:00Z (the shared suite's clock, so fixtures from both agree).
pub use threddex_store::testsuite::t;

/// The catalog every fixture granule and collection comes from.
pub const CAT: &str = "http://127.0.0.1/s/catalog.xml";

/// Register source `s` (at [`CAT`]); its ID.
pub async fn source(store: &PostgresStore) -> i64 {
    store
        .add_source(&NewSource {
            name: "s".into(),
            url: CAT.into(),
            ..NewSource::default()
        })
        .await
        .unwrap()
        .id
}

/// A collection of `source_id` titled after its ID.
pub fn coll(id: &str, source_id: i64) -> CollectionUpsert {
    CollectionUpsert {
        id: id.into(),
        source_id,
        title: format!("Title {id}"),
        catalog_url: CAT.into(),
        ..CollectionUpsert::default()
    }
}
