//! Effective (inherited) metadata, leaves ("granules") and access URLs.
//!
//! Precedence for a dataset, highest first:
//! 1. the dataset's own attributes and metadata elements placed directly in it;
//! 2. its own `metadata` elements (inherited or not), in document order;
//! 3. for each ancestor, nearest first: its `serviceName`/`dataType`/`dataFormat`/`authority`
//!    attributes (or direct elements) — the catalog spec and netCDF-Java treat those as
//!    inherited — then its `metadata inherited="true"` elements;
//! 4. catalog-level `metadata inherited="true"` (non-standard, seen in the wild).
//!
//! For `serviceName`, `dataType`, `dataFormat`, `authority`, `timeCoverage`,
//! `geospatialCoverage` and `dataSize` the first value found wins; documentation, keywords,
//! creators, publishers, contributors, dates, properties, projects and variables accumulate in
//! that order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DEPTH_CEILING;
use crate::geo::GeospatialCoverage;
use crate::model::*;
use crate::time::TimeCoverage;

/// Metadata of a dataset after applying inheritance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EffectiveMetadata {
    /// Effective `serviceName`.
    pub service_name: Option<String>,
    /// Effective `dataType`.
    pub data_type: Option<String>,
    /// Effective `dataFormat`.
    pub data_format: Option<String>,
    /// Effective `authority`.
    pub authority: Option<String>,
    /// Effective `timeCoverage` (`present` kept relative).
    pub time_coverage: Option<TimeCoverage>,
    /// Effective `geospatialCoverage`.
    pub geospatial_coverage: Option<GeospatialCoverage>,
    /// Accumulated `documentation`.
    pub documentation: Vec<Documentation>,
    /// Accumulated `keyword`.
    pub keywords: Vec<Vocab>,
    /// Accumulated `creator`.
    pub creators: Vec<Source>,
    /// Accumulated `publisher`.
    pub publishers: Vec<Source>,
    /// Accumulated `contributor`.
    pub contributors: Vec<Contributor>,
    /// Accumulated `date`.
    pub dates: Vec<DateTyped>,
    /// Accumulated `property`.
    pub properties: Vec<Property>,
    /// Accumulated `project`.
    pub projects: Vec<Vocab>,
    /// Accumulated `variables`.
    pub variables: Vec<Variables>,
    /// Effective `dataSize` in bytes.
    pub data_size: Option<u64>,
}

impl EffectiveMetadata {
    /// Merges one source: single-valued fields only fill gaps; lists are appended when `full`.
    pub(crate) fn merge(&mut self, m: &ThreddsMetadata, full: bool) {
        fill(&mut self.service_name, &m.service_name);
        fill(&mut self.data_type, &m.data_type);
        fill(&mut self.data_format, &m.data_format);
        fill(&mut self.authority, &m.authority);
        if !full {
            return;
        }
        if self.time_coverage.is_none() {
            self.time_coverage = m.time_coverage.as_deref().cloned();
        }
        if self.geospatial_coverage.is_none() {
            self.geospatial_coverage = m.geospatial_coverage.as_deref().cloned();
        }
        if self.data_size.is_none() {
            self.data_size = m.data_size.as_ref().and_then(|d| d.bytes);
        }
        self.documentation.extend_from_slice(&m.documentation);
        self.keywords.extend_from_slice(&m.keywords);
        self.creators.extend_from_slice(&m.creators);
        self.publishers.extend_from_slice(&m.publishers);
        self.contributors.extend_from_slice(&m.contributors);
        self.dates.extend_from_slice(&m.dates);
        self.properties.extend_from_slice(&m.properties);
        self.projects.extend_from_slice(&m.projects);
        self.variables.extend_from_slice(&m.variables);
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, v: &Option<T>) {
    if slot.is_none() && v.is_some() {
        slot.clone_from(v);
    }
}

/// A dataset with a urlPath or access elements, with its effective metadata.
#[derive(Debug, Clone, Serialize)]
pub struct Leaf<'a> {
    /// The dataset node.
    pub dataset: &'a Dataset,
    /// Its effective metadata.
    pub meta: EffectiveMetadata,
}

