//! Recognition of dynamic and virtual datasets (views the server computes, not files).
//!
//! Rules (names compared case-insensitively, paths by their last segment, query removed):
//! * `latest.xml` -> Latest, `latestComplete.xml` -> LatestComplete (urlPath or href), and
//!   dataset names starting with "Latest Collection";
//! * urlPath ending in `/Best` or `_best.ncd`, names "Best ... Time Series" -> Best;
//! * urlPath ending in `/TwoD` or `_fmrc.ncd`, names "Full Collection (Reference / Forecast
//!   Time) ..." or "... (2D time coordinates)" -> TwoD;
//! * other names starting with "Full Collection" -> FullCollection;
//! * names/titles "Forecast Model Run" -> ForecastRun, "Constant Forecast Offset" ->
//!   ConstantOffset, "Constant Forecast Date" -> ConstantForecast;
//! * any other dataset whose effective service is a `Resolver` -> Resolver.
//!
//! [`Catalog::views`] lists what a catalog offers of these (dynamic leaf datasets and dynamic
//! catalogRefs) with their access URLs, for recording them as the virtual views of the
//! collection whose files they aggregate.

use std::collections::HashMap;

use serde::Serialize;
use url::Url;

use crate::error::DEPTH_CEILING;
use crate::inherit::ResolvedAccess;
use crate::model::{Catalog, Dataset, DynamicKind, Service, ServiceType};
use crate::time::TimeCoverage;

fn last_segment(p: &str) -> &str {
    // Branch-free test first (vectorises); locate only when present.
    let p = if p
        .bytes()
        .fold(false, |acc, b| acc | (b == b'?') | (b == b'#'))
    {
        let end = p
            .bytes()
            .position(|b| b == b'?' || b == b'#')
            .unwrap_or(p.len());
        p.get(..end).unwrap_or(p)
    } else {
        p
    };
    match p.rfind('/') {
        Some(i) => p.get(i + 1..).unwrap_or(p),
        None => p,
    }
}

fn classify_path(p: &str) -> Option<DynamicKind> {
    let seg = last_segment(p.trim());
    if seg.eq_ignore_ascii_case("latest.xml") {
        return Some(DynamicKind::Latest);
    }
    if seg.eq_ignore_ascii_case("latestComplete.xml") {
        return Some(DynamicKind::LatestComplete);
    }
    if seg == "Best" || seg.ends_with("_best.ncd") {
        return Some(DynamicKind::Best);
    }
    if seg == "TwoD" || seg.ends_with("_fmrc.ncd") {
        return Some(DynamicKind::TwoD);
    }
    None
}

fn starts_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

fn contains_ci(s: &str, p: &str) -> bool {
    let (s, p) = (s.as_bytes(), p.as_bytes());
    let Some((&first, rest)) = p.split_first() else {
        return true;
    };
    if s.len() < p.len() {
        return false;
    }
    // Candidates by first byte, then compare the rest.
    let first = first.to_ascii_lowercase();
    s.windows(p.len()).any(|w| match w.split_first() {
        Some((b, tail)) => b.to_ascii_lowercase() == first && tail.eq_ignore_ascii_case(rest),
        None => false,
    })
}

fn classify_name(n: &str) -> Option<DynamicKind> {
    let l = n.trim();
    // Cheap pre-check: every pattern starts with `l`, `f`, `b` or contains `(` or `forecast`.
    let (paren, f) = l.bytes().fold((false, false), |(p, f), b| {
        (p | (b == b'('), f | ((b | 0x20) == b'f'))
    });
    let first = l.bytes().next().map(|b| b | 0x20);
    if !paren && !f && first != Some(b'l') && first != Some(b'b') {
        return None;
    }
    if starts_ci(l, "latest collection") {
        return Some(DynamicKind::Latest);
    }
    if starts_ci(l, "full collection (reference / forecast time)")
        || (paren && contains_ci(l, "(2d time coordinates)"))
    {
        return Some(DynamicKind::TwoD);
    }
    if starts_ci(l, "best ") && (contains_ci(l, "time series") || contains_ci(l, "timeseries")) {
        return Some(DynamicKind::Best);
    }
    if starts_ci(l, "full collection") {
        return Some(DynamicKind::FullCollection);
    }
    // Cheap pre-check: every remaining pattern contains "forecast".
    if f && contains_ci(l, "forecast") {
        if contains_ci(l, "forecast model run") {
            return Some(DynamicKind::ForecastRun);
        }
        if contains_ci(l, "constant forecast offset") {
            return Some(DynamicKind::ConstantOffset);
        }
        if contains_ci(l, "constant forecast date") {
            return Some(DynamicKind::ConstantForecast);
        }
    }
    None
}

/// Classifies a catalogRef from its href, title and name.
pub(crate) fn classify_ref(
    href: &str,
    title: Option<&str>,
    name: Option<&str>,
) -> Option<DynamicKind> {
    classify_path(href)
        .or_else(|| title.and_then(classify_name))
        .or_else(|| name.and_then(classify_name))
}

