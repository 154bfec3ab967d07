//! Streaming parser: quick-xml `NsReader` events -> [`Catalog`] tree.
//!
//! Elements are matched by namespace URI (never by prefix). Unknown elements, elements of other
//! namespaces and server-side configuration elements (`datasetScan`, `featureCollection`, ...)
//! are skipped with their whole subtree. DTDs are ignored and never expanded; references to
//! undeclared entities are kept literally (`&name;`).

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};
use url::Url;

mod attrs;
mod end;
mod start;

use crate::dynamic;
use crate::error::{DEPTH_CEILING, Limits, ParseError, line_col};
use crate::geo::{GeospatialCoverage, Range};
use crate::model::*;
use crate::time::{DateValue, TimeCoverage, TimeDuration, parse_date};
use crate::units::DataSize;
use attrs::{A, pick};

/// THREDDS InvCatalog namespace URI (1.0 and 1.2 share it).
pub const THREDDS_NS: &str = "http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0";
/// XLink namespace URI.
pub const XLINK_NS: &str = "http://www.w3.org/1999/xlink";

const MAX_WARNINGS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Txt {
    ServiceName,
    DataType,
    DataFormat,
    Authority,
    DataSize,
    AccessDataSize,
    Date,
    Documentation,
    Keyword,
    Project,
    Contributor,
    SourceName,
    TcStart,
    TcEnd,
    TcDuration,
    TcResolution,
    AxStart,
    AxSize,
    AxResolution,
    AxUnits,
    GeoName,
    Variable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    NorthSouth,
    EastWest,
    UpDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Catalog,
    Service,
    Dataset,
    CatalogRef,
    Access,
    Metadata,
    Source,
    TimeCoverage,
    Geo,
    Axis(Axis),
    Variables,
    Text(Txt),
    /// Leaf element fully handled at its start tag (contact, property, variableMap).
    Done,
    /// Markup inside `documentation` (mixed content, e.g. XHTML): its text is kept.
    DocInline,
    Skip,
}

impl Ctx {
    fn wants_text(self) -> bool {
        matches!(self, Ctx::Text(_) | Ctx::DocInline)
    }
}

/// Attributes remembered from the start tag of a text element.
#[derive(Default)]
struct Pending {
    a: Option<String>,
    b: Option<String>,
    c: Option<String>,
    d: Option<String>,
}

struct Builder {
    base_url: Url,
    cat: Catalog,
    svc_stack: Vec<Service>,
    ds_stack: Vec<Dataset>,
    block: Option<MetadataBlock>,
    sink: ThreddsMetadata,
    source: Option<Source>,
    tc: Option<TimeCoverage>,
    geo: Option<GeospatialCoverage>,
    axis: Option<Range>,
    vars: Option<Variables>,
    access: Option<Access>,
    text: String,
    pending: Pending,
    ref_order: usize,
    lenient_unbound: bool,
    /// Service name -> is a `Resolver` (first definition wins), for in-pass flagging.
    resolver_services: HashMap<String, bool>,
    /// A leaf referred to a service not defined yet: run the post-pass.
    resolver_post_pass: bool,
    /// Some service is declared inside a dataset (the index must walk the tree).
    dataset_services: bool,
}

/// Decodes the document to text: UTF-8 (BOM stripped), ISO-8859-1 when declared so and not
/// valid UTF-8, otherwise UTF-8 with replacement characters.
fn decode(xml: &[u8]) -> Cow<'_, str> {
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    match std::str::from_utf8(xml) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            let head = &xml[..xml.len().min(200)];
            let head = String::from_utf8_lossy(head).to_ascii_lowercase();
            if head.contains("iso-8859-1") || head.contains("latin1") || head.contains("latin-1") {
                Cow::Owned(xml.iter().map(|&b| b as char).collect())
            } else {
                String::from_utf8_lossy(xml)
            }
        }
    }
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html")
}

