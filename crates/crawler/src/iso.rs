//! ISO 19139 series records of collections, built after the stats of a run are
//! refreshed.
//!
//! - A collection without a record gets one. When its catalog offers an ISO service
//!   (`serviceType="ISO"`), the ISO record of **one** sample granule (its first granule in
//!   time order) is fetched through the same polite host pool as the catalogs (rate limit,
//!   in-flight cap, retries, body cap, robots.txt) and turned into the series record with
//!   [`threddex_records::series_from_iso`]; without an ISO service, or when that fetch or
//!   rewrite fails, the record is synthesised from the catalog metadata. Either way the
//!   record is stored, so the ISO endpoint is asked once per collection, never per granule
//!   and never again on later runs.
//! - A collection whose time extent or virtual views changed since its record was built
//!   (syncs added or expired granules; a view catalog was re-read, or files came under or
//!   left one) gets its record updated with [`threddex_records::update_series`]: extent and
//!   distribution (the views are online resources); `dateStamp` moves only when the record
//!   changes, and always forward.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use threddex_records::{Extent, SeriesInput};
use threddex_store::{Collection, Granule, GranuleQuery, IsoRecordUpdate, Store};

use crate::auth::Credentials;
use crate::fetch::{Fetched, Validators};
use crate::{CrawlError, Inner, Progress};

/// Stale collections read per page.
const PAGE: u32 = 200;

/// What the record step of a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsReport {
    /// Records built from the sample granule's ISO record.
    pub from_iso: u64,
    /// Records synthesised from catalog metadata.
    pub synthesized: u64,
    /// Existing records updated (their time extent or virtual views changed).
    pub retimed: u64,
    /// Requests for ISO records (one per collection with an ISO service, retries aside).
    pub iso_fetches: u64,
    /// ISO fetches or rewrites that failed (the record was synthesised instead), with the
    /// reason (the first 100).
    pub iso_failures: Vec<(String, String)>,
}

impl RecordsReport {
    /// Add another step's figures to these.
    pub fn merge(&mut self, other: &RecordsReport) {
        self.from_iso += other.from_iso;
        self.synthesized += other.synthesized;
        self.retimed += other.retimed;
        self.iso_fetches += other.iso_fetches;
        for f in &other.iso_failures {
            if self.iso_failures.len() < 100 {
                self.iso_failures.push(f.clone());
            }
        }
    }
}

enum Built {
    FromIso,
    Synthesized,
    Retimed,
    Unchanged,
}

struct Outcome {
    update: IsoRecordUpdate,
    built: Built,
    fetched: bool,
    failure: Option<(String, String)>,
}

/// The next `dateStamp`: now (whole seconds), but always after the previous one.
pub(crate) fn next_stamp(previous: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let now = Utc::now().trunc_subsecs(0);
    match previous {
        Some(p) if p >= now => p.trunc_subsecs(0) + TimeDelta::seconds(1),
        _ => now,
    }
}

