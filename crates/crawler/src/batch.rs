//! Turning a parsed catalog into rows, and the single writer task that groups rows into
//! batches and hands them to the sink.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use threddex_catalog::{Catalog, EffectiveMetadata, Leaf};
use threddex_ids::Deriver;
use threddex_store::{
    AccessService, BBox, Batch, BatchOutcome, CatalogState, CatalogViews, CollectionUpsert, Granule,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{BatchSink, CrawlError, Progress};

/// What one visited catalog contributes to the store.
#[derive(Debug, Default)]
pub(crate) struct CatalogOutput {
    /// Its own state first, then the pending states of newly discovered children.
    pub catalogs: Vec<CatalogState>,
    pub collections: Vec<CollectionUpsert>,
    pub granules: Vec<Granule>,
    /// Set when `granules` is the catalog's complete listing.
    pub complete: Option<String>,
    /// Child catalog subtrees to delete (they vanished from this catalog's listing).
    pub delete_trees: Vec<String>,
    /// The catalog's complete list of virtual views (set when it was read).
    pub views: Option<CatalogViews>,
}

/// Everything needed to turn leaves into rows.
pub(crate) struct RowBuilder<'a> {
    pub deriver: &'a Deriver,
    /// Authority when the catalog metadata gives none.
    pub fallback_authority: &'a str,
    pub select: &'a [Regex],
    pub skip: &'a [Regex],
    pub source_id: i64,
}

/// Rows of one catalog.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub collections: Vec<CollectionUpsert>,
    pub granules: Vec<Granule>,
    pub datasets: u64,
}

/// Whether a leaf passes the filters: `skip` drops it when any pattern matches its ID, name
/// or urlPath; a non-empty `select` keeps it only when some pattern matches one of them.
fn leaf_selected(leaf: &Leaf<'_>, select: &[Regex], skip: &[Regex]) -> bool {
    let fields = [Some(leaf.name()), leaf.id(), leaf.url_path()];
    let hit = |set: &[Regex]| {
        set.iter()
            .any(|re| fields.iter().flatten().any(|f| re.is_match(f)))
    };
    if hit(skip) {
        return false;
    }
    select.is_empty() || hit(select)
}

impl RowBuilder<'_> {
    /// Rows for every selected leaf of `cat`; `catalog_key` is the catalog's normalised URL.
    pub(crate) fn rows(&self, cat: &Catalog, catalog_key: &str) -> Rows {
        let leaves = cat.leaves();
        let mut out = Rows {
            collections: Vec::new(),
            granules: Vec::with_capacity(leaves.len()),
            datasets: cat.dataset_count() as u64,
        };
        // Collection IDs seen in this catalog (most catalogs hold one or a few).
        let mut local: HashSet<String> = HashSet::new();
        for leaf in &leaves {
            // Virtual views the server computes (Best, full collections, resolvers) are not
            // granules: the files behind them are listed elsewhere.
            if leaf.dataset.dynamic.is_some() {
                continue;
            }
            if !leaf_selected(leaf, self.select, self.skip) {
                continue;
            }
            let name = leaf.name();
            let raw = leaf.id().or(leaf.url_path()).unwrap_or(name);
            let authority = leaf
                .meta
                .authority
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .unwrap_or(self.fallback_authority);
            let derived = self.deriver.derive(raw, authority);
            let (start, end) = granule_time(leaf, &derived);
            // Each catalog carries an upsert for every collection it holds; the writer, which
            // sees catalogs in channel order, keeps only the first per run. (Deciding here
            // would race: a later catalog's granules could reach the store before the
            // catalog that carries their collection.)
            if !local.contains(derived.collection_id.as_str()) {
                local.insert(derived.collection_id.clone());
                out.collections.push(self.collection(
                    cat,
                    leaf,
                    &derived.collection_id,
                    derived.template.clone(),
                    catalog_key,
                ));
            }
            out.granules.push(Granule {
                collection_id: derived.collection_id,
                granule_id: raw.to_string(),
                name: name.to_string(),
                start,
                end,
                url_path: leaf.url_path().map(str::to_string),
                size: leaf
                    .size_bytes()
                    .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                modified: leaf.modified(),
                catalog_url: catalog_key.to_string(),
            });
        }
        out
    }

    fn collection(
        &self,
        cat: &Catalog,
        leaf: &Leaf<'_>,
        id: &str,
        template: Option<String>,
        catalog_key: &str,
    ) -> CollectionUpsert {
        let mut services: Vec<AccessService> = Vec::new();
        for a in leaf.access_services(cat) {
            if services
                .iter()
                .any(|s| s.name == a.service_name && s.base == a.base && s.suffix == a.suffix)
            {
                continue;
            }
            services.push(AccessService {
                name: a.service_name,
                service_type: a.service_type.as_str().to_string(),
                base: a.base,
                suffix: a.suffix,
            });
        }
        CollectionUpsert {
            id: id.to_string(),
            source_id: self.source_id,
            title: title_from_id(id),
            template,
            catalog_url: catalog_key.to_string(),
            services,
            metadata: serde_json::to_value(&leaf.meta).unwrap_or(serde_json::Value::Null),
            summary: summary(&leaf.meta),
            keywords: keywords(&leaf.meta),
            bbox: leaf
                .meta
                .geospatial_coverage
                .as_ref()
                .and_then(|g| g.bbox.as_ref())
                .map(|b| BBox {
                    west: b.west,
                    south: b.south,
                    east: b.east,
                    north: b.north,
                }),
        }
    }
}

