//! The change log: every change the index takes, recorded in the transaction that makes it.
//!
//! A backend's write path fills a [`ChangeSet`] while it writes (granules it inserted or
//! deleted, collections it created, filled in or removed) and appends the set's entries
//! ([`ChangeSet::into_entries`]) at the end of the same transaction, numbering them with
//! positions that follow commit order (see `docs/storage.md`, "Change log"). Readers page
//! through the log with [`ChangeLog::changes`].

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Result, Timestamp};

/// Granule IDs an entry lists at most: an entry for more granules lists none (the reader
/// follows `/index` over the entry's time span instead).
pub const MAX_CHANGE_IDS: usize = 20;

/// Default retention of the change log, in days.
pub const DEFAULT_CHANGE_RETENTION_DAYS: u32 = 30;

/// Most entries one [`ChangeLog::changes`] call returns.
pub const MAX_CHANGE_PAGE: u32 = 1000;

/// What kind of change an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChangeKind {
    /// A collection appeared in the index.
    #[serde(rename = "collection.created")]
    CollectionCreated,
    /// An existing collection's description changed (fields that were missing filled in).
    #[serde(rename = "collection.updated")]
    CollectionUpdated,
    /// A collection left the index (with its granules; `count` says how many it had).
    #[serde(rename = "collection.removed")]
    CollectionRemoved,
    /// Granules that did not exist were added.
    #[serde(rename = "granules.added")]
    GranulesAdded,
    /// Granules were removed (vanished from their catalog, or expired).
    #[serde(rename = "granules.removed")]
    GranulesRemoved,
}

impl ChangeKind {
    /// Every kind, in the order entries of one transaction are appended.
    pub const ALL: [ChangeKind; 5] = [
        Self::CollectionCreated,
        Self::CollectionUpdated,
        Self::GranulesAdded,
        Self::GranulesRemoved,
        Self::CollectionRemoved,
    ];

    /// The name stored in the database and used in events (`granules.added`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CollectionCreated => "collection.created",
            Self::CollectionUpdated => "collection.updated",
            Self::CollectionRemoved => "collection.removed",
            Self::GranulesAdded => "granules.added",
            Self::GranulesRemoved => "granules.removed",
        }
    }

    /// Parse [`ChangeKind::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Order of appending within one transaction: creations first, removals of whole
    /// collections last (a reader applying entries in order never sees granules of a
    /// collection it was told is gone).
    fn rank(self) -> u8 {
        match self {
            Self::CollectionCreated => 0,
            Self::CollectionUpdated => 1,
            Self::GranulesAdded => 2,
            Self::GranulesRemoved => 3,
            Self::CollectionRemoved => 4,
        }
    }
}

/// An entry to append: what changed, without its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewChange {
    /// The collection concerned.
    pub collection_id: String,
    /// What happened.
    pub kind: ChangeKind,
    /// How many granules (for a collection entry: how many it holds, 0 when unknown).
    pub count: u64,
    /// Earliest start among the granules concerned.
    pub start: Option<Timestamp>,
    /// Latest end (or start, when a granule has no end) among them.
    pub end: Option<Timestamp>,
    /// Their IDs, sorted, when there are at most [`MAX_CHANGE_IDS`] and all are known.
    pub granule_ids: Option<Vec<String>>,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the log: increasing in commit order, never reused.
    pub seq: i64,
    /// When the transaction that made the change appended it.
    pub at: Timestamp,
    /// The collection concerned.
    pub collection_id: String,
    /// What happened.
    pub kind: ChangeKind,
    /// See [`NewChange::count`].
    pub count: u64,
    /// See [`NewChange::start`].
    pub start: Option<Timestamp>,
    /// See [`NewChange::end`].
    pub end: Option<Timestamp>,
    /// See [`NewChange::granule_ids`].
    pub granule_ids: Option<Vec<String>>,
}

/// A page of the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangePage {
    /// Entries after the cursor, in log order (matching the collection filter).
    pub changes: Vec<Change>,
    /// The cursor to continue from: the position of the last entry read (of the last entry
    /// in the log when the page is empty and nothing matched up to it).
    pub next: i64,
    /// Position of the newest entry in the log (0: none yet).
    pub head: i64,
    /// Entries up to this position were removed by retention: a cursor below it cannot be
    /// continued from (the page is then empty and [`ChangePage::expired`] true).
    pub pruned_through: i64,
    /// The cursor is older than what the log keeps.
    pub expired: bool,
}

/// What to read of the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeQuery {
    /// Entries after this position (0: from the start).
    pub after: i64,
    /// Only entries of these collections (empty: all).
    pub collections: Vec<String>,
    /// Most entries (0 or above [`MAX_CHANGE_PAGE`]: [`MAX_CHANGE_PAGE`]).
    pub limit: u32,
}