/// One way to access a leaf: a (non-compound) service plus the resulting URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedAccess {
    /// Service name.
    pub service_name: String,
    /// Service type.
    pub service_type: ServiceType,
    /// Absolute service base.
    pub base: String,
    /// Service suffix.
    pub suffix: String,
    /// The dataset's (or access element's) urlPath.
    pub url_path: String,
    /// `base + url_path + suffix` (string concatenation, as the spec defines it).
    pub url: String,
}

impl Leaf<'_> {
    /// `@ID`.
    pub fn id(&self) -> Option<&str> {
        self.dataset.id.as_deref()
    }

    /// `@name`.
    pub fn name(&self) -> &str {
        &self.dataset.name
    }

    /// `@urlPath`.
    pub fn url_path(&self) -> Option<&str> {
        self.dataset.url_path.as_deref()
    }

    /// Size in bytes: effective `dataSize`, else the first access element's `dataSize`.
    pub fn size_bytes(&self) -> Option<u64> {
        self.meta.data_size.or_else(|| {
            self.dataset
                .access
                .iter()
                .find_map(|a| a.data_size.as_ref().and_then(|d| d.bytes))
        })
    }

    /// First `date type="modified"` that parses.
    pub fn modified(&self) -> Option<DateTime<Utc>> {
        self.meta
            .dates
            .iter()
            .filter(|d| {
                d.date_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("modified"))
            })
            .find_map(|d| d.parsed)
    }

    /// Time range from the effective `timeCoverage`; `present` resolves to `now`.
    pub fn time_range(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        match &self.meta.time_coverage {
            Some(tc) => tc.range(now),
            None => (None, None),
        }
    }

    /// One entry per service of the effective serviceName (compounds flattened, document
    /// order) for the urlPath, then the same for each `access` element. Unknown services are
    /// skipped.
    pub fn access_services(&self, catalog: &Catalog) -> Vec<ResolvedAccess> {
        let mut out = Vec::new();
        if let (Some(p), Some(sn)) = (self.url_path(), self.meta.service_name.as_deref()) {
            push_access(&mut out, catalog, sn, p);
        }
        for a in &self.dataset.access {
            if let Some(sn) = a
                .service_name
                .as_deref()
                .or(self.meta.service_name.as_deref())
            {
                push_access(&mut out, catalog, sn, &a.url_path);
            }
        }
        out
    }
}

pub(crate) fn push_access(
    out: &mut Vec<ResolvedAccess>,
    catalog: &Catalog,
    service: &str,
    url_path: &str,
) {
    let Some(svc) = catalog.service(service) else {
        return;
    };
    for s in svc.flatten() {
        let mut url =
            String::with_capacity(s.resolved_base.len() + url_path.len() + s.suffix.len());
        url.push_str(&s.resolved_base);
        url.push_str(url_path);
        url.push_str(&s.suffix);
        out.push(ResolvedAccess {
            service_name: s.name.clone(),
            service_type: s.service_type.clone(),
            base: s.resolved_base.clone(),
            suffix: s.suffix.clone(),
            url_path: url_path.to_string(),
            url,
        });
    }
}

impl Catalog {
    /// A service by name, at any nesting depth (catalog-level first, then services declared
    /// inside datasets).
    pub fn service(&self, name: &str) -> Option<&Service> {
        if let Some(s) = self.service_index.get(name) {
            return Some(s);
        }
        self.services.iter().find_map(|s| s.find(name))
    }

