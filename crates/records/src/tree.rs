//! A generic, namespace-resolved element tree: parsed with quick-xml (bounded size, depth and
//! element count; DTDs never expanded) and re-serialised with this crate's escaping writer.
//!
//! Elements are identified by namespace URI and local name, never by the prefix a server
//! chose. On output, known namespaces get their conventional prefixes (`gmd`, `gco`, …) and
//! any other namespace a generated `nsN` prefix, all declared on the root element. Comments,
//! processing instructions and `xsi:schemaLocation` hints are not carried over.

use std::collections::BTreeMap;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::RecordError;
use crate::writer::{escape_attr_into, escape_text_into};

/// ISO 19139 metadata namespace.
pub const GMD: &str = "http://www.isotc211.org/2005/gmd";
/// ISO 19139 common types.
pub const GCO: &str = "http://www.isotc211.org/2005/gco";
/// ISO 19115-2 imagery/gridded extensions.
pub const GMI: &str = "http://www.isotc211.org/2005/gmi";
/// GML 3.2 (the version the ISO 19139 schemas import).
pub const GML: &str = "http://www.opengis.net/gml/3.2";
/// ISO 19139 services.
pub const SRV: &str = "http://www.isotc211.org/2005/srv";
/// ISO 19139 extended types.
pub const GMX: &str = "http://www.isotc211.org/2005/gmx";
/// XLink.
pub const XLINK: &str = "http://www.w3.org/1999/xlink";
/// XML Schema instance.
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The `xml:` namespace (never declared).
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

const KNOWN: &[(&str, &str)] = &[
    (GMI, "gmi"),
    (GMD, "gmd"),
    (GCO, "gco"),
    (GML, "gml"),
    (SRV, "srv"),
    (GMX, "gmx"),
    ("http://www.isotc211.org/2005/gsr", "gsr"),
    ("http://www.isotc211.org/2005/gss", "gss"),
    ("http://www.isotc211.org/2005/gts", "gts"),
    (XLINK, "xlink"),
    (XSI, "xsi"),
];

/// The conventional prefix of a namespace this crate knows.
pub fn prefix_for(ns: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(u, _)| *u == ns).map(|(_, p)| *p)
}

/// The namespace of a conventional prefix.
pub fn ns_for(prefix: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(_, p)| *p == prefix).map(|(u, _)| *u)
}

/// Bounds for parsing untrusted records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Maximum document size in bytes.
    pub max_bytes: usize,
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements.
    pub max_elements: usize,
}

impl Default for TreeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 128,
            max_elements: 500_000,
        }
    }
}

/// An attribute, namespace-resolved (`ns` empty when unqualified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Namespace URI ("" for none).
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Unescaped value.
    pub value: String,
}

/// A child node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Character data (unescaped).
    Text(String),
}

