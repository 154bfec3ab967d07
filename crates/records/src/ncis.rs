//! Series records rebuilt from the ncISO record of one sample granule, and re-timing of stored
//! records.
//!
//! The server's document is parsed into a bounded element tree ([`crate::tree`]) and written
//! back with escaping; these parts are replaced by the collection's:
//! `fileIdentifier`, `parentIdentifier` (removed), `hierarchyLevel` (`series`) and
//! `hierarchyLevelName`, `dateStamp`, `dataSetURI` (removed), the citation title, alternate
//! titles (removed), identifiers and (missing) dates, the temporal extent (a `gml:TimePeriod`
//! with a fresh `gml:id`), the bounding box when the catalog gives one, and the distribution
//! links (one per access service plus catalog and search; the server's distributor contacts
//! and formats are kept, their granule URLs dropped). Service identifications
//! (`srv:SV_ServiceIdentification`) describe the sample granule's endpoints and are removed. An
//! absent or nil `contact` or `abstract` is filled in from the catalog. Top-level elements are
//! put in schema order and elements the schema does not allow there are dropped.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::input::SeriesInput;
use crate::iso::{
    self, CITATION_ORDER, DATA_IDENT_ORDER, DISTRIBUTION_ORDER, EXTENT_ORDER, MD_METADATA_ORDER,
};
use crate::tree::{self, Element, GCO, GMD, GMI, GML, Node, SRV, TreeLimits};
use crate::writer::XmlWriter;
use crate::{Extent, RecordError};

/// Writes a fragment with this crate's writer and parses it back into elements.
pub(crate) fn frag(f: impl FnOnce(&mut XmlWriter)) -> Result<Vec<Element>, RecordError> {
    let mut w = XmlWriter::fragment();
    f(&mut w);
    tree::parse_fragment(&w.finish())
}

fn frag1(f: impl FnOnce(&mut XmlWriter)) -> Result<Element, RecordError> {
    frag(f)?
        .into_iter()
        .next()
        .ok_or(RecordError::Missing("generated element"))
}

/// Parses an ISO record and checks its root.
pub(crate) fn parse_record(xml: &[u8], limits: &TreeLimits) -> Result<Element, RecordError> {
    let mut root = tree::parse(xml, limits)?;
    if !(root.is(GMD, "MD_Metadata") || root.is(GMI, "MI_Metadata")) {
        return Err(RecordError::NotIso {
            root: format!("{{{}}}{}", root.ns, root.local),
        });
    }
    tree::strip_indentation(&mut root);
    Ok(root)
}

fn is_nil(e: &Element) -> bool {
    e.elements().next().is_none()
}

/// Index (in `root.children`) of the `identificationInfo` holding the data identification.
pub(crate) fn main_ident_index(root: &Element) -> Option<usize> {
    root.children.iter().position(|n| {
        matches!(n, Node::Element(e) if e.is(GMD, "identificationInfo")
            && e.first_element().is_some_and(|c| c.local.ends_with("DataIdentification")))
    })
}

/// The data identification element (`MD_DataIdentification` or a substitute), mutable.
pub(crate) fn main_ident_mut(root: &mut Element) -> Option<&mut Element> {
    let i = main_ident_index(root)?;
    match root.children.get_mut(i) {
        Some(Node::Element(info)) => info.elements_mut().next(),
        _ => None,
    }
}

/// Replaces the children of `el` with a `gco:CharacterString` holding `text`.
pub(crate) fn set_string(el: &mut Element, text: &str) {
    el.attrs
        .retain(|a| !(a.ns == GCO && a.local == "nilReason"));
    let mut cs = Element::new(GCO, "CharacterString");
    cs.children.push(Node::Text(text.to_string()));
    el.children = vec![Node::Element(cs)];
}

/// Replaces every root child `{gmd}local` by `new` (inserted in schema order).
pub(crate) fn replace_root(root: &mut Element, local: &str, new: Vec<Element>) {
    root.remove_children(|e| e.is(GMD, local));
    for e in new.into_iter() {
        root.insert_ordered(e, MD_METADATA_ORDER);
    }
}

fn collect_ids(root: &Element) -> HashSet<String> {
    let mut ids = HashSet::new();
    root.walk(&mut |e| {
        for a in &e.attrs {
            if a.local == "id" {
                ids.insert(a.value.clone());
            }
        }
    });
    ids
}

fn fresh_id(root: &Element, base: &str) -> String {
    let ids = collect_ids(root);
    if !ids.contains(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|c| !ids.contains(c))
        .unwrap_or_else(|| base.to_string())
}