/// Classifies a dataset from its urlPath and name (Resolver detection happens after parsing).
pub(crate) fn classify_dataset(d: &Dataset) -> Option<DynamicKind> {
    d.url_path
        .as_deref()
        .and_then(classify_path)
        .or_else(|| classify_name(&d.name))
}

/// Marks datasets whose effective service is a `Resolver` (and not otherwise classified).
pub(crate) fn mark_resolver_datasets(cat: &mut Catalog) {
    let Catalog {
        datasets,
        service_index,
        metadata,
        ..
    } = cat;
    let inherited = metadata
        .iter()
        .filter(|b| b.inherited)
        .find_map(|b| b.content.service_name.clone());
    for d in datasets.iter_mut() {
        walk(d, inherited.as_deref(), service_index, 0);
    }
}

fn walk(d: &mut Dataset, inherited: Option<&str>, index: &HashMap<String, Service>, depth: usize) {
    if depth > DEPTH_CEILING {
        return;
    }
    let for_children: Option<String> = if d.children.is_empty() {
        None
    } else {
        d.own
            .service_name
            .clone()
            .or_else(|| {
                d.metadata
                    .iter()
                    .filter(|b| b.inherited)
                    .find_map(|b| b.content.service_name.clone())
            })
            .or_else(|| inherited.map(str::to_string))
    };
    // Authoritative: `Resolver` only ever comes from this rule, recomputed here from the
    // final index (the parser's in-pass flag may have seen an earlier definition).
    if d.dynamic == Some(DynamicKind::Resolver) {
        d.dynamic = None;
    }
    if d.dynamic.is_none() && d.is_leaf() {
        let effective = d
            .own
            .service_name
            .as_deref()
            .or_else(|| {
                d.metadata
                    .iter()
                    .find_map(|b| b.content.service_name.as_deref())
            })
            .or(inherited);
        let via_access = d.access.iter().any(|a| {
            a.service_name
                .as_deref()
                .and_then(|n| index.get(n))
                .is_some_and(|s| s.service_type == ServiceType::Resolver)
        });
        let via_service = effective
            .and_then(|n| index.get(n))
            .is_some_and(|s| s.service_type == ServiceType::Resolver);
        if via_service || via_access {
            d.dynamic = Some(DynamicKind::Resolver);
        }
    }
    for c in d.children.iter_mut() {
        walk(c, for_children.as_deref(), index, depth + 1);
    }
}

/// A virtual view a catalog offers: a dynamic leaf dataset (Best, TwoD, full collection,
/// `latest.xml` or another resolver dataset) or a dynamic catalogRef (FMRC forecast-run,
/// constant-forecast and constant-offset catalogs, `latest.xml` references). Views are not
/// files: the server computes them from the files of the same collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualView {
    /// What kind of view.
    pub kind: DynamicKind,
    /// The dataset's name; for a catalogRef its title, else its name, else its href as written.
    pub name: String,
    /// `@ID`, when given.
    pub id: Option<String>,
    /// `@urlPath` of a dataset view.
    pub url_path: Option<String>,
    /// The resolved href of a catalogRef view (the catalog listing the view's datasets).
    pub catalog_ref: Option<Url>,
    /// Access of a dataset view, one entry per (non-compound) service, resolved exactly like
    /// a granule's ([`crate::LeafRef::access_services`]); a `latest.xml` dataset's entry is
    /// its resolver URL. Empty for catalogRef views.
    pub access: Vec<ResolvedAccess>,
    /// The dataset's own `timeCoverage` (its own elements or metadata blocks, not one
    /// inherited from an enclosing dataset, which describes the whole collection).
    pub time_coverage: Option<TimeCoverage>,
}