/// A granule's time, in order: the dataset's own `timeCoverage` (declared on the dataset
/// element itself) with an absolute start; else the time the identity rules read from its ID,
/// urlPath or name; else an inherited coverage, only when it is absolute. A coverage relative
/// to `present` (Unidata's rolling `end=present, duration=14 days`) describes the collection's
/// window, never one file, and "now" is never a granule's time: an unchanged dataset keeps its
/// time at every read.
pub(crate) fn granule_time(
    leaf: &Leaf<'_>,
    derived: &threddex_ids::Derived,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if let Some((s, e)) = leaf
        .dataset
        .own_time_coverage()
        .and_then(|tc| tc.absolute_range())
    {
        return (Some(s), e);
    }
    if derived.start.is_some() {
        return (derived.start, derived.end);
    }
    match leaf
        .meta
        .time_coverage
        .as_ref()
        .and_then(|tc| tc.absolute_range())
    {
        Some((s, e)) => (Some(s), e),
        None => (None, None),
    }
}

/// Longest summary kept.
const MAX_SUMMARY_CHARS: usize = 8192;
/// Most keywords kept per collection.
const MAX_KEYWORDS: usize = 256;

/// The `summary` (or `abstract`) documentation text, if any.
fn summary(meta: &EffectiveMetadata) -> Option<String> {
    meta.documentation
        .iter()
        .filter(|d| {
            d.doc_type.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("summary") || t.eq_ignore_ascii_case("abstract")
            })
        })
        .find_map(|d| d.text.as_deref().map(str::trim).filter(|t| !t.is_empty()))
        .map(|t| t.chars().take(MAX_SUMMARY_CHARS).collect())
}

/// Keywords and variable names (and their vocabulary names), de-duplicated, in order.
fn keywords(meta: &EffectiveMetadata) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let words =
        meta.keywords
            .iter()
            .map(|k| k.value.as_str())
            .chain(meta.variables.iter().flat_map(|vs| {
                vs.variables.iter().flat_map(|v| {
                    std::iter::once(v.name.as_str()).chain(v.vocabulary_name.as_deref())
                })
            }));
    for w in words {
        let w = w.trim();
        if w.is_empty() || w.len() > 256 || !seen.insert(w) {
            continue;
        }
        out.push(w.to_string());
        if out.len() >= MAX_KEYWORDS {
            break;
        }
    }
    out
}