fn extents_mut(ident: &mut Element) -> impl Iterator<Item = &mut Element> {
    ident
        .elements_mut()
        .filter(|e| e.is(GMD, "extent"))
        .filter_map(|e| e.child_mut(GMD, "EX_Extent"))
}

/// The first `EX_Extent` of the identification, created when absent.
fn first_extent(ident: &mut Element) -> Result<&mut Element, RecordError> {
    if extents_mut(ident).next().is_none() {
        let mut ext = Element::new(GMD, "extent");
        ext.children
            .push(Node::Element(Element::new(GMD, "EX_Extent")));
        ident.insert_ordered(ext, DATA_IDENT_ORDER);
    }
    extents_mut(ident)
        .next()
        .ok_or(RecordError::Missing("EX_Extent"))
}

/// Replaces the temporal extent of the record's data identification (fresh `gml:id`).
pub(crate) fn set_time(root: &mut Element, extent: &Extent) -> Result<(), RecordError> {
    let ident = main_ident_mut(root).ok_or(RecordError::Missing("MD_DataIdentification"))?;
    for ex in extents_mut(ident) {
        ex.remove_children(|e| e.is(GMD, "temporalElement"));
    }
    if extent.is_empty() {
        return Ok(());
    }
    let id = fresh_id(root, crate::synth::TIME_ID);
    let new = frag1(|w| iso::temporal_element(w, &id, extent))?;
    let ident = main_ident_mut(root).ok_or(RecordError::Missing("MD_DataIdentification"))?;
    first_extent(ident)?.insert_ordered(new, EXTENT_ORDER);
    Ok(())
}

/// Reads the begin/end of the data identification's first `gml:TimePeriod` as text.
pub(crate) fn current_time(root: &Element) -> Option<(String, String)> {
    let i = main_ident_index(root)?;
    let Some(Node::Element(info)) = root.children.get(i) else {
        return None;
    };
    let mut found = None;
    info.walk(&mut |e| {
        if found.is_none() && e.is(GML, "TimePeriod") {
            let pos = |n: &str| {
                e.child(GML, n).map(|p| {
                    if is_nil(p) && p.text().is_empty() {
                        "?".to_string()
                    } else {
                        p.text()
                    }
                })
            };
            found = Some((
                pos("beginPosition").unwrap_or_default(),
                pos("endPosition").unwrap_or_default(),
            ));
        }
    });
    found
}