/// The dataset's own `timeCoverage`: placed in it directly or in one of its metadata blocks.
fn own_time_coverage(d: &Dataset) -> Option<&TimeCoverage> {
    d.own.time_coverage.as_deref().or_else(|| {
        d.metadata
            .iter()
            .find_map(|b| b.content.time_coverage.as_deref())
    })
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl Catalog {
    /// The virtual views of this catalog in document order: first the dynamic leaf datasets,
    /// then the dynamic catalogRefs (see the module documentation for the rules).
    pub fn views(&self) -> Vec<VirtualView> {
        let mut out = Vec::new();
        if self.has_dynamic_leaf() {
            for l in self.leaf_refs() {
                let Some(kind) = l.dataset.dynamic else {
                    continue;
                };
                out.push(VirtualView {
                    kind,
                    name: l.name().to_string(),
                    id: l.id().map(str::to_string),
                    url_path: l.url_path().map(str::to_string),
                    catalog_ref: None,
                    access: l.access_services(self),
                    time_coverage: own_time_coverage(l.dataset).cloned(),
                });
            }
        }
        for r in self.all_catalog_refs() {
            let Some(kind) = r.dynamic else { continue };
            let name = non_empty(r.title.as_deref())
                .or_else(|| non_empty(r.name.as_deref()))
                .unwrap_or(r.raw_href.as_str());
            out.push(VirtualView {
                kind,
                name: name.to_string(),
                id: r.id.clone(),
                url_path: None,
                catalog_ref: Some(r.href.clone()),
                access: Vec::new(),
                time_coverage: None,
            });
        }
        out
    }

    /// Whether any leaf dataset is dynamic (a cheap walk before building leaf views).
    fn has_dynamic_leaf(&self) -> bool {
        let mut stack: Vec<(&Dataset, usize)> = self.datasets.iter().map(|d| (d, 0)).collect();
        while let Some((d, depth)) = stack.pop() {
            if d.dynamic.is_some() && d.is_leaf() {
                return true;
            }
            if depth < DEPTH_CEILING {
                stack.extend(d.children.iter().map(|c| (c, depth + 1)));
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(xml: &str) -> Vec<Option<DynamicKind>> {
        let url = url::Url::parse("https://tds.example.org/thredds/catalog/x/catalog.xml");
        let cat = url
            .ok()
            .and_then(|u| crate::parse_catalog(xml.as_bytes(), &u).ok());
        let cat = cat.unwrap_or_else(|| panic!("parse failed: {xml}"));
        cat.leaves().iter().map(|l| l.dataset.dynamic).collect()
    }

    #[test]
    fn resolver_flag_follows_the_final_service_index() {
        // A name defined inside a dataset before use and again (differently) at the top
        // level later: the top-level definition wins, as in `Catalog::service`.
        let ns = "http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0";
        let doc = |inner: &str, top: &str| {
            format!(
                r#"<catalog xmlns="{ns}"><dataset name="d"><service name="s" serviceType="{inner}" base=""/><dataset name="a.nc" urlPath="a.nc" serviceName="s"/></dataset><service name="s" serviceType="{top}" base=""/></catalog>"#
            )
        };
        assert_eq!(
            kinds(&doc("HTTPServer", "Resolver")),
            vec![Some(DynamicKind::Resolver)]
        );
        assert_eq!(kinds(&doc("Resolver", "HTTPServer")), vec![None]);
        assert_eq!(
            kinds(&doc("Resolver", "Resolver")),
            vec![Some(DynamicKind::Resolver)]
        );
        assert_eq!(kinds(&doc("HTTPServer", "HTTPServer")), vec![None]);
    }

    #[test]
    fn name_prefilter_keeps_every_pattern() {
        assert_eq!(
            classify_name("  FULL COLLECTION Dataset"),
            Some(DynamicKind::FullCollection)
        );
        assert_eq!(
            classify_name("GFS (2D time coordinates)"),
            Some(DynamicKind::TwoD)
        );
        assert_eq!(
            classify_name("NAM CONSTANT FORECAST DATE"),
            Some(DynamicKind::ConstantForecast)
        );
        assert_eq!(classify_name("BEST TimeSeries"), Some(DynamicKind::Best));
        assert_eq!(classify_name("Level2_KGLD_20240101_0000.ar2v"), None);
        assert!(contains_ci("abcFORECAST", "forecast"));
        assert!(!contains_ci("fore", "forecast"));
        assert_eq!(last_segment("a/b/latest.xml?x=/y#z"), "latest.xml");
        assert_eq!(last_segment("plain"), "plain");
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(classify_path("latest.xml"), Some(DynamicKind::Latest));
        assert_eq!(
            classify_path("/thredds/catalog/x/latestComplete.xml?a=b"),
            Some(DynamicKind::LatestComplete)
        );
        assert_eq!(
            classify_path("grib/NCEP/RAP/CONUS_13km/Best"),
            Some(DynamicKind::Best)
        );
        assert_eq!(
            classify_path("grib/NCEP/RAP/CONUS_13km/TwoD"),
            Some(DynamicKind::TwoD)
        );
        assert_eq!(
            classify_path("fmrc/NCEP/NAM/NAM_best.ncd"),
            Some(DynamicKind::Best)
        );
        assert_eq!(classify_path("grib/NCEP/GFS/Global_0p25deg_ana/TP"), None);
        assert_eq!(classify_path("data/Bestiary.nc"), None);
        assert_eq!(
            classify_name("Best GFS Quarter Degree Forecast Time Series"),
            Some(DynamicKind::Best)
        );
        assert_eq!(
            classify_name("Full Collection (Reference / Forecast Time) Dataset"),
            Some(DynamicKind::TwoD)
        );
        assert_eq!(
            classify_name("Full Collection Dataset"),
            Some(DynamicKind::FullCollection)
        );
        assert_eq!(
            classify_name("Forecast Model Run"),
            Some(DynamicKind::ForecastRun)
        );
        assert_eq!(
            classify_name("Constant Forecast Offset"),
            Some(DynamicKind::ConstantOffset)
        );
        assert_eq!(
            classify_name("Latest Collection for GFS"),
            Some(DynamicKind::Latest)
        );
        assert_eq!(classify_name("GFS Quarter Degree Forecast"), None);
        assert_eq!(classify_name("Best practices"), None);
    }
}
