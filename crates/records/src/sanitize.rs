//! Schema-driven clean-up of records built from server documents.
//!
//! Walking the tree with the content models of the ISO 19139 / 19115-2 schemas
//! ([`crate::schema_table`], generated from the stored XSDs), every element's children are put
//! in schema order; children the schema does not allow there, extra occurrences of
//! single-valued properties and unknown attributes are dropped; missing mandatory properties
//! are added as `gco:nilReason="missing"`; basic `gco` values (Boolean, Integer, Decimal, Real,
//! Date, DateTime) that are not lexically valid are replaced by `gco:nilReason="unknown"`; ID
//! attributes are made unique NCNames. GML content (time periods, points) is kept as is.

use std::collections::HashSet;

use crate::schema_table::{ELEMENTS, TYPES};
use crate::tree::{self, Attr, Element, GCO, Node, XSI};
use crate::writer::safe_uri;

/// One particle of a content model.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Qualified name (`gmd:citation`) of a local element, or of the referenced global
    /// element (substitution group head) when `is_ref`.
    pub name: &'static str,
    /// Type of a local element.
    pub ty: &'static str,
    /// minOccurs >= 1.
    pub required: bool,
    /// maxOccurs > 1.
    pub many: bool,
    /// An element reference (substitution group) rather than a local element.
    pub is_ref: bool,
    /// Position in the sequence (choice alternatives share a rank).
    pub rank: u16,
}

/// A named complex type.
#[derive(Debug)]
pub(crate) struct TypeDef {
    /// Qualified type name.
    pub name: &'static str,
    /// Simple content (text only).
    pub simple: bool,
    /// Attributes could not all be resolved: keep every attribute.
    pub any_attr: bool,
    /// Allowed attributes (`id`, `gco:nilReason`, `xlink:href`, …).
    pub attrs: &'static [&'static str],
    /// Content model.
    pub slots: &'static [Slot],
}

fn type_def(name: &str) -> Option<&'static TypeDef> {
    TYPES
        .binary_search_by(|t| t.name.cmp(name))
        .ok()
        .and_then(|i| TYPES.get(i))
}

fn element_def(qname: &str) -> Option<(&'static str, &'static str)> {
    ELEMENTS
        .binary_search_by(|e| e.0.cmp(qname))
        .ok()
        .and_then(|i| ELEMENTS.get(i))
        .map(|e| (e.1, e.2))
}

fn qname(ns: &str, local: &str) -> Option<String> {
    tree::prefix_for(ns).map(|p| format!("{p}:{local}"))
}

fn prefix(q: &str) -> &str {
    q.split_once(':').map_or("", |(p, _)| p)
}

/// Whether element `child` may stand where `head` is referenced (substitution groups).
fn substitutes(child: &str, head: &str) -> bool {
    if element_def(head).is_none() {
        // A namespace outside the table (GML): accept any element of that namespace.
        return prefix(child) == prefix(head);
    }
    let mut cur = child.to_string();
    for _ in 0..32 {
        if cur == head {
            return true;
        }
        match element_def(&cur) {
            Some((_, h)) if !h.is_empty() => cur = h.to_string(),
            _ => return false,
        }
    }
    false
}

fn attr_allowed(td: &TypeDef, a: &Attr) -> bool {
    if td.any_attr {
        return a.ns != XSI || a.local == "nil";
    }
    if a.ns.is_empty() {
        return td.attrs.contains(&a.local.as_str());
    }
    qname(&a.ns, &a.local).is_some_and(|q| td.attrs.contains(&q.as_str()))
}

fn nil(el: &mut Element, reason: &str) {
    el.children.clear();
    el.attrs
        .retain(|a| !(a.ns == GCO && a.local == "nilReason"));
    el.attrs.push(Attr {
        ns: GCO.into(),
        local: "nilReason".into(),
        value: reason.into(),
    });
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    match s.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() || is_digits(a))
                && (b.is_empty() || is_digits(b))
                && !(a.is_empty() && b.is_empty())
        }
        None => is_digits(s),
    }
}

fn valid_double(s: &str) -> bool {
    if matches!(s, "INF" | "-INF" | "NaN") {
        return true;
    }
    match s.split_once(['e', 'E']) {
        Some((m, e)) => valid_decimal(m) && is_digits(e.strip_prefix(['+', '-']).unwrap_or(e)),
        None => valid_decimal(s),
    }
}