/// A readable title from a collection ID: its last segment, without timestamp placeholders
/// (`{…}`), a file extension, and with `_`/`-`/`.` turned into spaces.
pub fn title_from_id(id: &str) -> String {
    let last = id
        .rsplit(['/', ':'])
        .find(|s| !s.trim().is_empty())
        .unwrap_or(id);
    let mut s = String::with_capacity(last.len());
    let mut depth = 0u32;
    for c in last.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ => s.push(c),
        }
    }
    let stem: &str = match s.rfind('.') {
        Some(i) if i > 0 => {
            let ext = s.get(i + 1..).unwrap_or("");
            if !ext.is_empty() && ext.len() <= 8 && ext.chars().all(|c| c.is_ascii_alphanumeric()) {
                s.get(..i).unwrap_or(&s)
            } else {
                &s
            }
        }
        _ => &s,
    };
    let words: Vec<&str> = stem
        .split(|c: char| c == '_' || c == '-' || c == '.' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        id.to_string()
    } else {
        words.join(" ")
    }
}

/// Largest number of catalog states per batch (keeps transactions short when catalogs hold no
/// granules).
const MAX_CATALOGS_PER_BATCH: usize = 1000;

/// The single writer: keeps the first upsert of each collection in the run, gathers catalog
/// outputs into batches and writes a batch when it holds `batch_granules` granules or
/// [`MAX_CATALOGS_PER_BATCH`] catalogs, or `flush_every` after its first item, and at the end.
/// A catalog's output is never split across batches (its listing must be complete in one
/// batch). Up to [`BatchSink::concurrent_writes`] batches are in flight (see [`Writes`]).
pub(crate) async fn run_writer(
    mut rx: mpsc::Receiver<CatalogOutput>,
    sink: Arc<dyn BatchSink>,
    batch_granules: usize,
    flush_every: Duration,
    progress: Arc<Progress>,
) -> Result<WriterOutput, CrawlError> {
    let mut emitted: HashSet<String> = HashSet::new();
    let mut batch = Batch::default();
    let mut writes = Writes::new(sink, progress);
    let mut first_at: Option<Instant> = None;
    loop {
        let next = match first_at {
            Some(t) => match tokio::time::timeout_at(t + flush_every, rx.recv()).await {
                Ok(item) => item,
                Err(_) => {
                    writes.submit(&mut batch).await?;
                    first_at = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(out) = next else { break };
        batch.catalogs.extend(out.catalogs);
        for c in out.collections {
            if !emitted.contains(c.id.as_str()) {
                emitted.insert(c.id.clone());
                Progress::add(&writes.progress.collections, 1);
                batch.collections.push(c);
            }
        }
        batch.granules.extend(out.granules);
        if let Some(c) = out.complete {
            batch.complete_catalogs.push(c);
        }
        if let Some(v) = out.views {
            batch.catalog_views.push(v);
        }
        if !out.delete_trees.is_empty() {
            // Deletions are applied before the batch's upserts: drop rows of the deleted
            // catalogs this batch already holds, so they are not written back.
            let gone: HashSet<&str> = out.delete_trees.iter().map(String::as_str).collect();
            batch.catalogs.retain(|c| !gone.contains(c.url.as_str()));
            batch
                .granules
                .retain(|g| !gone.contains(g.catalog_url.as_str()));
            batch
                .complete_catalogs
                .retain(|c| !gone.contains(c.as_str()));
            batch
                .catalog_views
                .retain(|v| !gone.contains(v.catalog_url.as_str()));
            batch.delete_catalog_trees.extend(out.delete_trees);
        }
        if first_at.is_none() {
            first_at = Some(Instant::now());
        }
        if batch.granules.len() >= batch_granules || batch.catalogs.len() >= MAX_CATALOGS_PER_BATCH
        {
            writes.submit(&mut batch).await?;
            first_at = None;
        }
    }
    writes.submit(&mut batch).await?;
    writes.wait_all().await?;
    Ok(WriterOutput {
        outcome: writes.total,
        collections: emitted,
    })
}

/// What the writer did over a run.
pub(crate) struct WriterOutput {
    pub outcome: BatchOutcome,
    /// IDs of the collections written in the run.
    pub collections: HashSet<String>,
}

/// The batch writes of a run: at most [`BatchSink::concurrent_writes`] in flight, each a task.
/// Overlapping writes must not change what the run writes, so a batch waits for every
/// earlier write when
/// - its granules name a collection introduced (upserted first) by a write still in flight:
///   the collection row must be committed before granules refer to it;
/// - it deletes catalog trees: it is written alone, after every earlier write and before any
///   later one (an earlier batch must not write rows into a tree after it is deleted, a later
///   one must not have them deleted).
///
/// Catalog states need no ordering: a catalog's own read is in one batch, and the pending
/// state its parent's listing wrote does not replace it when that lands later (see
/// `Batch::catalogs`).
struct Writes {
    sink: Arc<dyn BatchSink>,
    progress: Arc<Progress>,
    max: usize,
    running: JoinSet<Result<BatchOutcome, CrawlError>>,
    /// Collections introduced by each write in flight.
    introduced: HashMap<tokio::task::Id, Vec<String>>,
    total: BatchOutcome,
}

/// Write one batch, logging its size and time at debug.
async fn write_logged(sink: &dyn BatchSink, batch: Batch) -> Result<BatchOutcome, CrawlError> {
    let (granules, catalogs) = (batch.granules.len(), batch.catalogs.len());
    let t = Instant::now();
    let o = sink.write(batch).await?;
    tracing::debug!(
        granules,
        catalogs,
        elapsed_us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX),
        "batch written"
    );
    Ok(o)
}

impl Writes {
    fn new(sink: Arc<dyn BatchSink>, progress: Arc<Progress>) -> Self {
        let max = sink.concurrent_writes().max(1);
        Self {
            sink,
            progress,
            max,
            running: JoinSet::new(),
            introduced: HashMap::new(),
            total: BatchOutcome::default(),
        }
    }

    /// Start writing `batch` (leaving it empty), once the rules above allow.
    async fn submit(&mut self, batch: &mut Batch) -> Result<(), CrawlError> {
        if batch.is_empty() {
            return Ok(());
        }
        let granules = batch.granules.len();
        let b = std::mem::take(batch);
        // Keep the next batch's allocation close to this one's.
        batch.granules.reserve(granules);
        while let Some(done) = self.running.try_join_next_with_id() {
            self.finished(done)?;
        }
        let alone = !b.delete_catalog_trees.is_empty();
        let depends = !self.introduced.is_empty()
            && b.granules.iter().any(|g| {
                self.introduced
                    .values()
                    .any(|ids| ids.contains(&g.collection_id))
            });
        if alone || depends {
            self.wait_all().await?;
        }
        while self.running.len() >= self.max {
            self.wait_one().await?;
        }
        if self.max == 1 {
            // One at a time: written here, as the writer's own work (no task, no batch kept
            // in memory beside the one being gathered meanwhile).
            let o = write_logged(&*self.sink, b).await?;
            self.record(&o);
            return Ok(());
        }
        let introduced: Vec<String> = b.collections.iter().map(|c| c.id.clone()).collect();
        let sink = Arc::clone(&self.sink);
        let handle = self
            .running
            .spawn(async move { write_logged(&*sink, b).await });
        if !introduced.is_empty() {
            self.introduced.insert(handle.id(), introduced);
        }
        if alone {
            self.wait_all().await?;
        }
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), CrawlError> {
        match self.running.join_next_with_id().await {
            Some(done) => self.finished(done),
            None => Ok(()),
        }
    }

    async fn wait_all(&mut self) -> Result<(), CrawlError> {
        while !self.running.is_empty() {
            self.wait_one().await?;
        }
        Ok(())
    }

    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, Result<BatchOutcome, CrawlError>), tokio::task::JoinError>,
    ) -> Result<(), CrawlError> {
        let (id, result) =
            done.map_err(|e| CrawlError::Internal(format!("batch write task failed: {e}")))?;
        self.introduced.remove(&id);
        self.record(&result?);
        Ok(())
    }

    /// Count a finished write in the run's totals and progress.
    fn record(&mut self, o: &BatchOutcome) {
        self.total.add(o);
        self.progress.add_inserted(o.granules_inserted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A sink that keeps two writes in flight and logs when each batch
    /// (named by its first catalog URL) starts and ends.
    struct SlowSink {
        log: Mutex<Vec<(String, bool)>>,
    }

    #[async_trait::async_trait]
    impl BatchSink for SlowSink {
        async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError> {
            let name = batch
                .catalogs
                .first()
                .map(|c| c.url.clone())
                .unwrap_or_default();
            self.log.lock().unwrap().push((name.clone(), true));
            // b is slow: a batch that must wait for it would otherwise start when a ends.
            let ms = if name == "b" { 80 } else { 20 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.log.lock().unwrap().push((name, false));
            Ok(BatchOutcome {
                granules_inserted: batch.granules.len() as u64,
                ..BatchOutcome::default()
            })
        }

        fn concurrent_writes(&self) -> usize {
            2
        }
    }

    fn output(name: &str, collection: &str, new_collection: bool) -> CatalogOutput {
        CatalogOutput {
            catalogs: vec![CatalogState::pending(name.to_owned(), 1, None, 0)],
            collections: if new_collection {
                vec![CollectionUpsert {
                    id: collection.into(),
                    ..CollectionUpsert::default()
                }]
            } else {
                Vec::new()
            },
            granules: vec![Granule {
                collection_id: collection.into(),
                granule_id: format!("{name}/g.nc"),
                name: "g.nc".into(),
                url_path: None,
                start: None,
                end: None,
                size: None,
                modified: None,
                catalog_url: name.into(),
            }],
            complete: None,
            delete_trees: Vec::new(),
            views: None,
        }
    }

    /// The interval (position of its start, position of its end) of each batch in the log.
    fn spans(log: &[(String, bool)]) -> HashMap<String, (usize, usize)> {
        let mut spans: HashMap<String, (usize, usize)> = HashMap::new();
        for (i, (name, start)) in log.iter().enumerate() {
            let e = spans.entry(name.clone()).or_insert((i, i));
            if *start {
                e.0 = i;
            } else {
                e.1 = i;
            }
        }
        spans
    }

    #[tokio::test]
    async fn overlapping_writes_keep_collections_and_deletions_in_order() {
        let sink = Arc::new(SlowSink {
            log: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel(16);
        let writer = tokio::spawn(run_writer(
            rx,
            Arc::clone(&sink) as Arc<dyn BatchSink>,
            1,
            Duration::from_secs(60),
            Arc::new(Progress::default()),
        ));
        // a and b introduce their collections: they may overlap. c names b's collection: it
        // waits for b. d deletes a tree: alone. e comes after d.
        tx.send(output("a", "A", true)).await.unwrap();
        tx.send(output("b", "B", true)).await.unwrap();
        tx.send(output("c", "B", false)).await.unwrap();
        let mut d = output("d", "A", false);
        d.delete_trees = vec!["gone".into()];
        tx.send(d).await.unwrap();
        tx.send(output("e", "A", false)).await.unwrap();
        drop(tx);
        let out = writer.await.unwrap().unwrap();
        assert_eq!(out.outcome.granules_inserted, 5);
        let log = sink.log.lock().unwrap().clone();
        let s = spans(&log);
        assert_eq!(s.len(), 5, "{log:?}");
        let overlap = |x: &str, y: &str| s[x].0 < s[y].1 && s[y].0 < s[x].1;
        assert!(overlap("a", "b"), "independent batches overlap: {log:?}");
        assert!(s["c"].0 > s["b"].1, "c waits for b: {log:?}");
        for other in ["a", "b", "c", "e"] {
            assert!(!overlap("d", other), "d is written alone: {log:?}");
        }
        assert!(s["e"].0 > s["d"].1, "{log:?}");
    }

    #[test]
    fn titles() {
        assert_eq!(
            title_from_id(
                "edu.ucar.unidata:nexrad/level3/N0Q/FTG/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids"
            ),
            "Level3 FTG N0Q"
        );
        assert_eq!(
            title_from_id("a:b/GFS_Global_0p25deg"),
            "GFS Global 0p25deg"
        );
        assert_eq!(title_from_id("auth:"), "auth");
        assert_eq!(title_from_id("{x}"), "{x}");
        assert_eq!(title_from_id("x:sst.day.mean.nc"), "sst day mean");
    }
}