/// An element, namespace-resolved (`ns` empty when in no namespace).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Attributes (namespace declarations excluded).
    pub attrs: Vec<Attr>,
    /// Children in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// A new empty element.
    pub fn new(ns: &str, local: &str) -> Self {
        Self {
            ns: ns.into(),
            local: local.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Whether this is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// Child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Child elements, mutable.
    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, local))
    }

    /// First child element `{ns}local`, mutable.
    pub fn child_mut(&mut self, ns: &str, local: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.is(ns, local))
    }

    /// The first child element whatever its name.
    pub fn first_element(&self) -> Option<&Element> {
        self.elements().next()
    }

    /// Follows a path of gmd/gco/… children (`(ns, local)` pairs), first match at each step.
    pub fn path(&self, steps: &[(&str, &str)]) -> Option<&Element> {
        let mut cur = self;
        for (ns, local) in steps {
            cur = cur.child(ns, local)?;
        }
        Some(cur)
    }

    /// Attribute value by namespace and local name.
    pub fn attr(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Concatenated text of this element and its descendants.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.collect_text(&mut s, 0);
        s
    }

    fn collect_text(&self, out: &mut String, depth: usize) {
        if depth > 256 {
            return;
        }
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out, depth + 1),
            }
        }
    }

    /// Removes child elements matching `pred`; returns how many were removed.
    pub fn remove_children(&mut self, pred: impl Fn(&Element) -> bool) -> usize {
        let before = self.children.len();
        self.children
            .retain(|n| !matches!(n, Node::Element(e) if pred(e)));
        before - self.children.len()
    }

    /// Inserts `new` among the children so that the order given by `order` (local names in
    /// schema sequence order) is kept: after every child whose name comes before or equals
    /// `new`'s in `order`. Children not in `order` are treated as coming first.
    pub fn insert_ordered(&mut self, new: Element, order: &[&str]) {
        let rank = |local: &str| order.iter().position(|o| *o == local);
        let Some(r) = rank(&new.local) else {
            self.children.push(Node::Element(new));
            return;
        };
        let mut pos = 0;
        for (i, n) in self.children.iter().enumerate() {
            if let Node::Element(e) = n {
                match rank(&e.local) {
                    Some(er) if er > r => break,
                    _ => pos = i + 1,
                }
            }
        }
        self.children.insert(pos, Node::Element(new));
    }

    /// Visits every element of the subtree (pre-order), bounded depth.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Element)) {
        self.walk_d(f, 0);
    }

    fn walk_d<'a>(&'a self, f: &mut impl FnMut(&'a Element), depth: usize) {
        if depth > 256 {
            return;
        }
        f(self);
        for e in self.elements() {
            e.walk_d(f, depth + 1);
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{B7}')
}

/// Whether `s` is a valid XML NCName (conservative: letters, digits, `_ - .`).
pub fn is_ncname(s: &str) -> bool {
    let mut it = s.chars();
    match it.next() {
        Some(c) if is_name_start(c) => it.all(is_name_char),
        _ => false,
    }
}

fn xml_err(reader: &NsReader<&[u8]>, msg: impl std::fmt::Display) -> RecordError {
    RecordError::Xml {
        position: usize::try_from(reader.error_position()).unwrap_or(usize::MAX),
        message: msg.to_string(),
    }
}

fn resolve_ns(r: &ResolveResult<'_>) -> Result<String, String> {
    match r {
        ResolveResult::Bound(n) => Ok(n.0.to_string()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(format!("undeclared namespace prefix {p:?}")),
    }
}

fn start_element(reader: &NsReader<&[u8]>, e: &BytesStart<'_>) -> Result<Element, RecordError> {
    let resolver = reader.resolver();
    let (ns, local) = resolver.resolve_element(e.name());
    let ns = resolve_ns(&ns).map_err(|m| xml_err(reader, m))?;
    let local: &str = local.into_inner();
    if !is_ncname(local) {
        return Err(xml_err(reader, format!("invalid element name {local:?}")));
    }
    let mut el = Element::new(&ns, local);
    for a in e.attributes() {
        let a = a.map_err(|err| xml_err(reader, err))?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let (ans, alocal) = resolver.resolve_attribute(a.key);
        let ans = resolve_ns(&ans).map_err(|m| xml_err(reader, m))?;
        let alocal: &str = alocal.into_inner();
        if !is_ncname(alocal) {
            return Err(xml_err(
                reader,
                format!("invalid attribute name {alocal:?}"),
            ));
        }
        if ans == XSI && (alocal == "schemaLocation" || alocal == "noNamespaceSchemaLocation") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| xml_err(reader, err))?
            .into_owned();
        if el.attrs.iter().any(|x| x.ns == ans && x.local == alocal) {
            return Err(xml_err(reader, format!("duplicate attribute {alocal:?}")));
        }
        el.attrs.push(Attr {
            ns: ans,
            local: alocal.to_string(),
            value,
        });
    }
    Ok(el)
}

fn push_text(stack: &mut [Element], s: &str) {
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Text(t)) = top.children.last_mut() {
            t.push_str(s);
        } else {
            top.children.push(Node::Text(s.to_string()));
        }
    }
}