impl ChangeQuery {
    /// The page size a backend reads: `limit` bounded to `1..=MAX_CHANGE_PAGE`.
    pub fn page_size(&self) -> u32 {
        if self.limit == 0 {
            MAX_CHANGE_PAGE
        } else {
            self.limit.min(MAX_CHANGE_PAGE)
        }
    }
}

/// The durable log of index changes.
#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Entries after `query.after`, in position order. Positions follow commit order: a
    /// reader that has seen everything up to `N` sees every entry committed later above `N`
    /// (also of a transaction that began before others that committed first). A cursor
    /// below what retention removed answers an empty page with `expired`.
    async fn changes(&self, query: &ChangeQuery) -> Result<ChangePage>;

    /// The newest position and what retention removed (`(head, pruned_through)`).
    async fn change_head(&self) -> Result<(i64, i64)>;

    /// Remove entries appended before `before`; returns how many.
    async fn prune_changes(&self, before: Timestamp) -> Result<u64>;

    /// The durable cursor of the relay `name` (e.g. the MQTT relay): the position up to which
    /// its deliveries were acknowledged. None: never saved.
    async fn relay_cursor(&self, name: &str) -> Result<Option<i64>>;

    /// Save the cursor of the relay `name`; a position below the saved one is ignored (a
    /// cursor never moves back).
    async fn save_relay_cursor(&self, name: &str, seq: i64) -> Result<()>;
}

/// Changes of one transaction, collected while a backend writes and appended before it
/// commits: one entry per (collection, kind).
#[derive(Debug, Default)]
pub struct ChangeSet {
    /// Position in `slots` by collection: a lookup per granule allocates nothing.
    index: HashMap<String, usize>,
    /// Per collection, its entries by kind ([`ChangeKind::rank`]).
    slots: Vec<(String, [Option<Pending>; 5])>,
}

#[derive(Debug)]
struct Pending {
    count: u64,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    /// The IDs while there are few; `None` once too many or one unknown.
    ids: Option<Vec<String>>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            count: 0,
            start: None,
            end: None,
            ids: Some(Vec::new()),
        }
    }
}

impl Pending {
    fn span(&mut self, start: Option<Timestamp>, end: Option<Timestamp>) {
        if let Some(s) = start {
            self.start = Some(self.start.map_or(s, |c| c.min(s)));
        }
        if let Some(e) = end.or(start) {
            self.end = Some(self.end.map_or(e, |c| c.max(e)));
        }
    }
}

impl ChangeSet {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The position of a collection in `slots` (added, without entries, when new).
    fn slot(&mut self, collection_id: &str) -> usize {
        match self.index.get(collection_id) {
            Some(&i) => i,
            None => {
                let i = self.slots.len();
                self.slots
                    .push((collection_id.to_owned(), Default::default()));
                self.index.insert(collection_id.to_owned(), i);
                i
            }
        }
    }

    fn entry(&mut self, collection_id: &str, kind: ChangeKind) -> &mut Pending {
        let i = self.slot(collection_id);
        self.slots[i].1[usize::from(kind.rank())].get_or_insert_with(Pending::default)
    }

    /// Granules of a collection rewritten in place (time, size, catalog, … of a granule that
    /// was already stored): no entry in the log, but the collection counts as changed
    /// ([`ChangeSet::collections`]).
    pub fn rewritten(&mut self, collection_id: &str) {
        self.slot(collection_id);
    }

    /// Every collection this set saw change — with a log entry or rewritten in place —
    /// sorted: the ones whose statistics a writer has to refresh
    /// ([`BatchOutcome::changed_collections`](crate::BatchOutcome::changed_collections)).
    pub fn collections(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.slots.iter().map(|(id, _)| id.clone()).collect();
        ids.sort_unstable();
        ids
    }

    fn get(&self, collection_id: &str, kind: ChangeKind) -> Option<&Pending> {
        let &i = self.index.get(collection_id)?;
        self.slots[i].1[usize::from(kind.rank())].as_ref()
    }

    /// One granule added or removed (`kind` is a granule kind).
    pub fn granule(
        &mut self,
        kind: ChangeKind,
        collection_id: &str,
        granule_id: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) {
        let p = self.entry(collection_id, kind);
        p.count += 1;
        p.span(start, end);
        if let Some(ids) = &mut p.ids {
            if ids.len() < MAX_CHANGE_IDS {
                ids.push(granule_id.to_owned());
            } else {
                p.ids = None;
            }
        }
    }

    /// Whether [`ChangeSet::granule`] of this collection and kind would still keep the ID
    /// (a caller that has to render IDs renders only those: any ID does otherwise).
    pub fn wants_id(&self, kind: ChangeKind, collection_id: &str) -> bool {
        self.get(collection_id, kind)
            .is_none_or(|p| p.ids.as_ref().is_some_and(|ids| ids.len() < MAX_CHANGE_IDS))
    }