fn fmt_pos(d: Option<DateTime<Utc>>) -> String {
    d.as_ref()
        .and_then(iso::fmt_datetime)
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn set_date_stamp(
    root: &mut Element,
    date_stamp: &DateTime<Utc>,
) -> Result<(), RecordError> {
    let stamp = iso::fmt_datetime(date_stamp).unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let e = frag1(|w| {
        w.start("gmd:dateStamp", &[])
            .leaf("gco:DateTime", &[], &stamp)
            .end();
    })?;
    replace_root(root, "dateStamp", vec![e]);
    Ok(())
}

pub(crate) fn set_hierarchy(
    root: &mut Element,
    level: &str,
    name: &str,
) -> Result<(), RecordError> {
    let els = frag(|w| {
        iso::code(w, "gmd:hierarchyLevel", "MD_ScopeCode", level);
        w.string("gmd:hierarchyLevelName", name);
    })?;
    root.remove_children(|e| e.is(GMD, "hierarchyLevelName"));
    replace_root(root, "hierarchyLevel", els);
    Ok(())
}

/// Sets title, identifier (and optionally replaces nil dates) of the data identification.
pub(crate) fn set_citation(
    root: &mut Element,
    title: &str,
    id: &str,
    dates: Option<(&SeriesInput, &DateTime<Utc>)>,
) -> Result<(), RecordError> {
    let new_dates = match dates {
        Some((input, stamp)) => Some(frag(|w| crate::synth::citation_dates(w, input, stamp))?),
        None => None,
    };
    let ident_el = frag1(|w| iso::identifier(w, id))?;
    let ident = main_ident_mut(root).ok_or(RecordError::Missing("MD_DataIdentification"))?;
    if ident
        .path(&[(GMD, "citation"), (GMD, "CI_Citation")])
        .is_none()
    {
        ident.remove_children(|e| e.is(GMD, "citation"));
        let mut c = Element::new(GMD, "citation");
        c.children
            .push(Node::Element(Element::new(GMD, "CI_Citation")));
        ident.insert_ordered(c, DATA_IDENT_ORDER);
    }
    let cit = ident
        .child_mut(GMD, "citation")
        .and_then(|c| c.child_mut(GMD, "CI_Citation"))
        .ok_or(RecordError::Missing("CI_Citation"))?;
    cit.remove_children(|e| {
        e.is(GMD, "title") || e.is(GMD, "alternateTitle") || e.is(GMD, "identifier")
    });
    let mut t = Element::new(GMD, "title");
    set_string(&mut t, title);
    cit.insert_ordered(t, CITATION_ORDER);
    cit.insert_ordered(ident_el, CITATION_ORDER);
    let all_nil = cit.elements().filter(|e| e.is(GMD, "date")).all(is_nil);
    if let Some(nd) = new_dates.filter(|_| all_nil) {
        cit.remove_children(|e| e.is(GMD, "date"));
        for d in nd.into_iter() {
            cit.insert_ordered(d, CITATION_ORDER);
        }
    }
    Ok(())
}

fn fill_abstract(root: &mut Element, text: Option<&str>) -> Result<(), RecordError> {
    let ident = main_ident_mut(root).ok_or(RecordError::Missing("MD_DataIdentification"))?;
    match ident.child_mut(GMD, "abstract") {
        Some(a) if is_nil(a) => {
            if let Some(t) = text {
                set_string(a, t);
            }
        }
        Some(_) => {}
        None => {
            let mut a = Element::new(GMD, "abstract");
            match text {
                Some(t) => set_string(&mut a, t),
                None => a.attrs.push(tree::Attr {
                    ns: GCO.into(),
                    local: "nilReason".into(),
                    value: "missing".into(),
                }),
            }
            ident.insert_ordered(a, DATA_IDENT_ORDER);
        }
    }
    if ident.child(GMD, "language").is_none() {
        let l = frag1(|w| {
            w.start("gmd:language", &[])
                .leaf("gco:CharacterString", &[], "eng")
                .end();
        })?;
        ident.insert_ordered(l, DATA_IDENT_ORDER);
    }
    Ok(())
}

fn set_bbox(root: &mut Element, input: &SeriesInput) -> Result<(), RecordError> {
    let Some(b) = input.bbox.and_then(|b| b.sanitized()) else {
        return Ok(());
    };
    let geo = frag(|w| iso::geographic_elements(w, &b))?;
    let ident = main_ident_mut(root).ok_or(RecordError::Missing("MD_DataIdentification"))?;
    for ex in extents_mut(ident) {
        ex.remove_children(|e| e.is(GMD, "geographicElement"));
    }
    let ex = first_extent(ident)?;
    for g in geo.into_iter() {
        ex.insert_ordered(g, EXTENT_ORDER);
    }
    Ok(())
}

/// Removes the transfer options of every distributor (granule URLs) and returns the
/// `gmd:distributor` and `gmd:distributionFormat` elements of the old distribution.
fn old_distribution_parts(root: &mut Element) -> (Vec<Element>, Vec<Element>) {
    let (mut distributors, mut formats) = (Vec::new(), Vec::new());
    for n in &mut root.children {
        let Node::Element(di) = n else { continue };
        if !di.is(GMD, "distributionInfo") {
            continue;
        }
        let Some(md) = di.child_mut(GMD, "MD_Distribution") else {
            continue;
        };
        for part in md.elements_mut() {
            if part.is(GMD, "distributor") {
                for d in part.elements_mut() {
                    d.remove_children(|e| e.is(GMD, "distributorTransferOptions"));
                }
                if part
                    .elements()
                    .next()
                    .is_some_and(|d| d.child(GMD, "distributorContact").is_some())
                {
                    distributors.push(part.clone());
                }
            } else if part.is(GMD, "distributionFormat") {
                formats.push(part.clone());
            }
        }
    }
    (distributors, formats)
}

fn set_distribution(root: &mut Element, input: &SeriesInput) -> Result<(), RecordError> {
    let (distributors, formats) = old_distribution_parts(root);
    let mut di = frag1(|w| crate::synth::distribution(w, input))?;
    if let Some(md) = di.child_mut(GMD, "MD_Distribution") {
        if input.data_format.is_none() {
            for f in formats.into_iter() {
                md.insert_ordered(f, DISTRIBUTION_ORDER);
            }
        }
        for d in distributors.into_iter() {
            md.insert_ordered(d, DISTRIBUTION_ORDER);
        }
    }
    replace_root(root, "distributionInfo", vec![di]);
    Ok(())
}

/// [`series_from_iso_with`] with default [`TreeLimits`].
pub fn series_from_iso(
    iso_xml: &[u8],
    input: &SeriesInput,
    extent: &Extent,
    date_stamp: DateTime<Utc>,
) -> Result<String, RecordError> {
    series_from_iso_with(iso_xml, input, extent, date_stamp, &TreeLimits::default())
}

/// Turns the ISO record (`gmi:MI_Metadata` / `gmd:MD_Metadata`, e.g. ncISO output) of one
/// sample granule into the collection's series record. Errors when the document is not
/// well-formed, exceeds `limits`, is not an ISO record or has no data identification; the
/// caller then falls back to [`crate::synthesize`].
pub fn series_from_iso_with(
    iso_xml: &[u8],
    input: &SeriesInput,
    extent: &Extent,
    date_stamp: DateTime<Utc>,
    limits: &TreeLimits,
) -> Result<String, RecordError> {
    let mut root = parse_record(iso_xml, limits)?;
    // Service identifications describe the sample granule's endpoints.
    root.remove_children(|e| {
        e.is(GMD, "identificationInfo") && e.first_element().is_some_and(|c| c.ns == SRV)
    });
    if main_ident_index(&root).is_none() {
        return Err(RecordError::Missing("MD_DataIdentification"));
    }
    let file_id = frag1(|w| {
        w.string("gmd:fileIdentifier", &input.id);
    })?;
    replace_root(&mut root, "fileIdentifier", vec![file_id]);
    root.remove_children(|e| e.is(GMD, "parentIdentifier") || e.is(GMD, "dataSetURI"));
    set_hierarchy(&mut root, "series", "collection")?;
    let has_contact = root.elements().any(|e| e.is(GMD, "contact") && !is_nil(e));
    if !has_contact {
        let c = frag1(|w| iso::party(w, "gmd:contact", &input.contact()))?;
        replace_root(&mut root, "contact", vec![c]);
    }
    set_date_stamp(&mut root, &date_stamp)?;
    set_citation(
        &mut root,
        &input.title,
        &input.id,
        Some((input, &date_stamp)),
    )?;
    fill_abstract(
        &mut root,
        input
            .abstract_text
            .as_deref()
            .filter(|a| !a.trim().is_empty()),
    )?;
    set_bbox(&mut root, input)?;
    set_time(&mut root, extent)?;
    set_distribution(&mut root, input)?;
    crate::sanitize::sanitize(&mut root);
    Ok(tree::serialize(&root, 1))
}

/// Brings a stored series record up to date: its temporal extent to `extent` and its
/// distribution (access services, catalog, granule search and virtual views) to `input`,
/// exactly as [`series_from_iso`] writes them (the distributor contacts and formats of a
/// record built from ncISO are kept). When nothing changes the record is returned as is (its
/// `dateStamp` does not move); otherwise `dateStamp` is set to `date_stamp`.
pub fn update_series(
    series_xml: &str,
    input: &SeriesInput,
    extent: &Extent,
    date_stamp: DateTime<Utc>,
) -> Result<String, RecordError> {
    let mut root = parse_record(series_xml.as_bytes(), &TreeLimits::default())?;
    if main_ident_index(&root).is_none() {
        return Err(RecordError::Missing("MD_DataIdentification"));
    }
    crate::sanitize::sanitize(&mut root);
    let before = tree::serialize(&root, 1);
    let wanted = (!extent.is_empty()).then(|| (fmt_pos(extent.start), fmt_pos(extent.end)));
    if current_time(&root) != wanted {
        set_time(&mut root, extent)?;
    }
    set_distribution(&mut root, input)?;
    crate::sanitize::sanitize(&mut root);
    if tree::serialize(&root, 1) == before {
        return Ok(series_xml.to_string());
    }
    set_date_stamp(&mut root, &date_stamp)?;
    crate::sanitize::sanitize(&mut root);
    Ok(tree::serialize(&root, 1))
}

/// Re-times a stored record (series or granule) to `extent`. When the extent is unchanged the
/// record is returned as is (its `dateStamp` does not move); otherwise the temporal extent is
/// replaced and `dateStamp` set to `date_stamp`.
pub fn update_extent(
    series_xml: &str,
    extent: &Extent,
    date_stamp: DateTime<Utc>,
) -> Result<String, RecordError> {
    let mut root = parse_record(series_xml.as_bytes(), &TreeLimits::default())?;
    if main_ident_index(&root).is_none() {
        return Err(RecordError::Missing("MD_DataIdentification"));
    }
    let wanted = (!extent.is_empty()).then(|| (fmt_pos(extent.start), fmt_pos(extent.end)));
    if current_time(&root) == wanted {
        return Ok(series_xml.to_string());
    }
    set_time(&mut root, extent)?;
    set_date_stamp(&mut root, &date_stamp)?;
    crate::sanitize::sanitize(&mut root);
    Ok(tree::serialize(&root, 1))
}
