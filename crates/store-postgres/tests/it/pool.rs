//! `PostgresOptions::pool_size` reaches the connection pool; bad sizes are refused before
//! connecting. Postgres is required (`testdb`): these tests panic, never skip.

#![allow(clippy::unwrap_used)]

use threddex_store::StoreError;
use threddex_store_postgres::{
    DEFAULT_POOL_SIZE, MAX_POOL_SIZE, PostgresOptions, PostgresStore, testdb,
};

#[tokio::test]
async fn pool_size_is_the_pools_limit() {
    let url = testdb::admin_url();
    let default = PostgresStore::connect_without_migrating(&url)
        .await
        .unwrap();
    assert_eq!(
        default.pool().options().get_max_connections(),
        DEFAULT_POOL_SIZE
    );
    assert_eq!(PostgresOptions::default().pool_size, 8);
    default.close().await;

    let three =
        PostgresStore::connect_without_migrating_with(&url, PostgresOptions { pool_size: 3 })
            .await
            .unwrap();
    assert_eq!(three.pool().options().get_max_connections(), 3);
    // Three connections can be held at once, and the pool opens no more.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(three.pool().acquire().await.unwrap());
    }
    assert_eq!(three.pool().size(), 3);
    assert!(three.pool().try_acquire().is_none());
    drop(held);
    three.close().await;
}

#[tokio::test]
async fn bad_pool_sizes_are_refused() {
    let url = testdb::admin_url();
    for pool_size in [0, MAX_POOL_SIZE + 1] {
        let err = PostgresStore::connect_with(&url, PostgresOptions { pool_size })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("pool size")),
            "{err:?}"
        );
    }
}
