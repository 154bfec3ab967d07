//! A subscription's filter, checked and evaluated: collection IDs and the ID glob in memory,
//! the text query and the box through the store's record filter (the same query tree
//! `/collections` and CSW use), for the entry's collection only.

use threddex_store::{
    BBox, Change, ChangeKind, CompareOp, LikePattern, RecordFilter, Result, Store,
    SubscriptionFilter, TextProperty,
};

/// Most collection IDs a filter lists.
pub const MAX_FILTER_COLLECTIONS: usize = 100;
/// Longest collection ID, pattern or text query of a filter.
pub const MAX_FILTER_TEXT: usize = 1000;

/// Check a filter's sizes and values; the message says what is wrong.
pub fn check_filter(f: &SubscriptionFilter) -> Result<(), String> {
    if f.collections.len() > MAX_FILTER_COLLECTIONS {
        return Err(format!(
            "at most {MAX_FILTER_COLLECTIONS} collections may be listed"
        ));
    }
    let texts = f
        .collections
        .iter()
        .chain(f.pattern.iter())
        .chain(f.q.iter());
    for t in texts {
        if t.is_empty() || t.len() > MAX_FILTER_TEXT {
            return Err(format!(
                "collection IDs, pattern and q must have 1 to {MAX_FILTER_TEXT} bytes"
            ));
        }
        if t.contains('\0') {
            return Err("collection IDs, pattern and q must not contain NUL".into());
        }
    }
    if let Some(b) = &f.bbox {
        check_bbox(b)?;
    }
    Ok(())
}

fn check_bbox(b: &BBox) -> Result<(), String> {
    let lon = |x: f64| x.is_finite() && (-180.0..=180.0).contains(&x);
    let lat = |x: f64| x.is_finite() && (-90.0..=90.0).contains(&x);
    if !(lon(b.west) && lon(b.east) && lat(b.south) && lat(b.north)) || b.south > b.north {
        return Err("bbox: west and east within -180..180, south <= north within -90..90".into());
    }
    Ok(())
}

/// A filter ready to test entries.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    ids: Vec<String>,
    pattern: Option<LikePattern>,
    /// Text and box, as a record filter (None: neither is set).
    record: Option<RecordFilter>,
}

impl CompiledFilter {
    /// Compile `f`.
    pub fn new(f: &SubscriptionFilter) -> Self {
        let mut record = Vec::new();
        if let Some(q) = &f.q {
            match RecordFilter::free_text(q) {
                RecordFilter::All => {}
                text => record.push(text),
            }
        }
        if let Some(b) = f.bbox {
            record.push(RecordFilter::BBox(b));
        }
        Self {
            ids: f.collections.clone(),
            pattern: f
                .pattern
                .as_deref()
                .map(|p| LikePattern::parse(p, '*', '?', Some('\\'))),
            record: (!record.is_empty()).then_some(RecordFilter::And(record)),
        }
    }

    /// Whether `change` is for this subscription. A removed collection has no text or box
    /// left to test: its removal matches when the IDs or the pattern name it and no text or
    /// box is set.
    pub async fn matches(&self, store: &dyn Store, change: &Change) -> Result<bool> {
        let id = change.collection_id.as_str();
        if !self.ids.is_empty() && !self.ids.iter().any(|c| c == id) {
            return Ok(false);
        }
        if let Some(p) = &self.pattern
            && !p.matches(id, true)
        {
            return Ok(false);
        }
        let Some(record) = &self.record else {
            return Ok(true);
        };
        if change.kind == ChangeKind::CollectionRemoved {
            return Ok(false);
        }
        let filter = RecordFilter::And(vec![
            RecordFilter::CompareText {
                prop: TextProperty::Identifier,
                op: CompareOp::Eq,
                value: id.to_owned(),
                match_case: true,
            },
            record.clone(),
        ]);
        Ok(store.search_records(&filter, &[], 0, 0).await?.matched > 0)
    }
}