fn valid_date(s: &str) -> bool {
    let body = s.strip_suffix('Z').unwrap_or(s);
    let parts: Vec<&str> = body.split('-').collect();
    match parts.as_slice() {
        [y] => y.len() >= 4 && is_digits(y),
        [y, m] => y.len() >= 4 && is_digits(y) && m.len() == 2 && is_digits(m),
        [y, m, d] => {
            chrono::NaiveDate::parse_from_str(&format!("{y}-{m}-{d}"), "%Y-%m-%d").is_ok()
                && y.len() == 4
        }
        _ => false,
    }
}

fn valid_datetime(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
}

/// Lexical check of basic gco values; None for elements not checked.
fn value_ok(q: &str, text: &str) -> Option<bool> {
    let t = text.trim();
    Some(match q {
        "gco:Boolean" => matches!(t, "true" | "false" | "1" | "0"),
        "gco:Integer" => is_digits(t.strip_prefix(['+', '-']).unwrap_or(t)),
        "gco:Decimal" => valid_decimal(t),
        "gco:Real" => valid_double(t),
        "gco:Date" => valid_date(t),
        "gco:DateTime" => valid_datetime(t),
        _ => return None,
    })
}

/// Cleans `el`, whose schema type is `ty`.
fn clean(el: &mut Element, ty: &str, depth: usize) {
    if depth > 200 {
        el.children.clear();
        return;
    }
    fix_attr_values(el);
    if ty.starts_with("xs:") {
        if ty == "xs:anyURI" {
            let uri = safe_uri(&el.text());
            el.children = if uri.is_empty() {
                Vec::new()
            } else {
                vec![Node::Text(uri)]
            };
        } else {
            el.children.retain(|n| matches!(n, Node::Text(_)));
        }
        el.attrs.clear();
        return;
    }
    let Some(td) = type_def(ty) else { return };
    el.attrs.retain(|a| attr_allowed(td, a));
    if td.simple {
        el.children.retain(|n| matches!(n, Node::Text(_)));
        return;
    }
    let mut counts = vec![0usize; td.slots.len()];
    let mut placed: Vec<(u16, Element)> = Vec::new();
    let mut invalid_value = false;
    for n in std::mem::take(&mut el.children) {
        let Node::Element(mut c) = n else { continue };
        let Some(cq) = qname(&c.ns, &c.local) else {
            continue;
        };
        let found = td.slots.iter().enumerate().find(|(_, s)| {
            if s.is_ref {
                substitutes(&cq, s.name)
            } else {
                s.name == cq
            }
        });
        let Some((i, s)) = found else { continue };
        if let Some(n) = counts.get_mut(i) {
            if *n >= 1 && !s.many {
                continue;
            }
            *n += 1;
        }
        if let Some(false) = value_ok(&cq, &c.text()) {
            invalid_value = true;
            continue;
        }
        let child_ty = if s.is_ref {
            element_def(&cq).map_or("", |d| d.0)
        } else {
            s.ty
        };
        clean(&mut c, child_ty, depth + 1);
        placed.push((s.rank, c));
    }
    for (i, s) in td.slots.iter().enumerate() {
        if s.required && !s.is_ref && counts.get(i) == Some(&0) {
            let nil_ok =
                type_def(s.ty).is_some_and(|t| t.any_attr || t.attrs.contains(&"gco:nilReason"));
            let (p, local) = s.name.split_once(':').unwrap_or(("", s.name));
            if let (true, Some(ns)) = (nil_ok, tree::ns_for(p)) {
                let mut m = Element::new(ns, local);
                nil(&mut m, "missing");
                placed.push((s.rank, m));
            }
        }
    }
    placed.sort_by_key(|(r, _)| *r);
    el.children = placed.into_iter().map(|(_, c)| Node::Element(c)).collect();
    if invalid_value && el.children.is_empty() && td.attrs.contains(&"gco:nilReason") {
        nil(el, "unknown");
    }
}

/// Makes URI-typed attribute values valid `xs:anyURI` and `uom` values valid GML unit
/// identifiers.
fn fix_attr_values(el: &mut Element) {
    for a in &mut el.attrs {
        let uri_typed = (a.ns.is_empty()
            && matches!(a.local.as_str(), "codeList" | "codeListValue" | "codeSpace"))
            || (a.ns == tree::XLINK && matches!(a.local.as_str(), "href" | "role" | "arcrole"))
            || (a.ns == GCO && a.local == "nilReason");
        if uri_typed {
            a.value = safe_uri(&a.value);
        } else if a.ns.is_empty() && a.local == "uom" {
            let is_uri = a.value.split_once(':').is_some_and(|(s, _)| {
                s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            });
            a.value = if is_uri {
                safe_uri(&a.value)
            } else {
                let v: String = a
                    .value
                    .trim()
                    .chars()
                    .map(|c| {
                        if matches!(c, ':' | ' ' | '\n' | '\r' | '\t') {
                            '_'
                        } else {
                            c
                        }
                    })
                    .collect();
                if v.is_empty() { "unknown".into() } else { v }
            };
        }
    }
}

