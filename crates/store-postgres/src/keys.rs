//! Collection keys by collection ID, for the granule statements of the read path.
//!
//! `granules` is partitioned by `collection_key` (migration 0017): a statement that names the
//! key as a bound value is pruned to one partition when it is planned (or, for a generic plan,
//! when it starts), while one that finds the key by a sub-select is planned and started over
//! all 64 partitions (64 index scans set up, their locks taken) and pruned only while it runs.
//! So the listings look the key up first, from this cache after the first time.
//!
//! A collection's key never changes and is never reused (an identity column): a cached key is
//! either right or belongs to a collection that was removed, whose granules went with it. A
//! statement with a stale key therefore finds nothing; callers look the key up again when a
//! listing from a cached key comes back empty ([`CollectionKeys::forget`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sqlx::PgConnection;
use threddex_store::StoreError;

use crate::convert::{clean, db_err};

/// Most keys kept; when full the cache is emptied (simple and bounded).
const CAPACITY: usize = 200_000;

/// A collection's key, and whether it came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) key: i64,
    pub(crate) cached: bool,
}

#[derive(Debug, Default)]
pub(crate) struct CollectionKeys {
    map: Mutex<HashMap<String, i64>>,
}

impl CollectionKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key of collection `id` (None: no such collection), from the cache or `conn`.
    pub(crate) async fn get(
        &self,
        conn: &mut PgConnection,
        id: &str,
    ) -> Result<Option<Key>, StoreError> {
        let id = clean(id);
        if let Some(&key) = self.lock().get(id.as_ref()) {
            return Ok(Some(Key { key, cached: true }));
        }
        let key: Option<i64> = sqlx::query_scalar("SELECT key FROM collections WHERE id = $1")
            .bind(id.as_ref())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        if let Some(key) = key {
            let mut map = self.lock();
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(id.into_owned(), key);
        }
        Ok(key.map(|key| Key { key, cached: false }))
    }

    /// Drop the cached key of `id` (its listing came back empty: the collection may have been
    /// removed and added again under a new key).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(clean(id).as_ref());
    }
}
