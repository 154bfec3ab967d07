//! Item search (what STAC's `/search` and `/collections/{id}/items` answer): granules of any
//! number of collections passing a filter on items ([`RecordFilter::matches_item`]), in
//! collection order, in time order or in ID order, ascending or descending, paged by keyset
//! cursors.
//!
//! SQL selects the collections that may hold matches ([`RecordFilter::item_pushdown`]: the
//! collection tests, the footprint box) and bounds each collection's listing by the filter's
//! time window; each granule listed is then tested against the whole filter. One request scans
//! at most [`MAX_SCAN`] granules: when a selective filter reaches that bound, the page ends
//! early (possibly empty) with a cursor where the scan stopped, so the next page goes on from
//! there. Named collections (at most [`MAX_REFRESHED`]) are refreshed on demand like `/index`.
//!
//! Collection and time order read each collection's granules in index order (forwards or
//! backwards, [`threddex_store::GranuleIndex::list_granules_desc`]) and merge them; ID order
//! has no index behind it, so it reads every match (at most [`MAX_SCAN`] granules) and sorts
//! them, and answers a broader search with an error. Every cursor is a keyset position: pages
//! stay correct while granules arrive (a new granule past the cursor is listed once, one
//! before it never).

use std::cmp::Ordering;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use threddex_store::{
    Collection, CompareOp, Granule, GranuleQuery, ItemTest, RecordFilter, SortKey, TextProperty,
    Timestamp,
};

use crate::cache::CollectionInfo;
use crate::cursor::ItemPosition;
use crate::refresh::RefreshOutcome;
use crate::{SearchCore, SearchError};

/// Most granules one item search reads from the store.
pub const MAX_SCAN: usize = 50_000;

/// Most collections an item search in time order merges.
pub const MAX_MERGED: usize = 100;

/// Most named collections refreshed on demand by one search.
pub const MAX_REFRESHED: usize = 10;

/// Granules read per store query.
const CHUNK: u32 = 1_000;

/// Collections read per store query.
const COLLECTION_BATCH: u32 = 200;

/// The order of an item search (every key ascending, or every key descending: see
/// [`ItemRequest::descending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemOrder {
    /// By collection ID, then start, then granule ID.
    Collection,
    /// By start (granules without one first), then collection ID, then granule ID.
    Datetime,
    /// By granule ID, then collection ID (at most [`MAX_SCAN`] matches are sorted).
    Id,
}

impl ItemOrder {
    /// The tag of this order in a cursor: lower case ascending, upper case descending.
    fn tag(self, descending: bool) -> char {
        let t = match self {
            Self::Collection => 'c',
            Self::Datetime => 'd',
            Self::Id => 'i',
        };
        if descending {
            t.to_ascii_uppercase()
        } else {
            t
        }
    }
}

/// A validated item search.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRequest {
    /// Only these collections (None: every collection).
    pub collections: Option<Vec<String>>,
    /// The filter on items (tested on every granule listed).
    pub filter: RecordFilter,
    /// Tests on collections only (compiled into SQL, never tested on granules): e.g. a
    /// free-text search whose matches are the items of the collections it finds.
    pub collection_filter: RecordFilter,
    /// Page size.
    pub limit: u32,
    /// Keyset position from the cursor (of the same order).
    pub after: Option<ItemPosition>,
    /// The order.
    pub order: ItemOrder,
    /// Whether every key of the order is descending (granules without a start then come
    /// last in time order).
    pub descending: bool,
    /// Only granules whose row was written or rewritten at or after this time: those listed
    /// by a catalog whose listing changed since (as `/index?updated_since=`).
    pub updated_since: Option<Timestamp>,
}