/// GML 3.1's namespace (older documents; ISO 19139 uses GML 3.2, [`tree::GML`]).
const GML_31: &str = "http://www.opengis.net/gml";

/// Whether an attribute is an XML ID (`xs:ID`): the unprefixed `id` of the ISO types
/// (`gco:ObjectIdentification`), `gml:id` (GML 3.2 or 3.1) or `xml:id`.
fn is_id_attr(a: &Attr) -> bool {
    a.local == "id"
        && (a.ns.is_empty() || a.ns == tree::GML || a.ns == GML_31 || a.ns == tree::XML_NS)
}

/// Prepares a record to be embedded as record number `n` of a larger document, such as a CSW
/// answer holding several records: its XML IDs are first made valid and unique within the
/// record (as the record sanitiser does), then every ID gets the suffix `-r{n}` and same-document
/// references (`xlink:href="#…"`) follow. Records embedded with different `n` never share an
/// ID (an ID ending in `-r{n}` cannot end in `-r{m}` for another number `m`), so the whole
/// document stays valid whatever records it holds (ncISO records all carry
/// `id="DataIdentification"`, synthesised ones `gml:id="extent-time"`); each record stays valid
/// on its own.
pub fn embed_ids(root: &mut Element, n: usize) {
    fix_ids(root);
    let suffix = format!("-r{n}");
    suffix_ids(root, &suffix, 0);
}

fn suffix_ids(el: &mut Element, suffix: &str, depth: usize) {
    if depth > 256 {
        return;
    }
    for a in &mut el.attrs {
        let reference = a.local == "href" && a.ns == tree::XLINK && a.value.starts_with('#');
        if is_id_attr(a) || reference {
            a.value.push_str(suffix);
        }
    }
    for c in el.elements_mut() {
        suffix_ids(c, suffix, depth + 1);
    }
}

/// Makes `id` / `gml:id` values unique NCNames: invalid or duplicate plain `id`s are dropped,
/// invalid or duplicate `gml:id`s (required by GML) renamed.
fn fix_ids(root: &mut Element) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut counter = 0usize;
    fix_ids_d(root, &mut seen, &mut counter, 0);
}

fn fix_ids_d(el: &mut Element, seen: &mut HashSet<String>, counter: &mut usize, depth: usize) {
    if depth > 256 {
        return;
    }
    let mut keep = Vec::with_capacity(el.attrs.len());
    for mut a in std::mem::take(&mut el.attrs) {
        if is_id_attr(&a) && (!tree::is_ncname(&a.value) || seen.contains(&a.value)) {
            if a.ns.is_empty() {
                continue;
            }
            loop {
                *counter += 1;
                let cand = format!("gid{counter}");
                if !seen.contains(&cand) {
                    a.value = cand;
                    break;
                }
            }
        }
        if is_id_attr(&a) {
            seen.insert(a.value.clone());
        }
        keep.push(a);
    }
    el.attrs = keep;
    for c in el.elements_mut() {
        fix_ids_d(c, seen, counter, depth + 1);
    }
}