/// Parses a catalog document with explicit limits. See [`crate::parse_catalog`].
pub fn parse_catalog_with(xml: &[u8], url: &Url, limits: &Limits) -> Result<Catalog, ParseError> {
    if xml.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: xml.len(),
            max: limits.max_bytes,
        });
    }
    let text = decode(xml);
    let text: &str = &text;
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let max_depth = limits.max_depth.min(DEPTH_CEILING);
    // A plain `Reader` plus our own resolver: `NsReader` scans every start tag's attributes
    // for namespace declarations; we only hand it the tags that contain `xmlns`.
    let mut reader = Reader::from_str(text);
    // Whitespace-only text between elements is not even reported, except where text is kept
    // (toggled below: trimming there would change the text).
    reader.config_mut().trim_text_start = true;
    let mut ns_resolver = NamespaceResolver::default();
    let bare = BytesStart::new("_");
    let mut ctx: Vec<Ctx> = Vec::with_capacity(32);
    let mut elements = 0usize;
    let mut builder: Option<Builder> = None;
    let xml_err = |reader: &Reader<&[u8]>, message: String| {
        let pos = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
        let (line, column) = line_col(text, pos);
        ParseError::Xml {
            line,
            column,
            message,
        }
    };
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                if builder.is_none() && looks_like_html(text) {
                    return Err(ParseError::Html);
                }
                return Err(xml_err(&reader, e.to_string()));
            }
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let declares = if mentions_xmlns(e.attributes_raw()) {
                    e
                } else {
                    &bare
                };
                if let Err(err) = ns_resolver.push(declares) {
                    if builder.is_none() && looks_like_html(text) {
                        return Err(ParseError::Html);
                    }
                    let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    let (line, column) = line_col(text, pos.saturating_sub(1));
                    return Err(ParseError::Xml {
                        line,
                        column,
                        message: quick_xml::Error::Namespace(err).to_string(),
                    });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(ParseError::TooManyElements {
                        max: limits.max_elements,
                    });
                }
                if ctx.len() + 1 > max_depth {
                    let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    let (line, _) = line_col(text, pos);
                    return Err(ParseError::TooDeep {
                        depth: ctx.len() + 1,
                        max: max_depth,
                        line,
                    });
                }
                let resolver = &ns_resolver;
                let (ns, local) = resolver.resolve_element(e.name());
                let local: &str = local.into_inner();
                let Some(b) = builder.as_mut() else {
                    // Root element.
                    let b = root(&ns, local, e, resolver, url)?;
                    builder = Some(b);
                    if is_empty {
                        break;
                    }
                    ctx.push(Ctx::Catalog);
                    continue;
                };
                let parent = ctx.last().copied().unwrap_or(Ctx::Skip);
                let in_ns = match &ns {
                    ResolveResult::Bound(n) => n.0 == THREDDS_NS,
                    ResolveResult::Unbound => b.lenient_unbound,
                    ResolveResult::Unknown(_) => false,
                };
                let c = if matches!(parent, Ctx::Text(Txt::Documentation) | Ctx::DocInline) {
                    Ctx::DocInline
                } else if !in_ns || parent == Ctx::Skip {
                    Ctx::Skip
                } else {
                    b.start(parent, local, e, resolver).map_err(|message| {
                        // Attribute errors: report the position of the offending tag's end.
                        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                        let (line, column) = line_col(text, pos.saturating_sub(1));
                        ParseError::Xml {
                            line,
                            column,
                            message,
                        }
                    })?
                };
                if is_empty {
                    b.end(c, parent);
                    ns_resolver.pop();
                } else {
                    ctx.push(c);
                    reader.config_mut().trim_text_start = !c.wants_text();
                }
            }
            Event::End(_) => {
                ns_resolver.pop();
                let Some(c) = ctx.pop() else {
                    continue;
                };
                let parent = ctx.last().copied().unwrap_or(Ctx::Skip);
                if let Some(b) = builder.as_mut() {
                    b.end(c, parent);
                }
                reader.config_mut().trim_text_start = !parent.wants_text();
                if ctx.is_empty() {
                    break;
                }
            }
            Event::Text(t) => {
                if let (Some(b), Some(c)) = (builder.as_mut(), ctx.last())
                    && c.wants_text()
                {
                    b.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let (Some(b), Some(c)) = (builder.as_mut(), ctx.last())
                    && c.wants_text()
                {
                    b.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(b), Some(c)) = (builder.as_mut(), ctx.last())
                    && c.wants_text()
                {
                    push_ref(&mut b.text, &r);
                }
            }
            Event::DocType(d) => {
                if builder.is_none() {
                    let t = d.trim_start();
                    if t.as_bytes()
                        .get(..4)
                        .is_some_and(|h| h.eq_ignore_ascii_case(b"html"))
                    {
                        return Err(ParseError::Html);
                    }
                }
                // DTD ignored: entity declarations are never expanded.
            }
            Event::Eof => {
                if builder.is_none() {
                    if looks_like_html(text) {
                        return Err(ParseError::Html);
                    }
                    return Err(ParseError::NotACatalog {
                        root: String::new(),
                    });
                }
                if !ctx.is_empty() {
                    let (line, column) = line_col(text, text.len());
                    return Err(ParseError::Xml {
                        line,
                        column,
                        message: "unexpected end of document: unclosed elements".into(),
                    });
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    match builder {
        Some(b) => Ok(b.finish()),
        None => Err(ParseError::NotACatalog {
            root: String::new(),
        }),
    }
}

fn push_ref(out: &mut String, r: &quick_xml::events::BytesRef<'_>) {
    if let Ok(Some(ch)) = r.resolve_char_ref() {
        out.push(ch);
        return;
    }
    let name: &str = r;
    match quick_xml::escape::resolve_predefined_entity(name) {
        Some(v) => out.push_str(v),
        None => {
            out.push('&');
            out.push_str(name);
            out.push(';');
        }
    }
}

fn root(
    ns: &ResolveResult<'_>,
    local: &str,
    e: &BytesStart<'_>,
    resolver: &NamespaceResolver,
    url: &Url,
) -> Result<Builder, ParseError> {
    if local.eq_ignore_ascii_case("html") {
        return Err(ParseError::Html);
    }
    let lenient_unbound = match ns {
        ResolveResult::Bound(n) if n.0 == THREDDS_NS && local == "catalog" => false,
        ResolveResult::Unbound if local == "catalog" => true,
        ResolveResult::Bound(n) => {
            return Err(ParseError::NotACatalog {
                root: format!("{{{}}}{local}", n.0),
            });
        }
        _ => {
            return Err(ParseError::NotACatalog {
                root: local.to_string(),
            });
        }
    };
    let [base, name, version, expires] = pick(
        e,
        resolver,
        [
            A::Plain("base"),
            A::Plain("name"),
            A::Plain("version"),
            A::Plain("expires"),
        ],
    )
    .map_err(|m| ParseError::Xml {
        line: 1,
        column: 1,
        message: m,
    })?;
    let base_url = base
        .as_deref()
        .and_then(|b| url.join(b).ok())
        .unwrap_or_else(|| url.clone());
    let cat = Catalog {
        url: url.clone(),
        name,
        version,
        expires: expires.as_deref().and_then(parse_date),
        base,
        services: Vec::new(),
        datasets: Vec::new(),
        catalog_refs: Vec::new(),
        properties: Vec::new(),
        metadata: Vec::new(),
        warnings: Vec::new(),
        service_index: HashMap::new(),
    };
    Ok(Builder {
        base_url,
        cat,
        svc_stack: Vec::new(),
        ds_stack: Vec::new(),
        block: None,
        sink: ThreddsMetadata::default(),
        source: None,
        tc: None,
        geo: None,
        axis: None,
        vars: None,
        access: None,
        text: String::new(),
        pending: Pending::default(),
        ref_order: 0,
        lenient_unbound,
        resolver_services: HashMap::new(),
        resolver_post_pass: false,
        dataset_services: false,
    })
}

/// Pushes onto a per-dataset vector that usually holds one element: the first push allocates
/// room for exactly one (not the default four), which keeps a large catalog's many small
/// vectors small and cheap to allocate and free.
fn push_small<T>(v: &mut Vec<T>, x: T) {
    if v.capacity() == 0 {
        v.reserve_exact(1);
    }
    v.push(x);
}

/// Whether a start tag's attribute text mentions `xmlns` (a possible namespace declaration).
fn mentions_xmlns(raw: &str) -> bool {
    let mut rest = raw;
    while let Some(i) = rest.find('x') {
        match rest.get(i..) {
            Some(t) if t.starts_with("xmlns") => return true,
            Some(t) => rest = t.get(1..).unwrap_or(""),
            None => return false,
        }
    }
    false
}

fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else if t.len() == s.len() {
        Some(s)
    } else {
        Some(t.to_string())
    }
}
