//! Granule identity by a 64-bit hash of the granule ID (migration 0006): the unique index is
//! `(collection_key, id_hash)` instead of `(collection_key, granule_id)`, which saves the
//! length of the ID once per granule.
//!
//! Collisions are handled by open addressing: a granule whose slot (its hash) is held by another
//! ID of the same collection takes the next free slot (`hash + 1`, …) and gets the [`PROBED`]
//! flag. Such rows are found by ID through the partial index `granules_probed`, so a granule
//! keeps its slot even after the row that pushed it away is deleted.

use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};
use threddex_store::{Result, StoreError};

use crate::convert::db_err;

/// Flag bit: the row is not at its hash slot (a collision pushed it further).
pub(crate) const PROBED: i64 = 4;

/// Longest probe sequence accepted (a 64-bit hash makes even one collision improbable).
pub(crate) const MAX_PROBES: usize = 64;

/// The partial-index condition of migration 0006 (must be written exactly like this to use
/// the index); only the backfill, which runs on that schema, uses it.
const PROBED_ROWS: &str = "(id_hash IS NULL OR flags & 4 <> 0)";

fn mix64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The stored hash of a granule ID, as a signed integer: the top 24 bits hash the ID's
/// directory part (up to the last `/`), the low 40 bits hash the whole ID (FNV-1a 64 with a
/// splitmix64 finaliser, both). Granules of one folder thus share a key range, so a batch
/// (usually one catalog's listing) touches a few index pages instead of pages all over the
/// index.
pub fn granule_id_hash(id: &str) -> i64 {
    let dir = id.rsplit_once('/').map_or("", |(d, _)| d);
    let hi = mix64(dir.as_bytes()) >> 40;
    let lo = mix64(id.as_bytes()) & ((1u64 << 40) - 1);
    i64::from_ne_bytes(((hi << 40) | lo).to_ne_bytes())
}

async fn holder_of(
    conn: &mut SqliteConnection,
    collection_key: i64,
    slot: i64,
) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT granule_id FROM granules WHERE collection_key = ?1 AND id_hash = ?2")
        .bind(collection_key)
        .bind(slot)
        .fetch_optional(conn)
        .await
        .map_err(db_err)
}

/// Give every row copied by migration 0006 (id_hash NULL) its slot.
pub(crate) async fn backfill(pool: &SqlitePool) -> Result<()> {
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let sql = format!(
            "SELECT rowid, collection_key, granule_id FROM granules \
             WHERE {PROBED_ROWS} AND id_hash IS NULL LIMIT 5000"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        if rows.is_empty() {
            tx.commit().await.map_err(db_err)?;
            return Ok(());
        }
        for row in &rows {
            let rowid: i64 = row.try_get(0).map_err(db_err)?;
            let key: i64 = row.try_get(1).map_err(db_err)?;
            let id: String = row.try_get(2).map_err(db_err)?;
            let home = granule_id_hash(&id);
            let mut slot = home;
            let mut free = false;
            for _ in 0..MAX_PROBES {
                if holder_of(&mut tx, key, slot).await?.is_none() {
                    free = true;
                    break;
                }
                slot = slot.wrapping_add(1);
            }
            if !free {
                return Err(StoreError::Internal(format!(
                    "no free hash slot for granule {id:?} after {MAX_PROBES} probes"
                )));
            }
            let probed = if slot == home { 0 } else { PROBED };
            sqlx::query("UPDATE granules SET id_hash = ?2, flags = flags | ?3 WHERE rowid = ?1")
                .bind(rowid)
                .bind(slot)
                .bind(probed)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_spreads() {
        assert_eq!(granule_id_hash("a"), granule_id_hash("a"));
        assert_ne!(granule_id_hash("a"), granule_id_hash("b"));
        assert_ne!(granule_id_hash(""), granule_id_hash("\0"));
        // Pinned: stored hashes must never change.
        assert_eq!(granule_id_hash("x"), -780_787_661_746_923_378);
        assert_eq!(granule_id_hash("grib/NCEP/GFS"), -2_359_888_345_291_909_949);
        // One folder, one key range.
        let a = granule_id_hash("d/e/f1.nc") >> 40;
        assert_eq!(a, granule_id_hash("d/e/f2.nc") >> 40);
        assert_ne!(a, granule_id_hash("d/g/f1.nc") >> 40);
        let n = 10_000;
        let set: std::collections::HashSet<i64> = (0..n)
            .map(|i| granule_id_hash(&format!("NWS/NEXRAD3/N0Q/FTG/20240108/Level3_{i}.nids")))
            .collect();
        assert_eq!(set.len(), n);
    }
}