/// One page of an item search.
#[derive(Clone, Debug)]
pub struct ItemPage {
    /// The items, each with its collection, in the search's order.
    pub items: Vec<(Arc<Collection>, Granule)>,
    /// The cursor of the next page (None on the last one).
    pub next: Option<String>,
    /// How many items match in all, when that is exact and cheap: a search of one collection
    /// whose only test on items is a closed time window (counted in the index), or none, and
    /// no `updated_since`.
    pub matched: Option<u64>,
    /// What refresh on demand did for the named collections (None: none was asked).
    pub freshness: Option<RefreshOutcome>,
}

type Key = (Option<Timestamp>, String, String);

fn key(c: &Collection, g: &Granule) -> Key {
    (g.start, c.info.id.clone(), g.granule_id.clone())
}

/// `o` in the search's direction.
fn directed(descending: bool, o: Ordering) -> Ordering {
    if descending { o.reverse() } else { o }
}

/// Where a scan stands within a start group: before its first granule in listing order, at a
/// granule, or past its last one (`Low` < `At` < `High` in ascending order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bound {
    Low,
    At(String),
    High,
}

/// A scan's fence in time order: nothing it has not listed yet comes before it.
type Fence = (Option<Timestamp>, String, Bound);

/// The fence of a key.
fn fence_of(k: &Key) -> Fence {
    (k.0, k.1.clone(), Bound::At(k.2.clone()))
}

fn id_is(op: CompareOp, value: &str) -> RecordFilter {
    RecordFilter::CompareText {
        prop: TextProperty::Identifier,
        op,
        value: value.to_owned(),
        match_case: true,
    }
}

/// The one collection ID a conjunction of collection filters names, when it says nothing else
/// (every other part matches every collection).
fn only_id(base: &[RecordFilter]) -> Option<&str> {
    fn named(f: &RecordFilter) -> Option<&str> {
        match f {
            RecordFilter::CompareText {
                prop: TextProperty::Identifier,
                op: CompareOp::Eq,
                value,
                match_case: true,
            } => Some(value),
            RecordFilter::Or(v) | RecordFilter::And(v) if v.len() == 1 => v.first().and_then(named),
            _ => None,
        }
    }
    let mut id = None;
    for f in base {
        match f {
            RecordFilter::All => {}
            RecordFilter::And(v) if v.is_empty() => {}
            f => match (id, named(f)) {
                (None, Some(n)) => id = Some(n),
                _ => return None,
            },
        }
    }
    id
}

fn and(mut v: Vec<RecordFilter>) -> RecordFilter {
    match v.len() {
        0 => RecordFilter::All,
        1 => v.pop().unwrap_or(RecordFilter::All),
        _ => RecordFilter::And(v),
    }
}

/// Whether a filter's only test on items is one closed time window at its top (`Some(Some)`)
/// or it has none (`Some(None)`); None for anything else.
fn only_window(f: &RecordFilter) -> Option<Option<(Timestamp, Timestamp)>> {
    let conjuncts: Vec<&RecordFilter> = match f {
        RecordFilter::And(v) => v.iter().collect(),
        f => vec![f],
    };
    let mut window = None;
    for c in conjuncts {
        match c {
            RecordFilter::Item(ItemTest::Intersects {
                start: Some(s),
                end: Some(e),
            }) if window.is_none() => window = Some((*s, *e)),
            c if !c.has_item_tests() => {}
            _ => return None,
        }
    }
    Some(window)
}

/// Where the scan of one collection stands.
struct Scan {
    collection: Arc<Collection>,
    /// The store cursor: the last granule listed, or (start, empty ID) for the edge of a start
    /// group (see [`threddex_store::GranuleIndex::list_granules_desc`]).
    after: Option<(Option<Timestamp>, String)>,
    /// Whether refresh on demand was asked for this collection.
    refreshed: bool,
    /// Granules at or before this key are skipped (a cursor of another collection).
    skip_through: Option<Key>,
    done: bool,
    /// Matches read but not yet placed on the page.
    ready: VecDeque<Granule>,
    /// With `updated_since`: the collection's catalogs whose listing changed since (read
    /// before the first listing).
    changed: Option<HashSet<String>>,
}