    /// `count` granules whose IDs are not at hand, within `[start, end]`.
    pub fn granules(
        &mut self,
        kind: ChangeKind,
        collection_id: &str,
        count: u64,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) {
        if count == 0 {
            return;
        }
        let p = self.entry(collection_id, kind);
        p.count += count;
        p.span(start, end);
        p.ids = None;
    }

    /// A collection created or updated (a creation in the same set wins over an update).
    pub fn collection(&mut self, kind: ChangeKind, collection_id: &str) {
        if kind == ChangeKind::CollectionUpdated
            && self
                .get(collection_id, ChangeKind::CollectionCreated)
                .is_some()
        {
            return;
        }
        let p = self.entry(collection_id, kind);
        p.ids = None;
    }

    /// A collection removed with its `count` granules (its granule entries of this set go:
    /// the removal says it all).
    pub fn collection_removed(&mut self, collection_id: &str, count: u64) {
        if let Some(&i) = self.index.get(collection_id) {
            self.slots[i].1 = Default::default();
        }
        let p = self.entry(collection_id, ChangeKind::CollectionRemoved);
        p.count = count;
        p.ids = None;
    }

    /// The entries to append, in append order: by kind (creations, updates, additions,
    /// removals, collection removals), then by collection ID; IDs sorted.
    pub fn into_entries(self) -> Vec<NewChange> {
        let mut out: Vec<NewChange> = Vec::new();
        for (collection_id, slots) in self.slots {
            for (kind, p) in ChangeKind::ALL.into_iter().zip(slots) {
                let Some(p) = p else { continue };
                let granules = matches!(
                    kind,
                    ChangeKind::GranulesAdded | ChangeKind::GranulesRemoved
                );
                if granules && p.count == 0 {
                    continue;
                }
                out.push(NewChange {
                    collection_id: collection_id.clone(),
                    kind,
                    count: p.count,
                    start: p.start,
                    end: p.end,
                    granule_ids: p.ids.filter(|ids| !ids.is_empty()).map(|mut ids| {
                        ids.sort_unstable();
                        ids
                    }),
                });
            }
        }
        out.sort_by(|a, b| {
            (a.kind.rank(), &a.collection_id).cmp(&(b.kind.rank(), &b.collection_id))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn t(s: i64) -> Timestamp {
        DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time")
    }

    #[test]
    fn entries_are_thin_and_ordered() {
        let mut set = ChangeSet::default();
        set.granule(ChangeKind::GranulesAdded, "b", "b/2", Some(t(20)), None);
        set.granule(
            ChangeKind::GranulesAdded,
            "b",
            "b/1",
            Some(t(10)),
            Some(t(15)),
        );
        set.collection(ChangeKind::CollectionCreated, "b");
        set.collection(ChangeKind::CollectionUpdated, "b");
        set.granules(ChangeKind::GranulesRemoved, "a", 3, Some(t(0)), Some(t(5)));
        let e = set.into_entries();
        let kinds: Vec<(ChangeKind, &str)> = e
            .iter()
            .map(|c| (c.kind, c.collection_id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (ChangeKind::CollectionCreated, "b"),
                (ChangeKind::GranulesAdded, "b"),
                (ChangeKind::GranulesRemoved, "a"),
            ]
        );
        assert_eq!(e[1].count, 2);
        assert_eq!((e[1].start, e[1].end), (Some(t(10)), Some(t(20))));
        assert_eq!(e[1].granule_ids, Some(vec!["b/1".into(), "b/2".into()]));
        assert_eq!(e[2].granule_ids, None);
    }

    #[test]
    fn rewritten_collections_count_as_changed_without_entries() {
        let mut set = ChangeSet::default();
        assert!(set.collections().is_empty());
        set.rewritten("b");
        set.granule(ChangeKind::GranulesAdded, "a", "a/1", Some(t(0)), None);
        set.rewritten("a");
        assert_eq!(set.collections(), ["a", "b"]);
        let e = set.into_entries();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].kind, e[0].collection_id.as_str()),
            (ChangeKind::GranulesAdded, "a")
        );
    }

    #[test]
    fn many_ids_are_not_listed() {
        let mut set = ChangeSet::default();
        for i in 0..=MAX_CHANGE_IDS {
            set.granule(ChangeKind::GranulesAdded, "c", &format!("g{i}"), None, None);
        }
        let e = set.into_entries();
        assert_eq!(e[0].count, MAX_CHANGE_IDS as u64 + 1);
        assert_eq!(e[0].granule_ids, None);
    }

    #[test]
    fn a_removed_collection_drops_its_granule_entries() {
        let mut set = ChangeSet::default();
        set.granule(ChangeKind::GranulesRemoved, "c", "g", None, None);
        set.collection_removed("c", 7);
        let e = set.into_entries();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].kind, e[0].count), (ChangeKind::CollectionRemoved, 7));
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
    }
}
