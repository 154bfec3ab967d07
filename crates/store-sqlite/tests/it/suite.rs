//! The generic store behaviour suite, on a file database and on an in-memory one.

mod file {
    use threddex_store_sqlite::SqliteStore;

    /// A fresh database in a temporary directory that lives as long as the test.
    async fn make() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        (store, dir)
    }

    threddex_store::store_test_suite!(make());
}

mod memory {
    use threddex_store_sqlite::SqliteStore;

    threddex_store::store_test_suite!(async {
        SqliteStore::connect("sqlite::memory:")
            .await
            .expect("connect")
    });
}