    /// Every catalogRef at any depth, in document order.
    pub fn all_catalog_refs(&self) -> Vec<&CatalogRef> {
        let mut out: Vec<&CatalogRef> = self.catalog_refs.iter().collect();
        let mut stack: Vec<&Dataset> = self.datasets.iter().collect();
        while let Some(d) = stack.pop() {
            out.extend(d.catalog_refs.iter());
            stack.extend(d.children.iter());
        }
        out.sort_by_key(|r| r.doc_order);
        out
    }

    /// Number of leaves (datasets with a urlPath or access element) at any depth.
    pub fn leaf_count(&self) -> usize {
        let mut n = 0;
        let mut stack: Vec<&Dataset> = self.datasets.iter().collect();
        while let Some(d) = stack.pop() {
            n += usize::from(d.is_leaf());
            stack.extend(d.children.iter());
        }
        n
    }

    /// Number of datasets at any depth.
    pub fn dataset_count(&self) -> usize {
        let mut n = 0;
        let mut stack: Vec<&Dataset> = self.datasets.iter().collect();
        while let Some(d) = stack.pop() {
            n += 1;
            stack.extend(d.children.iter());
        }
        n
    }

    /// Every dataset with a urlPath or access element, any depth, document order, each with
    /// its effective metadata.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        let mut out = Vec::with_capacity(self.leaf_count());
        // Inherited sources, pushed so that reverse iteration yields "nearest first".
        let mut stack: Vec<(&ThreddsMetadata, bool)> = Vec::new();
        for b in self.metadata.iter().filter(|b| b.inherited).rev() {
            stack.push((&b.content, true));
        }
        for d in &self.datasets {
            collect(d, &mut stack, &mut out, 0);
        }
        out
    }

    /// Effective metadata of every dataset (not only leaves), document order.
    pub fn effective_all(&self) -> Vec<(&Dataset, EffectiveMetadata)> {
        let mut out = Vec::new();
        let mut stack: Vec<(&ThreddsMetadata, bool)> = Vec::new();
        for b in self.metadata.iter().filter(|b| b.inherited).rev() {
            stack.push((&b.content, true));
        }
        for d in &self.datasets {
            collect_all(d, &mut stack, &mut out, 0);
        }
        out
    }
}

fn effective(d: &Dataset, stack: &[(&ThreddsMetadata, bool)]) -> EffectiveMetadata {
    let mut em = EffectiveMetadata::default();
    em.merge(&d.own, true);
    for b in &d.metadata {
        em.merge(&b.content, true);
    }
    for (m, full) in stack.iter().rev() {
        em.merge(m, *full);
    }
    em
}

fn push_inherited<'a>(d: &'a Dataset, stack: &mut Vec<(&'a ThreddsMetadata, bool)>) -> usize {
    let before = stack.len();
    for b in d.metadata.iter().filter(|b| b.inherited).rev() {
        stack.push((&b.content, true));
    }
    stack.push((&*d.own, false));
    stack.len() - before
}

fn collect<'a>(
    d: &'a Dataset,
    stack: &mut Vec<(&'a ThreddsMetadata, bool)>,
    out: &mut Vec<Leaf<'a>>,
    depth: usize,
) {
    if depth > DEPTH_CEILING {
        return;
    }
    if d.is_leaf() {
        out.push(Leaf {
            dataset: d,
            meta: effective(d, stack),
        });
    }
    if d.children.is_empty() {
        return;
    }
    let n = push_inherited(d, stack);
    for c in &d.children {
        collect(c, stack, out, depth + 1);
    }
    stack.truncate(stack.len() - n);
}

fn collect_all<'a>(
    d: &'a Dataset,
    stack: &mut Vec<(&'a ThreddsMetadata, bool)>,
    out: &mut Vec<(&'a Dataset, EffectiveMetadata)>,
    depth: usize,
) {
    if depth > DEPTH_CEILING {
        return;
    }
    out.push((d, effective(d, stack)));
    let n = push_inherited(d, stack);
    for c in &d.children {
        collect_all(c, stack, out, depth + 1);
    }
    stack.truncate(stack.len() - n);
}