/// Cleans a whole record (root `gmd:MD_Metadata` or `gmi:MI_Metadata`).
pub(crate) fn sanitize(root: &mut Element) {
    let ty = qname(&root.ns, &root.local)
        .and_then(|q| element_def(&q))
        .map_or("", |d| d.0);
    clean(root, ty, 0);
    fix_ids(root);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{TreeLimits, parse, serialize, strip_indentation};

    #[test]
    fn tables_are_sorted() {
        assert!(TYPES.windows(2).all(|w| w[0].name < w[1].name));
        assert!(ELEMENTS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(type_def("gmd:MD_Metadata_Type").is_some());
        assert!(substitutes("gmd:LanguageCode", "gco:CharacterString"));
        assert!(substitutes("gmi:MI_Metadata", "gmd:MD_Metadata"));
        assert!(substitutes("gml:TimePeriod", "gml:AbstractTimePrimitive"));
        assert!(!substitutes("gmd:MD_Metadata", "gco:CharacterString"));
    }

    #[test]
    fn values() {
        assert_eq!(value_ok("gco:Decimal", " .0 "), Some(true));
        assert_eq!(value_ok("gco:Decimal", "1e5"), Some(false));
        assert_eq!(value_ok("gco:Real", "1e5"), Some(true));
        assert_eq!(value_ok("gco:Boolean", "yes"), Some(false));
        assert_eq!(value_ok("gco:Date", "2020-02-30"), Some(false));
        assert_eq!(value_ok("gco:Date", "2020-02"), Some(true));
        assert_eq!(value_ok("gco:DateTime", "2020-02-01T00:00:00Z"), Some(true));
        assert_eq!(value_ok("gco:CharacterString", "x"), None);
    }

    #[test]
    fn embedded_ids_are_unique_per_record_and_valid() {
        let xml = br##"<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:old="http://www.opengis.net/gml" xmlns:xlink="http://www.w3.org/1999/xlink">
          <gmd:identificationInfo><gmd:MD_DataIdentification id="DataIdentification">
            <gmd:extent id="x"><gmd:EX_Extent id="x"/></gmd:extent>
            <gml:TimePeriod gml:id="t"/><gml:TimeInstant gml:id="t"/><old:Point old:id="1bad"/>
            <gmd:aggregationInfo xlink:href="#DataIdentification"/><gmd:other xlink:href="http://x/#a"/>
          </gmd:MD_DataIdentification></gmd:identificationInfo>
        </gmd:MD_Metadata>"##;
        let mut one = parse(xml, &TreeLimits::default()).unwrap();
        let mut two = one.clone();
        embed_ids(&mut one, 1);
        embed_ids(&mut two, 12);
        let (a, b) = (serialize(&one, 0), serialize(&two, 0));
        let ids = |s: &str| -> Vec<String> {
            let root = parse(s.as_bytes(), &TreeLimits::default()).unwrap();
            let mut out = Vec::new();
            root.walk(&mut |e| {
                out.extend(
                    e.attrs
                        .iter()
                        .filter(|a| is_id_attr(a))
                        .map(|a| a.value.clone()),
                );
            });
            out
        };
        let (ia, ib) = (ids(&a), ids(&b));
        assert_eq!(ia.len(), 5, "{a}");
        assert!(
            ia.iter().all(|i| tree::is_ncname(i) && i.ends_with("-r1")),
            "{ia:?}"
        );
        assert!(ib.iter().all(|i| i.ends_with("-r12")), "{ib:?}");
        let all: HashSet<&String> = ia.iter().chain(&ib).collect();
        assert_eq!(
            all.len(),
            ia.len() + ib.len(),
            "unique across records: {ia:?} {ib:?}"
        );
        assert!(a.contains("id=\"DataIdentification-r1\""), "{a}");
        assert!(a.contains("xlink:href=\"#DataIdentification-r1\""), "{a}");
        assert!(a.contains("xlink:href=\"http://x/#a\""), "{a}");
    }

    #[test]
    fn reorders_drops_and_fills() {
        let xml = br#"<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco" xmlns:x="urn:x" bogus="1">
          <gmd:dateStamp><gco:Date>2020-01-01</gco:Date></gmd:dateStamp>
          <x:junk/>
          <gmd:fileIdentifier><gco:CharacterString>a</gco:CharacterString></gmd:fileIdentifier>
          <gmd:fileIdentifier><gco:CharacterString>b</gco:CharacterString></gmd:fileIdentifier>
          <gmd:identificationInfo><gmd:MD_DataIdentification id="1bad"><gmd:abstract><gco:CharacterString>x</gco:CharacterString></gmd:abstract>
            <gmd:language><gco:CharacterString>eng</gco:CharacterString></gmd:language></gmd:MD_DataIdentification></gmd:identificationInfo>
        </gmd:MD_Metadata>"#;
        let mut root = parse(xml, &TreeLimits::default()).unwrap();
        strip_indentation(&mut root);
        sanitize(&mut root);
        let s = serialize(&root, 0);
        let fi = s.find("fileIdentifier").unwrap();
        assert!(fi < s.find("dateStamp").unwrap());
        assert!(
            !s.contains("junk")
                && !s.contains("bogus")
                && !s.contains(">b<")
                && !s.contains("1bad")
        );
        assert!(
            s.contains("<gmd:contact gco:nilReason=\"missing\"/>"),
            "{s}"
        );
        assert!(
            s.contains("<gmd:citation gco:nilReason=\"missing\"/><gmd:abstract>"),
            "{s}"
        );
    }
}
