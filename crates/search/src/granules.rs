//! Granule search: one page of a collection's granules overlapping a window, refreshed on
//! demand, with the collection's access services and the page's freshness.

use std::collections::HashSet;
use std::sync::Arc;

use threddex_store::{AccessService, Granule, GranuleQuery, Timestamp};

use crate::cache::CollectionInfo;
use crate::refresh::{Decision, RefreshOutcome, RefreshStatus};
use crate::{SearchCore, SearchError, cursor};

/// A validated granule search.
#[derive(Clone, Debug, PartialEq)]
pub struct GranuleRequest {
    /// The collection.
    pub collection_id: String,
    /// Window start (inclusive), if any.
    pub start: Option<Timestamp>,
    /// Window end (exclusive), if any.
    pub end: Option<Timestamp>,
    /// Page size.
    pub limit: u32,
    /// Keyset position (start, granule ID) from the cursor.
    pub after: Option<(Option<Timestamp>, String)>,
    /// Only granules listed by a catalog whose listing changed at or after this time (see
    /// [`SearchCore::granules`]).
    pub updated_since: Option<Timestamp>,
}

/// Most granules of the window one `updated_since` page reads: a page may hold fewer than its
/// limit and still have a next cursor (the scan continues there).
pub const MAX_CHANGED_SCAN: usize = 50_000;
/// Granules read per store call during an `updated_since` scan.
const CHANGED_SCAN_PAGE: u32 = 2_000;

impl GranuleRequest {
    /// The store query for one page (one row more than the page, to know whether another
    /// page follows).
    pub fn store_query(&self) -> GranuleQuery {
        GranuleQuery {
            collection_id: self.collection_id.clone(),
            start: self.start,
            end: self.end,
            after: self.after.clone(),
            limit: self.limit.saturating_add(1),
        }
    }

    /// Cut the store's answer to the page and compute the cursor of the next page.
    pub fn page(&self, mut rows: Vec<Granule>) -> (Vec<Granule>, Option<String>) {
        let limit = self.limit as usize;
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows
            .last()
            .map(|g| cursor::encode_granule(&self.collection_id, g.start, &g.granule_id));
        (rows, next)
    }
}

/// Where a granule page came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// The collection's description from the in-memory cache, its granules from the store.
    Cache,
    /// The collection's description and its granules from the store.
    Store,
    /// The collection's live catalogs were re-read for this answer; description and granules
    /// then from the store.
    Live,
}

/// How fresh a granule page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFreshness {
    /// Where the page came from.
    pub served: Served,
    /// What refresh on demand did for this page.
    pub refresh: RefreshStatus,
    /// The summary every encoder shows: refreshed, stale, and when the collection's live
    /// catalogs were last read.
    pub outcome: RefreshOutcome,
}

/// One page of a collection's granules.
#[derive(Clone, Debug, PartialEq)]
pub struct GranulePage {
    /// The collection.
    pub collection_id: String,
    /// The granules, ordered by (start, ID).
    pub granules: Vec<Granule>,
    /// The collection's services through which single granules are reachable (see
    /// [`crate::granule_services`]), in the collection's order: a granule's access URL through
    /// one of them is [`AccessService::url_for`] of its `url_path`.
    pub services: Arc<[AccessService]>,
    /// The cursor of the next page (None on the last one).
    pub next: Option<String>,
    /// How fresh the page is.
    pub freshness: PageFreshness,
}

impl SearchCore {
    /// One page of the granules `request` asks for. When refresh on demand is enabled and the
    /// window needs it, the collection's live catalogs are re-read first (waiting at most the
    /// deadline; a late or failed refresh makes the page stale, never an error).
    pub async fn granules(&self, request: &GranuleRequest) -> Result<GranulePage, SearchError> {
        let id = request.collection_id.as_str();
        let (info, mut served) = match self.collections.get(id) {
            Some(info) => (info, Served::Cache),
            None => {
                let c = self
                    .store
                    .collection(id)
                    .await?
                    .ok_or_else(|| SearchError::UnknownCollection(id.to_owned()))?;
                (
                    self.collections.put(id, CollectionInfo::from(c)),
                    Served::Store,
                )
            }
        };
        let (mut outcome, refresh) = self.refresh(id, info.source_id, request.end).await;
        // A refresh may have changed the collection's services.
        let info = if outcome.refreshed {
            served = Served::Live;
            match self.store.collection(id).await? {
                Some(c) => self.collections.put(id, CollectionInfo::from(c)),
                None => info,
            }
        } else {
            info
        };
        let (granules, next) = match request.updated_since {
            None => {
                let rows = if outcome.refreshed {
                    // What the refresh wrote is on the primary; a replica may not have it yet.
                    self.store
                        .list_granules_from_primary(&request.store_query())
                        .await?
                } else {
                    let rows = self.store.list_granules(&request.store_query()).await?;
                    // Read from a replica: the page holds what the replica had replayed, so it
                    // is indexed through no later than that.
                    if let Some(as_of) = self.store.replica_as_of().await? {
                        outcome.indexed_through = outcome.indexed_through.map(|t| t.min(as_of));
                    }
                    rows
                };
                request.page(rows)
            }
            Some(since) => self.changed_granules(request, since).await?,
        };
        Ok(GranulePage {
            collection_id: request.collection_id.clone(),
            granules,
            services: Arc::clone(&info.services),
            next,
            freshness: PageFreshness {
                served,
                refresh,
                outcome,
            },
        })
    }

