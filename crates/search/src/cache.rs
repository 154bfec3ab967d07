//! A small time-bounded cache of what a granule search needs to know about a collection (that
//! it exists, its access services, its source, and for item searches the collection itself
//! without its ISO record), so a granule lookup costs one query, not two.
//!
//! Only existing collections are cached; entries live [`CollectionCache::ttl`] and are
//! replaced after a refresh. When the cache is full it is emptied (simple and bounded).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use threddex_store::{AccessService, Collection, ErrorChain, Store, Timestamp};

/// What a granule search keeps of a collection.
#[derive(Debug, PartialEq)]
pub(crate) struct CollectionInfo {
    /// Access services through which single granules are reachable (see
    /// [`granule_services`]), in the collection's order; shared with the pages.
    pub services: Arc<[AccessService]>,
    /// The source it belongs to.
    pub source_id: i64,
    /// The collection as read, without its ISO record (what an item page is built from).
    pub collection: Option<Arc<Collection>>,
}

impl CollectionInfo {
    pub(crate) fn new(services: &[AccessService], source_id: i64) -> Self {
        Self {
            services: granule_services(services).into(),
            source_id,
            collection: None,
        }
    }
}

impl From<Collection> for CollectionInfo {
    /// The entry of a collection as read (its ISO record dropped, not copied).
    fn from(c: Collection) -> Self {
        let mut info = Self::new(&c.info.services, c.info.source_id);
        info.collection = Some(Arc::new(Collection {
            iso_record: None,
            ..c
        }));
        info
    }
}

/// Services through which single granules are reachable (a `Compound` service is only a
/// container of others, and a service without a base gives no URL).
pub fn granule_services(services: &[AccessService]) -> Vec<AccessService> {
    services
        .iter()
        .filter(|s| !s.service_type.eq_ignore_ascii_case("compound") && !s.base.is_empty())
        .cloned()
        .collect()
}

/// When each source last synced successfully, re-read from the store at most once per `ttl`
/// (sources are few: one small query). Lets a granule search skip the freshness lookup for windows
/// that ended before the last sync.
#[derive(Debug)]
pub(crate) struct SyncTimes {
    ttl: Duration,
    #[allow(clippy::type_complexity)]
    entries: Mutex<Option<(Instant, Arc<HashMap<i64, Timestamp>>)>>,
}

impl SyncTimes {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The last successful sync of `source_id` (None: never, unknown, or the store failed).
    pub(crate) async fn last_success(
        &self,
        store: &dyn Store,
        source_id: i64,
    ) -> Option<Timestamp> {
        let cached = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(at, _)| !self.ttl.is_zero() && at.elapsed() < self.ttl)
            .map(|(_, m)| Arc::clone(m));
        let map = match cached {
            Some(m) => m,
            None => {
                let sources = match store.list_sources().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %ErrorChain(&e), "cannot read the sources");
                        return None;
                    }
                };
                let m: Arc<HashMap<i64, Timestamp>> = Arc::new(
                    sources
                        .into_iter()
                        .filter_map(|s| s.last_success_at.map(|t| (s.id, t)))
                        .collect(),
                );
                *self.entries.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), Arc::clone(&m)));
                m
            }
        };
        map.get(&source_id).copied()
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct CollectionCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, Arc<CollectionInfo>)>>,
}

impl CollectionCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::default(),
        }
    }

    /// The cached entry of `id`, if fresh.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<CollectionInfo>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, info)| Arc::clone(info))
    }

    /// Drop the entry of `id` (its collection changed).
    pub(crate) fn forget(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Remember `info` for `id`.
    pub(crate) fn put(&self, id: &str, info: CollectionInfo) -> Arc<CollectionInfo> {
        let info = Arc::new(info);
        if self.ttl.is_zero() || self.capacity == 0 {
            return info;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            entries.clear();
        }
        entries.insert(id.to_owned(), (Instant::now(), Arc::clone(&info)));
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n: usize) -> CollectionInfo {
        let services: Vec<AccessService> = (0..n)
            .map(|i| AccessService {
                name: format!("s{i}"),
                service_type: "OpenDAP".into(),
                base: "b".into(),
                suffix: String::new(),
            })
            .collect();
        CollectionInfo::new(&services, 1)
    }

    #[test]
    fn compound_and_baseless_services_give_no_access_url() {
        let svc = |t: &str, base: &str| AccessService {
            name: t.to_lowercase(),
            service_type: t.into(),
            base: base.into(),
            suffix: String::new(),
        };
        let all = [
            svc("Compound", "https://h/"),
            svc("OpenDAP", "https://h/dodsC/"),
            svc("WMS", ""),
            svc("HTTPServer", "https://h/fileServer/"),
        ];
        let info = CollectionInfo::new(&all, 7);
        let names: Vec<&str> = info.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["opendap", "httpserver"]);
        assert_eq!(info.source_id, 7);
    }

    #[test]
    fn bounded_and_expiring() {
        let c = CollectionCache::new(Duration::from_secs(60), 2);
        c.put("a", info(1));
        c.put("b", info(2));
        assert_eq!(c.get("b").unwrap().services.len(), 2);
        c.put("b", info(3));
        assert!(c.get("a").is_some(), "replacing an entry does not evict");
        c.put("c", info(0));
        assert!(c.get("a").is_none() && c.get("c").is_some());
        let off = CollectionCache::new(Duration::ZERO, 10);
        off.put("a", info(1));
        assert!(off.get("a").is_none());
    }
}
