//! Granule-level records, derived on demand from the collection's series record.

use threddex_store::{AccessService, Granule};

use crate::input::encode_query;
use crate::iso::{self, DISTRIBUTION_ORDER};
use crate::ncis::{
    frag, parse_record, replace_root, set_citation, set_hierarchy, set_string, set_time,
};
use crate::tree::{self, Element, GMD, Node, TreeLimits};
use crate::{Extent, RecordError};

fn transfer_options(
    granule: &Granule,
    services: &[AccessService],
) -> Result<Vec<Element>, RecordError> {
    let catalog = (!granule.catalog_url.trim().is_empty()).then(|| {
        let sep = if granule.catalog_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}dataset={}",
            granule.catalog_url,
            encode_query(&granule.granule_id)
        )
    });
    frag(|w| {
        w.start("gmd:transferOptions", &[])
            .start("gmd:MD_DigitalTransferOptions", &[]);
        if let Some(size) = granule.size.filter(|s| *s >= 0) {
            w.string("gmd:unitsOfDistribution", "MB");
            #[allow(clippy::cast_precision_loss)]
            let mb = size as f64 / 1.0e6;
            w.start("gmd:transferSize", &[])
                .leaf("gco:Real", &[], &crate::writer::fmt_decimal(mb))
                .end();
        }
        iso::granule_links(w, granule.url_path.as_deref(), services, catalog.as_deref());
        w.end().end();
    })
}

/// The record of one granule: the series record (synthesised or from ncISO) with the granule's
/// identifier (`fileIdentifier` and citation identifier = the granule ID, `parentIdentifier` =
/// the collection ID), title (its name), time extent and access links (one per service:
/// base + urlPath + suffix, plus its catalog entry), `hierarchyLevel` = `dataset`.
pub fn granule_record(
    series_xml: &str,
    granule: &Granule,
    services: &[AccessService],
) -> Result<String, RecordError> {
    let mut root = parse_record(series_xml.as_bytes(), &TreeLimits::default())?;
    let series_id = root
        .path(&[(GMD, "fileIdentifier")])
        .map(Element::text)
        .unwrap_or_default();
    let parent = if granule.collection_id.trim().is_empty() {
        series_id
    } else {
        granule.collection_id.clone()
    };
    let mut fid = Element::new(GMD, "fileIdentifier");
    set_string(&mut fid, &granule.granule_id);
    replace_root(&mut root, "fileIdentifier", vec![fid]);
    let mut pid = Element::new(GMD, "parentIdentifier");
    set_string(&mut pid, parent.trim());
    replace_root(&mut root, "parentIdentifier", vec![pid]);
    set_hierarchy(&mut root, "dataset", "granule")?;
    let title = if granule.name.trim().is_empty() {
        &granule.granule_id
    } else {
        &granule.name
    };
    set_citation(&mut root, title, &granule.granule_id, None)?;
    set_time(
        &mut root,
        &Extent::new(granule.start, granule.end.or(granule.start)),
    )?;

    let options = transfer_options(granule, services)?;
    let has_dist = root.elements().any(|e| e.is(GMD, "distributionInfo"));
    if !has_dist {
        let mut di = Element::new(GMD, "distributionInfo");
        di.children
            .push(Node::Element(Element::new(GMD, "MD_Distribution")));
        replace_root(&mut root, "distributionInfo", vec![di]);
    }
    let mut first = true;
    for di in root
        .elements_mut()
        .filter(|e| e.is(GMD, "distributionInfo"))
    {
        let Some(md) = di.child_mut(GMD, "MD_Distribution") else {
            continue;
        };
        md.remove_children(|e| e.is(GMD, "transferOptions"));
        for d in md.elements_mut().filter(|e| e.is(GMD, "distributor")) {
            for dd in d.elements_mut() {
                dd.remove_children(|e| e.is(GMD, "distributorTransferOptions"));
            }
        }
        if first {
            for o in options.iter() {
                md.insert_ordered(o.clone(), DISTRIBUTION_ORDER);
            }
            first = false;
        }
    }
    crate::sanitize::sanitize(&mut root);
    Ok(tree::serialize(&root, 1))
}