    /// A page of the granules of `request`'s window listed by a catalog whose listing changed
    /// at or after `since` (a granule row is written with its catalog's listing: new and
    /// changed granules are among them, with the other granules of a catalog that changed).
    /// The window is read in order, at most [`MAX_CHANGED_SCAN`] granules per page.
    async fn changed_granules(
        &self,
        request: &GranuleRequest,
        since: Timestamp,
    ) -> Result<(Vec<Granule>, Option<String>), SearchError> {
        let id = request.collection_id.as_str();
        let changed = self.catalogs_changed_since(id, since).await?;
        if changed.is_empty() {
            return Ok((Vec::new(), None));
        }
        let limit = request.limit as usize;
        let mut out: Vec<Granule> = Vec::new();
        let mut after = request.after.clone();
        let mut scanned = 0usize;
        loop {
            let rows = self
                .store
                .list_granules(&GranuleQuery {
                    collection_id: request.collection_id.clone(),
                    start: request.start,
                    end: request.end,
                    after: after.clone(),
                    limit: CHANGED_SCAN_PAGE,
                })
                .await?;
            let n = rows.len();
            for g in rows {
                scanned += 1;
                after = Some((g.start, g.granule_id.clone()));
                if !changed.contains(&g.catalog_url) {
                    continue;
                }
                if out.len() == limit {
                    // Another one follows: the next page starts after the last one given.
                    let next = out
                        .last()
                        .map(|l| cursor::encode_granule(id, l.start, &l.granule_id));
                    return Ok((out, next));
                }
                out.push(g);
            }
            if n < CHANGED_SCAN_PAGE as usize {
                return Ok((out, None));
            }
            if scanned >= MAX_CHANGED_SCAN {
                let next = after.map(|(start, gid)| cursor::encode_granule(id, start, &gid));
                return Ok((out, next));
            }
        }
    }

    /// The URLs of collection `id`'s catalogs whose listing changed at or after `since`: the
    /// granules they list are those written or rewritten since (`updated_since`).
    pub(crate) async fn catalogs_changed_since(
        &self,
        id: &str,
        since: Timestamp,
    ) -> Result<HashSet<String>, SearchError> {
        Ok(self
            .store
            .catalogs_for_collection(id)
            .await?
            .into_iter()
            .filter(|c| c.last_changed.is_some_and(|t| t >= since))
            .map(|c| c.url)
            .collect())
    }

    /// Refresh on demand for a window ending at `end`.
    pub(crate) async fn refresh(
        &self,
        id: &str,
        source_id: i64,
        end: Option<Timestamp>,
    ) -> (RefreshOutcome, RefreshStatus) {
        let Some(c) = &self.coordinator else {
            return (RefreshOutcome::default(), RefreshStatus::Off);
        };
        // A window that ended before the source's last successful sync needs no refresh:
        // decide that from the (cached) sync times, without the freshness lookup.
        if let Some(end) = end
            && let Some(sync) = self
                .sync_times
                .last_success(self.store.as_ref(), source_id)
                .await
            && end <= sync
        {
            return (
                c.without_refresh(id),
                RefreshStatus::NotNeeded(Decision::EndsBeforeLastSync),
            );
        }
        c.check(id, end).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::{Freshness, RefreshError, RefreshReport, Refresher};
    use crate::{SearchConfig, SearchError};
    use async_trait::async_trait;
    use chrono::{TimeZone, Utc};
    use threddex_store::{Batch, CollectionUpsert, CrawlState, NewSource, SourceRegistry, Store};
    use threddex_store_sqlite::SqliteStore;

    const ID: &str = "t:sst";

    fn day(d: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).unwrap()
    }

    fn svc(ty: &str, base: &str) -> AccessService {
        AccessService {
            name: ty.to_lowercase(),
            service_type: ty.into(),
            base: base.into(),
            suffix: String::new(),
        }
    }

