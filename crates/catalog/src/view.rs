//! Allocation-light leaf iteration: [`LeafRef`] borrows the metadata sources instead of
//! materialising an [`EffectiveMetadata`] per leaf (same precedence rules as
//! [`crate::inherit`]). Use it for very large catalogs; [`LeafRef::effective`] gives the
//! owned form when needed.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::DEPTH_CEILING;
use crate::geo::GeospatialCoverage;
use crate::inherit::{EffectiveMetadata, Leaf, ResolvedAccess, push_access};
use crate::model::{Catalog, Dataset, ThreddsMetadata};
use crate::time::TimeCoverage;

/// Inherited sources, nearest first: `(metadata, full)`; `full == false` means only the
/// single-valued string fields of an ancestor's own attributes apply.
type Chain<'a> = Arc<[(&'a ThreddsMetadata, bool)]>;

/// A leaf dataset with borrowed access to its metadata sources.
#[derive(Debug, Clone)]
pub struct LeafRef<'a> {
    /// The dataset node.
    pub dataset: &'a Dataset,
    chain: Chain<'a>,
}

impl<'a> LeafRef<'a> {
    /// All sources in precedence order: `(metadata, full)`.
    fn sources(&self) -> impl Iterator<Item = (&'a ThreddsMetadata, bool)> + '_ {
        std::iter::once((&*self.dataset.own, true))
            .chain(self.dataset.metadata.iter().map(|b| (&b.content, true)))
            .chain(self.chain.iter().copied())
    }

    fn first_str(&self, f: impl Fn(&'a ThreddsMetadata) -> Option<&'a str>) -> Option<&'a str> {
        self.sources().find_map(|(m, _)| f(m))
    }

    /// `@ID`.
    pub fn id(&self) -> Option<&'a str> {
        self.dataset.id.as_deref()
    }

    /// `@name`.
    pub fn name(&self) -> &'a str {
        &self.dataset.name
    }

    /// `@urlPath`.
    pub fn url_path(&self) -> Option<&'a str> {
        self.dataset.url_path.as_deref()
    }

    /// Effective `serviceName`.
    pub fn service_name(&self) -> Option<&'a str> {
        self.first_str(|m| m.service_name.as_deref())
    }

    /// Effective `authority`.
    pub fn authority(&self) -> Option<&'a str> {
        self.first_str(|m| m.authority.as_deref())
    }

    /// Effective `dataType`.
    pub fn data_type(&self) -> Option<&'a str> {
        self.first_str(|m| m.data_type.as_deref())
    }

    /// Effective `dataFormat`.
    pub fn data_format(&self) -> Option<&'a str> {
        self.first_str(|m| m.data_format.as_deref())
    }

    /// Effective `timeCoverage`.
    pub fn time_coverage(&self) -> Option<&'a TimeCoverage> {
        self.sources()
            .filter(|(_, full)| *full)
            .find_map(|(m, _)| m.time_coverage.as_deref())
    }

    /// Effective `geospatialCoverage`.
    pub fn geospatial_coverage(&self) -> Option<&'a GeospatialCoverage> {
        self.sources()
            .filter(|(_, full)| *full)
            .find_map(|(m, _)| m.geospatial_coverage.as_deref())
    }

    /// Size in bytes (effective `dataSize`, else the first access element's).
    pub fn size_bytes(&self) -> Option<u64> {
        self.sources()
            .filter(|(_, full)| *full)
            .find_map(|(m, _)| m.data_size.as_ref())
            .and_then(|d| d.bytes)
            .or_else(|| {
                self.dataset
                    .access
                    .iter()
                    .find_map(|a| a.data_size.as_ref().and_then(|d| d.bytes))
            })
    }

    /// First `date type="modified"` that parses, in precedence order.
    pub fn modified(&self) -> Option<DateTime<Utc>> {
        self.sources().filter(|(_, full)| *full).find_map(|(m, _)| {
            m.dates
                .iter()
                .filter(|d| {
                    d.date_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case("modified"))
                })
                .find_map(|d| d.parsed)
        })
    }

    /// Time range from the effective `timeCoverage`; `present` resolves to `now`.
    pub fn time_range(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        self.time_coverage()
            .map(|tc| tc.range(now))
            .unwrap_or((None, None))
    }

    /// Same as [`Leaf::access_services`].
    pub fn access_services(&self, catalog: &Catalog) -> Vec<ResolvedAccess> {
        let mut out = Vec::new();
        let sn = self.service_name();
        if let (Some(p), Some(sn)) = (self.url_path(), sn) {
            push_access(&mut out, catalog, sn, p);
        }
        for a in &self.dataset.access {
            if let Some(s) = a.service_name.as_deref().or(sn) {
                push_access(&mut out, catalog, s, &a.url_path);
            }
        }
        out
    }

    /// The owned effective metadata (what [`Catalog::leaves`] computes).
    pub fn effective(&self) -> EffectiveMetadata {
        let mut em = EffectiveMetadata::default();
        for (m, full) in self.sources() {
            em.merge(m, full);
        }
        em
    }

    /// Converts to an owned-metadata [`Leaf`].
    pub fn to_leaf(&self) -> Leaf<'a> {
        Leaf {
            dataset: self.dataset,
            meta: self.effective(),
        }
    }
}

/// Serialises like [`Leaf`]: the dataset plus its materialised effective metadata.
impl serde::Serialize for LeafRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Leaf", 2)?;
        st.serialize_field("dataset", self.dataset)?;
        st.serialize_field("meta", &self.effective())?;
        st.end()
    }
}

impl Catalog {
    /// Like [`Catalog::leaves`], but without cloning metadata per leaf: every leaf shares its
    /// parent's (reference-counted) chain of inherited sources.
    pub fn leaf_refs(&self) -> Vec<LeafRef<'_>> {
        let mut out = Vec::with_capacity(self.leaf_count());
        let mut stack: Vec<(&ThreddsMetadata, bool)> = Vec::new();
        for b in self.metadata.iter().filter(|b| b.inherited).rev() {
            stack.push((&b.content, true));
        }
        for d in &self.datasets {
            let chain: Chain<'_> = stack.iter().rev().copied().collect();
            walk(d, &mut stack, chain, &mut out, 0);
        }
        out
    }
}

fn walk<'a>(
    d: &'a Dataset,
    stack: &mut Vec<(&'a ThreddsMetadata, bool)>,
    chain: Chain<'a>,
    out: &mut Vec<LeafRef<'a>>,
    depth: usize,
) {
    if depth > DEPTH_CEILING {
        return;
    }
    if d.is_leaf() {
        out.push(LeafRef { dataset: d, chain });
    }
    if d.children.is_empty() {
        return;
    }
    let before = stack.len();
    for b in d.metadata.iter().filter(|b| b.inherited).rev() {
        stack.push((&b.content, true));
    }
    stack.push((&*d.own, false));
    let child_chain: Chain<'a> = stack.iter().rev().copied().collect();
    for c in &d.children {
        walk(c, stack, child_chain.clone(), out, depth + 1);
    }
    stack.truncate(before);
}