struct Run<'a> {
    core: &'a SearchCore,
    req: &'a ItemRequest,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    refresh: bool,
    budget: usize,
    /// Most granules one read of one collection takes.
    chunk: usize,
    freshness: Option<RefreshOutcome>,
    /// Granules read from the store so far (matching or not).
    listed: usize,
}

impl Run<'_> {
    /// Read the next chunk of a collection into its matches (refreshing a named collection on
    /// demand before its first read, like `/index`).
    async fn fill(&mut self, s: &mut Scan) -> Result<(), SearchError> {
        if s.done || self.budget == 0 {
            return Ok(());
        }
        let n = CHUNK
            .min(u32::try_from(self.budget.min(self.chunk)).unwrap_or(CHUNK))
            .max(1);
        let id = s.collection.info.id.clone();
        if self.refresh && !s.refreshed {
            s.refreshed = true;
            let (o, _) = self
                .core
                .refresh(&id, s.collection.info.source_id, self.end)
                .await;
            if o.refreshed {
                // Its services or extent may have changed.
                self.core.collections.forget(&id);
            }
            let f = self.freshness.get_or_insert(o);
            f.refreshed |= o.refreshed;
            f.stale |= o.stale;
            f.indexed_through = match (f.indexed_through, o.indexed_through) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if let (Some(since), None) = (self.req.updated_since, &s.changed) {
            let changed = self.core.catalogs_changed_since(&id, since).await?;
            if changed.is_empty() {
                s.done = true;
                return Ok(());
            }
            s.changed = Some(changed);
        }
        let query = GranuleQuery {
            collection_id: id,
            start: self.start,
            end: self.end,
            after: s.after.clone(),
            limit: n,
        };
        let rows = if self.req.descending {
            self.core.store.list_granules_desc(&query).await?
        } else {
            self.core.store.list_granules(&query).await?
        };
        self.budget = self.budget.saturating_sub(rows.len());
        self.listed += rows.len();
        if rows.len() < n as usize {
            s.done = true;
        }
        let fp = s.collection.footprint();
        let filter = self.req.filter.with_footprint(fp.as_ref());
        for g in rows {
            s.after = Some((g.start, g.granule_id.clone()));
            if s.skip_through.as_ref().is_some_and(|k| {
                directed(self.req.descending, key(&s.collection, &g).cmp(k)) != Ordering::Greater
            }) {
                continue;
            }
            if s.changed
                .as_ref()
                .is_some_and(|c| !c.contains(&g.catalog_url))
            {
                continue;
            }
            if filter.matches_item(&g, fp.as_ref()) {
                s.ready.push_back(g);
            }
        }
        Ok(())
    }
}

impl SearchCore {
    /// Collections that may hold matches, by ID, after `after_id`, at most `limit`. A search
    /// of one named collection and nothing else about collections is answered from the
    /// collection cache when it can be (like `/index`).
    async fn item_collections(
        &self,
        base: &[RecordFilter],
        after_id: Option<&str>,
        limit: u32,
        descending: bool,
    ) -> Result<Vec<Arc<Collection>>, SearchError> {
        let single = match after_id {
            None if limit > 0 => only_id(base),
            _ => None,
        };
        if let Some(id) = single
            && let Some(c) = self.collections.get(id).and_then(|i| i.collection.clone())
        {
            return Ok(vec![c]);
        }
        let mut f = base.to_vec();
        if let Some(a) = after_id {
            f.push(id_is(
                if descending {
                    CompareOp::Lt
                } else {
                    CompareOp::Gt
                },
                a,
            ));
        }
        let sort = [SortKey {
            prop: threddex_store::SortProperty::Identifier,
            descending,
        }];
        let mut found = self.store.find_collections(&and(f), &sort, limit).await?;
        if let Some(id) = single
            && let [c] = found.as_slice()
            && c.info.id == id
            && let Some(c) = found.pop()
        {
            let info = self.collections.put(id, CollectionInfo::from(c));
            return Ok(info.collection.iter().cloned().collect());
        }
        Ok(found.into_iter().map(Arc::new).collect())
    }