/// Parses a document into its root element. Text outside the root is ignored; a DOCTYPE is
/// skipped without expanding anything (undeclared entity references are an error).
pub fn parse(xml: &[u8], limits: &TreeLimits) -> Result<Element, RecordError> {
    if xml.len() > limits.max_bytes {
        return Err(RecordError::TooLarge {
            size: xml.len(),
            max: limits.max_bytes,
        });
    }
    let bytes = xml.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(xml);
    let text = std::str::from_utf8(bytes).map_err(|e| RecordError::Xml {
        position: e.valid_up_to(),
        message: "not UTF-8".into(),
    })?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    loop {
        let ev = reader.read_event().map_err(|e| xml_err(&reader, e))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(RecordError::TooManyElements {
                        max: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(RecordError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                let el = start_element(&reader, e)?;
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(top) => top.children.push(Node::Element(el)),
                        None => return Ok(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(xml_err(&reader, "unexpected end tag"));
                };
                match stack.last_mut() {
                    Some(top) => top.children.push(Node::Element(done)),
                    None => return Ok(done),
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(ch)) = r.resolve_char_ref() {
                    push_text(&mut stack, ch.encode_utf8(&mut [0u8; 4]));
                } else {
                    let name: &str = &r;
                    match quick_xml::escape::resolve_predefined_entity(name) {
                        Some(v) => push_text(&mut stack, v),
                        None => {
                            return Err(xml_err(&reader, format!("undeclared entity &{name};")));
                        }
                    }
                }
            }
            Event::Eof => {
                return Err(RecordError::Xml {
                    position: text.len(),
                    message: "no complete root element".into(),
                });
            }
            Event::DocType(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
}

/// Drops whitespace-only text nodes of elements that have element children (indentation).
pub fn strip_indentation(e: &mut Element) {
    strip_d(e, 0);
}

fn strip_d(e: &mut Element, depth: usize) {
    if depth > 256 {
        return;
    }
    if e.elements().next().is_some() {
        e.children
            .retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
    }
    for c in e.elements_mut() {
        strip_d(c, depth + 1);
    }
}

fn collect_ns(e: &Element, out: &mut BTreeMap<String, String>, next: &mut usize, depth: usize) {
    if depth > 256 {
        return;
    }
    let mut add = |ns: &str| {
        if ns.is_empty() || ns == XML_NS || out.contains_key(ns) {
            return;
        }
        let p = match KNOWN.iter().find(|(u, _)| *u == ns) {
            Some((_, p)) => (*p).to_string(),
            None => {
                *next += 1;
                format!("ns{next}")
            }
        };
        out.insert(ns.to_string(), p);
    };
    add(&e.ns);
    for a in &e.attrs {
        add(&a.ns);
    }
    for c in e.elements() {
        collect_ns(c, out, next, depth + 1);
    }
}

/// Serialises a tree with an XML declaration, namespace declarations on the root.
/// `newline_depth`: put a line break before each child element down to this depth (1 = the
/// root's children), for a little readability.
pub fn serialize(root: &Element, newline_depth: usize) -> String {
    let mut prefixes = BTreeMap::new();
    let mut next = 0;
    collect_ns(root, &mut prefixes, &mut next, 0);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_el(root, &prefixes, &mut out, true, 0, newline_depth, false);
    out.push('\n');
    out
}

/// Serialises a tree indented by two spaces per level (elements holding text stay on one line).
pub fn serialize_pretty(root: &Element) -> String {
    let mut prefixes = BTreeMap::new();
    let mut next = 0;
    collect_ns(root, &mut prefixes, &mut next, 0);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_el(root, &prefixes, &mut out, true, 0, usize::MAX, true);
    out.push('\n');
    out
}

fn qname(ns: &str, local: &str, prefixes: &BTreeMap<String, String>) -> String {
    if ns.is_empty() {
        return local.to_string();
    }
    if ns == XML_NS {
        return format!("xml:{local}");
    }
    match prefixes.get(ns) {
        Some(p) => format!("{p}:{local}"),
        None => local.to_string(),
    }
}

fn write_el(
    e: &Element,
    prefixes: &BTreeMap<String, String>,
    out: &mut String,
    root: bool,
    depth: usize,
    nl: usize,
    indent: bool,
) {
    if depth > 256 {
        return;
    }
    let name = qname(&e.ns, &e.local, prefixes);
    out.push('<');
    out.push_str(&name);
    if root {
        // Known prefixes in a fixed order, then generated ones.
        let mut decls: Vec<(&String, &String)> = prefixes.iter().collect();
        decls.sort_by_key(|(u, p)| {
            (
                KNOWN.iter().position(|(k, _)| k == u).unwrap_or(usize::MAX),
                (*p).clone(),
            )
        });
        for (u, p) in decls {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
            escape_attr_into(out, u);
            out.push('"');
        }
    }
    for a in &e.attrs {
        out.push(' ');
        out.push_str(&qname(&a.ns, &a.local, prefixes));
        out.push_str("=\"");
        escape_attr_into(out, &a.value);
        out.push('"');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    let mut had_el = false;
    let has_text = e.children.iter().any(|n| matches!(n, Node::Text(_)));
    for n in &e.children {
        match n {
            Node::Text(t) => escape_text_into(out, t),
            Node::Element(c) => {
                if depth < nl && !has_text {
                    out.push('\n');
                    if indent {
                        out.push_str(&"  ".repeat(depth + 1));
                    }
                    had_el = true;
                }
                write_el(c, prefixes, out, false, depth + 1, nl, indent);
            }
        }
    }
    if had_el {
        out.push('\n');
        if indent {
            out.push_str(&"  ".repeat(depth));
        }
    }
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

/// Parses a fragment written by this crate (already escaped; wrapped in a root declaring the
/// usual prefixes) and returns its child elements.
pub fn parse_fragment(fragment: &str) -> Result<Vec<Element>, RecordError> {
    let mut doc = String::with_capacity(fragment.len() + 400);
    doc.push_str("<wrap");
    for (u, p) in KNOWN {
        doc.push_str(" xmlns:");
        doc.push_str(p);
        doc.push_str("=\"");
        doc.push_str(u);
        doc.push('"');
    }
    doc.push('>');
    doc.push_str(fragment);
    doc.push_str("</wrap>");
    let mut root = parse(doc.as_bytes(), &TreeLimits::default())?;
    strip_indentation(&mut root);
    Ok(root
        .children
        .into_iter()
        .filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_rewrites_prefixes() {
        let xml = br#"<?xml version="1.0"?><!DOCTYPE x><a:MD_Metadata xmlns:a="http://www.isotc211.org/2005/gmd" xmlns:q="urn:x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x y"><!-- c --><a:b q:z="1&amp;2">t&lt;&#65;</a:b><q:c/></a:MD_Metadata>"#;
        let mut t = parse(xml, &TreeLimits::default()).unwrap();
        strip_indentation(&mut t);
        let s = serialize(&t, 0);
        assert!(s.contains("<gmd:MD_Metadata xmlns:gmd=\"http://www.isotc211.org/2005/gmd\" xmlns:ns1=\"urn:x\">"), "{s}");
        assert!(
            s.contains("<gmd:b ns1:z=\"1&amp;2\">t&lt;A</gmd:b><ns1:c/>"),
            "{s}"
        );
        assert!(!s.contains("schemaLocation"));
    }

    #[test]
    fn rejects_entities_depth_and_bad_prefixes() {
        let xml = br#"<!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>"#;
        assert!(parse(xml, &TreeLimits::default()).is_err());
        let deep = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        assert!(matches!(
            parse(deep.as_bytes(), &TreeLimits::default()),
            Err(RecordError::TooDeep { .. })
        ));
        assert!(parse(b"<x:a/>", &TreeLimits::default()).is_err());
        assert!(parse(b"<a>", &TreeLimits::default()).is_err());
        assert!(parse(b"", &TreeLimits::default()).is_err());
        let lim = TreeLimits {
            max_bytes: 10,
            ..Default::default()
        };
        assert!(matches!(
            parse(b"<a>0123456789</a>", &lim),
            Err(RecordError::TooLarge { .. })
        ));
    }

    #[test]
    fn insert_ordered_keeps_sequence() {
        let mut e = Element::new("", "r");
        for n in ["a", "c", "c", "e"] {
            e.children.push(Node::Element(Element::new("", n)));
        }
        e.insert_ordered(Element::new("", "d"), &["a", "b", "c", "d", "e"]);
        e.insert_ordered(Element::new("", "b"), &["a", "b", "c", "d", "e"]);
        let names: Vec<_> = e.elements().map(|x| x.local.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "c", "d", "e"]);
    }
}