/// Build missing records and re-time stale ones of `source_id` (all sources when None).
pub(crate) async fn refresh_records(
    inner: &Arc<Inner>,
    store: &Arc<dyn Store>,
    source_id: Option<i64>,
    progress: &Arc<Progress>,
) -> Result<RecordsReport, CrawlError> {
    let mut report = RecordsReport::default();
    let mut done: HashSet<String> = HashSet::new();
    // The credentials of each source, for its ISO record requests (same origin only).
    let credentials: Arc<HashMap<i64, Arc<Credentials>>> = Arc::new(if inner.auth.is_empty() {
        HashMap::new()
    } else {
        store
            .list_sources()
            .await?
            .into_iter()
            .filter(|s| source_id.is_none_or(|id| id == s.id))
            .filter_map(|s| {
                inner
                    .auth
                    .for_source(&s.settings.name, &s.settings.url)
                    .map(|c| (s.id, c))
            })
            .collect()
    });
    let concurrency = inner.cfg.concurrency.max(1);
    loop {
        let page = store.stale_iso_records(source_id, PAGE).await?;
        let todo: Vec<Collection> = page
            .into_iter()
            .filter(|c| !done.contains(&c.info.id))
            .collect();
        if todo.is_empty() {
            break;
        }
        let outcomes: Vec<Result<Outcome, CrawlError>> = futures::stream::iter(todo)
            .map(|c| {
                let inner = Arc::clone(inner);
                let store = Arc::clone(store);
                let progress = Arc::clone(progress);
                let auth = credentials.get(&c.info.source_id).cloned();
                async move { build_one(&inner, &store, &progress, auth.as_deref(), c).await }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut updates = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let o = o?;
            done.insert(o.update.collection_id.clone());
            match o.built {
                Built::FromIso => report.from_iso += 1,
                Built::Synthesized => report.synthesized += 1,
                Built::Retimed => report.retimed += 1,
                Built::Unchanged => {}
            }
            if o.fetched {
                report.iso_fetches += 1;
            }
            if let Some(f) = o.failure
                && report.iso_failures.len() < 100
            {
                report.iso_failures.push(f);
            }
            updates.push(o.update);
        }
        store.set_iso_records(&updates).await?;
    }
    Ok(report)
}

async fn build_one(
    inner: &Inner,
    store: &Arc<dyn Store>,
    progress: &Progress,
    auth: Option<&Credentials>,
    c: Collection,
) -> Result<Outcome, CrawlError> {
    let extent = Extent::new(c.start, c.end);
    let update = |xml: String, date_stamp| IsoRecordUpdate {
        collection_id: c.info.id.clone(),
        xml,
        start: c.start,
        end: c.end,
        date_stamp,
        views_version: c.views_version,
    };
    // Read after the collection (and its views_version): a change in between makes the
    // record stale again rather than hiding it.
    let views = store.collection_views(&c.info.id).await?;
    let input = || {
        let mut i = SeriesInput::from_collection(&c.info, Some(inner.cfg.public_url.as_str()));
        i.views.clone_from(&views);
        i
    };
    if let Some(old) = &c.iso_record {
        let previous = threddex_records::summary(old).ok().and_then(|s| s.modified);
        let stamp = next_stamp(previous);
        match threddex_records::update_series(old, &input(), &extent, stamp) {
            Ok(xml) if xml == *old => {
                return Ok(Outcome {
                    update: update(xml, previous.unwrap_or(stamp)),
                    built: Built::Unchanged,
                    fetched: false,
                    failure: None,
                });
            }
            Ok(xml) => {
                return Ok(Outcome {
                    update: update(xml, stamp),
                    built: Built::Retimed,
                    fetched: false,
                    failure: None,
                });
            }
            Err(e) => {
                // An unreadable stored record is rebuilt from the catalog metadata (the ISO
                // service is asked only once per collection).
                tracing::warn!(collection = %c.info.id, error = %e, "stored ISO record unreadable; synthesising");
                let xml = threddex_records::synthesize(&input(), &extent, stamp);
                return Ok(Outcome {
                    update: update(xml, stamp),
                    built: Built::Synthesized,
                    fetched: false,
                    failure: None,
                });
            }
        }
    }
    let stamp = next_stamp(None);
    let input = input();
    let mut fetched = false;
    let mut failure = None;
    if let Some(iso) = threddex_records::iso_service(&c.info.services) {
        match sample_granule(store, &c.info.id).await? {
            Some(g) => {
                let url_path = g.url_path.as_deref().unwrap_or_default();
                let url =
                    threddex_records::iso_record_url(iso, url_path, &g.catalog_url, &g.granule_id);
                fetched = true;
                match fetch_iso(inner, progress, auth, &url).await {
                    Ok(body) => {
                        match threddex_records::series_from_iso(&body, &input, &extent, stamp) {
                            Ok(xml) => {
                                return Ok(Outcome {
                                    update: update(xml, stamp),
                                    built: Built::FromIso,
                                    fetched,
                                    failure: None,
                                });
                            }
                            Err(e) => failure = Some((url, format!("unusable ISO record: {e}"))),
                        }
                    }
                    Err(reason) => failure = Some((url, reason)),
                }
            }
            None => {
                tracing::debug!(collection = %c.info.id, "no granule with a urlPath; synthesising")
            }
        }
    }
    if let Some((url, reason)) = &failure {
        tracing::warn!(collection = %c.info.id, %url, %reason, "ISO record not used; synthesising");
    }
    let xml = threddex_records::synthesize(&input, &extent, stamp);
    Ok(Outcome {
        update: update(xml, stamp),
        built: Built::Synthesized,
        fetched,
        failure,
    })
}

/// The first granule (in time order) with a urlPath.
async fn sample_granule(store: &Arc<dyn Store>, id: &str) -> Result<Option<Granule>, CrawlError> {
    let mut after = None;
    // Look at a few pages at most: a collection whose first granules lack a urlPath is odd.
    for _ in 0..4 {
        let page = store
            .list_granules(&GranuleQuery {
                collection_id: id.to_string(),
                start: None,
                end: None,
                after: after.take(),
                limit: 50,
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        after = Some((last.start, last.granule_id.clone()));
        if let Some(g) = page
            .into_iter()
            .find(|g| g.url_path.as_deref().is_some_and(|p| !p.trim().is_empty()))
        {
            return Ok(Some(g));
        }
    }
    Ok(None)
}

/// Fetch one ISO record through the polite fetcher (robots.txt, rate limit, retries, cap).
async fn fetch_iso(
    inner: &Inner,
    progress: &Progress,
    auth: Option<&Credentials>,
    url: &str,
) -> Result<Vec<u8>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad ISO record URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme {:?}", parsed.scheme()));
    }
    if !inner.fetcher.robots_allows(&parsed, auth, progress).await {
        return Err("disallowed by robots.txt".into());
    }
    match inner
        .fetcher
        .fetch_catalog(&parsed, &Validators::default(), auth, progress)
        .await
        .map_err(|e| e.reason)?
    {
        Fetched::Body { body, .. } => Ok(body),
        Fetched::NotModified => Err("unexpected 304 Not Modified".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_stamps_move_forward() {
        let now = Utc::now().trunc_subsecs(0);
        assert!(next_stamp(None) >= now);
        let future = now + TimeDelta::seconds(3600);
        assert_eq!(next_stamp(Some(future)), future + TimeDelta::seconds(1));
        let past = now - TimeDelta::seconds(3600);
        assert!(next_stamp(Some(past)) >= now);
    }
}