    async fn store() -> Arc<dyn Store> {
        let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let source = s
            .add_source(&NewSource {
                name: "s".into(),
                url: "http://h/thredds/catalog.xml".into(),
                ..NewSource::default()
            })
            .await
            .unwrap();
        let granules = (1..=3)
            .map(|d| Granule {
                collection_id: ID.into(),
                granule_id: format!("g{d}.nc"),
                name: format!("g{d}.nc"),
                start: Some(day(d)),
                end: None,
                url_path: Some(format!("sst/g{d}.nc")),
                size: Some(1),
                modified: None,
                catalog_url: "http://h/thredds/catalog/sst/catalog.xml".into(),
            })
            .collect();
        s.write_batch(&Batch {
            collections: vec![CollectionUpsert {
                id: ID.into(),
                source_id: source.id,
                title: "SST".into(),
                template: None,
                catalog_url: "http://h/thredds/catalog/sst/catalog.xml".into(),
                services: vec![
                    svc("Compound", ""),
                    svc("OpenDAP", "http://h/dodsC/"),
                    svc("WMS", ""),
                ],
                metadata: serde_json::json!({}),
                summary: None,
                keywords: vec![],
                bbox: None,
            }],
            granules,
            ..Batch::default()
        })
        .await
        .unwrap();
        Arc::new(s)
    }

    fn request(limit: u32, end: Option<Timestamp>) -> GranuleRequest {
        GranuleRequest {
            collection_id: ID.into(),
            start: None,
            end,
            limit,
            after: None,
            updated_since: None,
        }
    }

    #[tokio::test]
    async fn pages_services_and_where_they_came_from() {
        let core = SearchCore::new(store().await, None, SearchConfig::default());
        let first = core.granules(&request(2, None)).await.unwrap();
        assert_eq!(first.freshness.served, Served::Store);
        assert_eq!(first.freshness.refresh, RefreshStatus::Off);
        assert_eq!(first.freshness.outcome, RefreshOutcome::default());
        let names: Vec<&str> = first.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["opendap"]);
        let ids: Vec<&str> = first
            .granules
            .iter()
            .map(|g| g.granule_id.as_str())
            .collect();
        assert_eq!(ids, ["g1.nc", "g2.nc"]);
        let after = cursor::decode_granule(first.next.as_deref().unwrap(), ID).unwrap();
        let second = core
            .granules(&GranuleRequest {
                after: Some(after),
                ..request(2, None)
            })
            .await
            .unwrap();
        assert_eq!(second.freshness.served, Served::Cache);
        assert_eq!(second.granules.len(), 1);
        assert_eq!(second.granules[0].granule_id, "g3.nc");
        assert!(second.next.is_none());
        match core
            .granules(&GranuleRequest {
                collection_id: "t:none".into(),
                ..request(2, None)
            })
            .await
        {
            Err(SearchError::UnknownCollection(id)) => assert_eq!(id, "t:none"),
            other => panic!("{other:?}"),
        }
    }

    /// A refresher behind the index (read through Jan 10) whose refreshes succeed or fail.
    struct Behind {
        fail: bool,
    }

    #[async_trait]
    impl Refresher for Behind {
        async fn freshness(&self, _id: &str) -> Result<Freshness, RefreshError> {
            Ok(Freshness {
                has_live_nodes: true,
                indexed_through: Some(day(10)),
                last_sync: None,
            })
        }

        async fn refresh(&self, _id: &str) -> Result<RefreshReport, RefreshError> {
            if self.fail {
                return Err(RefreshError::Fetch("down".into()));
            }
            Ok(RefreshReport {
                indexed_through: Some(day(20)),
                ..RefreshReport::default()
            })
        }
    }

    #[tokio::test]
    async fn freshness_says_what_refresh_on_demand_did() {
        let store = store().await;
        let ok = SearchCore::new(
            Arc::clone(&store),
            Some(Arc::new(Behind { fail: false })),
            SearchConfig::default(),
        );
        let page = ok.granules(&request(10, Some(day(15)))).await.unwrap();
        assert_eq!(page.freshness.served, Served::Live);
        assert_eq!(page.freshness.refresh, RefreshStatus::Refreshed);
        assert_eq!(
            page.freshness.outcome,
            RefreshOutcome {
                refreshed: true,
                stale: false,
                indexed_through: Some(day(20)),
            }
        );
        assert_eq!(page.granules.len(), 3);
        let covered = ok.granules(&request(10, Some(day(5)))).await.unwrap();
        assert_eq!(
            covered.freshness.refresh,
            RefreshStatus::NotNeeded(Decision::Covered)
        );
        assert_eq!(covered.freshness.served, Served::Cache);
        let throttled = ok.granules(&request(10, Some(day(15)))).await.unwrap();
        assert_eq!(
            throttled.freshness.refresh,
            RefreshStatus::Throttled { last_failed: false }
        );
        assert!(!throttled.freshness.outcome.stale);

        let failing = SearchCore::new(
            store,
            Some(Arc::new(Behind { fail: true })),
            SearchConfig::default(),
        );
        let page = failing.granules(&request(10, None)).await.unwrap();
        assert_eq!(page.freshness.refresh, RefreshStatus::Failed);
        assert_eq!(page.freshness.served, Served::Store);
        assert!(page.freshness.outcome.stale && !page.freshness.outcome.refreshed);
        assert_eq!(page.freshness.outcome.indexed_through, Some(day(10)));
        assert_eq!(page.granules.len(), 3, "a failed refresh still answers");
    }
}