    /// One page of the items `req` asks for.
    pub async fn items(&self, req: &ItemRequest) -> Result<ItemPage, SearchError> {
        if req.order == ItemOrder::Id {
            return self.items_by_id(req, MAX_SCAN).await;
        }
        self.items_scanning(req, MAX_SCAN).await
    }

    /// [`SearchCore::items`] in ID order: every match (read within `budget`), sorted, the
    /// page after the cursor cut from them.
    pub(crate) async fn items_by_id(
        &self,
        req: &ItemRequest,
        budget: usize,
    ) -> Result<ItemPage, SearchError> {
        let tag = req.order.tag(req.descending);
        let after = req.after.as_ref().filter(|a| a.order == tag);
        let every = ItemRequest {
            order: ItemOrder::Collection,
            descending: false,
            after: None,
            limit: u32::try_from(budget).unwrap_or(u32::MAX),
            ..req.clone()
        };
        let all = self.items_scanning(&every, budget).await?;
        if all.next.is_some() {
            return Err(SearchError::Invalid(format!(
                "sorting by id sorts at most {budget} granules: this search reads more; \
                 narrow it (collections, datetime, bbox, filter) or sort by datetime"
            )));
        }
        let by_id = |a: &(Arc<Collection>, Granule), b: &(Arc<Collection>, Granule)| {
            directed(
                req.descending,
                (&a.1.granule_id, &a.0.info.id).cmp(&(&b.1.granule_id, &b.0.info.id)),
            )
        };
        let mut items: Vec<(Arc<Collection>, Granule)> = all
            .items
            .into_iter()
            .filter(|(c, g)| {
                after.is_none_or(|a| {
                    directed(
                        req.descending,
                        (g.granule_id.as_str(), c.info.id.as_str())
                            .cmp(&(a.id.as_str(), a.collection.as_str())),
                    ) == Ordering::Greater
                })
            })
            .collect();
        items.sort_by(by_id);
        let limit = req.limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|(c, g)| ItemPosition {
                order: tag,
                start: None,
                collection: c.info.id.clone(),
                id: g.granule_id.clone(),
            })
        } else {
            None
        };
        Ok(ItemPage {
            items,
            next: next.as_ref().map(crate::cursor::encode_item),
            matched: all.matched,
            freshness: all.freshness,
        })
    }

    /// [`SearchCore::items`] reading at most `budget` granules.
    pub(crate) async fn items_scanning(
        &self,
        req: &ItemRequest,
        budget: usize,
    ) -> Result<ItemPage, SearchError> {
        let pd = req.filter.item_pushdown();
        let mut base = vec![pd.collections, req.collection_filter.clone()];
        if let Some(list) = &req.collections {
            base.push(RecordFilter::Or(
                list.iter().map(|c| id_is(CompareOp::Eq, c)).collect(),
            ));
        }
        let desc = req.descending;
        let tag = req.order.tag(desc);
        let after = req.after.as_ref().filter(|a| a.order == tag);
        let mut run = Run {
            core: self,
            req,
            start: pd.start,
            end: pd.end,
            refresh: req
                .collections
                .as_ref()
                .is_some_and(|l| l.len() <= MAX_REFRESHED),
            budget,
            chunk: CHUNK as usize,
            freshness: None,
            listed: 0,
        };
        let limit = req.limit as usize;
        let mut items: Vec<(Arc<Collection>, Granule)> = Vec::new();
        let mut next: Option<ItemPosition> = None;
        let mut seen_collections = 0usize;
        let mut only: Option<Arc<Collection>> = None;
        let of = |c: &Arc<Collection>, g: &Granule| ItemPosition {
            order: tag,
            start: g.start,
            collection: c.info.id.clone(),
            id: g.granule_id.clone(),
        };
        let scan = |c: Arc<Collection>, after, skip_through| Scan {
            collection: c,
            after,
            refreshed: false,
            skip_through,
            done: false,
            ready: VecDeque::new(),
            changed: None,
        };

        match req.order {
            ItemOrder::Collection | ItemOrder::Id => {
                if let Some(a) = after {
                    base.push(id_is(
                        if desc { CompareOp::Le } else { CompareOp::Ge },
                        &a.collection,
                    ));
                }
                let mut last: Option<String> = None;
                'collections: loop {
                    let batch = self
                        .item_collections(&base, last.as_deref(), COLLECTION_BATCH, desc)
                        .await?;
                    if batch.is_empty() {
                        break;
                    }
                    // A short batch is the last one: no need to ask for the next.
                    let last_batch = batch.len() < COLLECTION_BATCH as usize;
                    for c in batch {
                        last = Some(c.info.id.clone());
                        seen_collections += 1;
                        only = Some(Arc::clone(&c));
                        // A position with no start and no ID is the collection's beginning.
                        let from = after
                            .filter(|a| a.collection == c.info.id)
                            .filter(|a| a.start.is_some() || !a.id.is_empty())
                            .map(|a| (a.start, a.id.clone()));
                        let mut s = scan(c, from, None);
                        loop {
                            if s.ready.is_empty() {
                                if s.done {
                                    break;
                                }
                                if run.budget == 0 {
                                    next = Some(ItemPosition {
                                        order: tag,
                                        start: s.after.as_ref().and_then(|a| a.0),
                                        collection: s.collection.info.id.clone(),
                                        id: s
                                            .after
                                            .as_ref()
                                            .map(|a| a.1.clone())
                                            .unwrap_or_default(),
                                    });
                                    break 'collections;
                                }
                                run.fill(&mut s).await?;
                                continue;
                            }
                            let Some(g) = s.ready.pop_front() else {
                                continue;
                            };
                            if items.len() == limit {
                                next = items.last().map(|(c, g)| of(c, g));
                                break 'collections;
                            }
                            items.push((Arc::clone(&s.collection), g));
                        }
                    }
                    if last_batch {
                        break;
                    }
                }
            }
            ItemOrder::Datetime => {
                let found = self
                    .item_collections(
                        &base,
                        None,
                        u32::try_from(MAX_MERGED + 1).unwrap_or(101),
                        false,
                    )
                    .await?;
                if found.len() > MAX_MERGED {
                    return Err(SearchError::Invalid(format!(
                        "sorting by datetime merges at most {MAX_MERGED} collections: name them \
                         with collections, or narrow the search"
                    )));
                }
                seen_collections = found.len();
                let skip: Option<Key> =
                    after.map(|a| (a.start, a.collection.clone(), a.id.clone()));
                let mut scans: Vec<Scan> = found
                    .into_iter()
                    .map(|c| {
                        let same = after.is_some_and(|a| a.collection == c.info.id);
                        only = Some(Arc::clone(&c));
                        // Another collection's scan starts at the edge of the cursor's start
                        // group and skips what is not past the cursor.
                        scan(
                            c,
                            after.map(|a| {
                                (a.start, if same { a.id.clone() } else { String::new() })
                            }),
                            if same { None } else { skip.clone() },
                        )
                    })
                    .collect();
                // Each scan at the smallest position must be read once for the smallest
                // position to move: a request reads at least that many chunks.
                run.budget = run.budget.max(scans.len());
                run.chunk = (run.budget / scans.len().max(1)).max(1);
                let before = |a: &Option<Fence>, b: &Option<Fence>| match (a, b) {
                    (None, _) => b.is_some(),
                    (Some(_), None) => false,
                    (Some(a), Some(b)) => directed(desc, a.cmp(b)) == Ordering::Less,
                };
                let edge = if desc { Bound::High } else { Bound::Low };
                loop {
                    // The first match, or the first fence of a scan with nothing read ahead
                    // (every granule of that scan before its fence has been read; None: the
                    // scan has read nothing).
                    let mut best: Option<(Option<Fence>, usize, bool)> = None;
                    for (i, s) in scans.iter().enumerate() {
                        let (k, is_match) = match s.ready.front() {
                            Some(g) => (Some(fence_of(&key(&s.collection, g))), true),
                            None if !s.done => {
                                let at = s.after.as_ref().map(|(start, id)| {
                                    let b = if id.is_empty() {
                                        edge.clone()
                                    } else {
                                        Bound::At(id.clone())
                                    };
                                    (*start, s.collection.info.id.clone(), b)
                                });
                                // Not before the cursor, whatever was read.
                                let k = match (at, s.skip_through.as_ref().map(fence_of)) {
                                    (Some(a), Some(t)) => {
                                        Some(if before(&Some(a.clone()), &Some(t.clone())) {
                                            t
                                        } else {
                                            a
                                        })
                                    }
                                    (a, t) => a.or(t),
                                };
                                (k, false)
                            }
                            None => continue,
                        };
                        if best.as_ref().is_none_or(|(b, _, _)| before(&k, b)) {
                            best = Some((k, i, is_match));
                        }
                    }
                    let Some((k, i, is_match)) = best else { break };
                    let Some(s) = scans.get_mut(i) else { break };
                    if !is_match {
                        // A page must move past its cursor: past the budget, read on (one
                        // granule at a time) while the first fence is not past the cursor.
                        let not_past = match (&k, skip.as_ref().map(fence_of)) {
                            (None, _) => true,
                            (Some(k), Some(c)) => directed(desc, k.cmp(&c)) != Ordering::Greater,
                            (Some(_), None) => false,
                        };
                        if run.budget == 0 && not_past {
                            run.budget = 1;
                            run.chunk = 1;
                        }
                        if run.budget == 0 {
                            next = k.map(|(start, collection, b)| ItemPosition {
                                order: tag,
                                start,
                                collection,
                                id: match b {
                                    Bound::At(id) => id,
                                    Bound::Low | Bound::High => String::new(),
                                },
                            });
                            break;
                        }
                        run.fill(s).await?;
                        continue;
                    }
                    if items.len() == limit {
                        next = items.last().map(|(c, g)| of(c, g));
                        break;
                    }
                    if let Some(g) = s.ready.pop_front() {
                        items.push((Arc::clone(&s.collection), g));
                    }
                }
            }
        }
        // Exact and cheap for one named collection whose only test on items is a closed time
        // window: its granules in the window, counted in the index (all of them without a
        // window; none when the collection's tests fail). A first page that read the whole
        // window (no cursor in, none out) has listed exactly what the count would count.
        let read_all = after.is_none() && next.is_none();
        let matched = match (
            &req.collections,
            &only,
            seen_collections,
            only_window(&req.filter),
        ) {
            (Some(list), _, _, _) if list.len() != 1 => None,
            _ if req.updated_since.is_some() => None,
            (Some(_), Some(c), 1, Some(None)) => u64::try_from(c.granule_count).ok(),
            (Some(_), Some(_), 1, Some(Some(_))) if read_all => u64::try_from(run.listed).ok(),
            (Some(_), Some(c), 1, Some(Some((start, end)))) => {
                self.store
                    .count_granules(&GranuleQuery {
                        collection_id: c.info.id.clone(),
                        start: Some(start),
                        end: Some(end + chrono::TimeDelta::microseconds(1)),
                        after: None,
                        limit: 0,
                    })
                    .await?
            }
            (Some(_), None, 0, Some(_)) if after.is_none() => Some(0),
            _ => None,
        };
        Ok(ItemPage {
            items,
            next: next.as_ref().map(crate::cursor::encode_item),
            matched,
            freshness: run.freshness,
        })
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;
