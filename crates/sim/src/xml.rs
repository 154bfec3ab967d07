//! Small helpers that write InvCatalog 1.0 XML straight into a `String`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// What kind of document a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `application/xml`
    Xml,
    /// `text/html`
    Html,
    /// `text/plain`
    Text,
}

impl DocKind {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            DocKind::Xml => "application/xml; charset=UTF-8",
            DocKind::Html => "text/html; charset=UTF-8",
            DocKind::Text => "text/plain; charset=UTF-8",
        }
    }
}

/// A served document.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Response body.
    pub body: String,
    /// `Last-Modified` value.
    pub last_modified: DateTime<Utc>,
    /// Content type.
    pub kind: DocKind,
}

/// Append `s` with XML special characters escaped.
pub fn escape_into(out: &mut String, s: &str) {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// `s` escaped.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    escape_into(&mut o, s);
    o
}

/// ISO 8601 with a `Z` suffix, second precision.
pub fn iso(out: &mut String, t: DateTime<Utc>) {
    let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%SZ"));
}

/// Opens `<catalog …>` (with the XML declaration), optionally named.
pub fn open_catalog(out: &mut String, name: Option<&str>) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<catalog xmlns=\"http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"");
    if let Some(n) = name {
        out.push_str(" name=\"");
        escape_into(out, n);
        out.push('"');
    }
    out.push_str(" version=\"1.2\">\n");
}

/// Closes the catalog.
pub fn close_catalog(out: &mut String) {
    out.push_str("</catalog>\n");
}

/// A compound service holding `(name, serviceType, base)` children.
pub fn compound_service(out: &mut String, name: &str, children: &[(&str, &str, &str)]) {
    let _ = writeln!(
        out,
        "  <service name=\"{name}\" serviceType=\"Compound\" base=\"\">"
    );
    for (n, t, b) in children {
        let _ = writeln!(
            out,
            "    <service name=\"{n}\" serviceType=\"{t}\" base=\"{b}\" />"
        );
    }
    out.push_str("  </service>\n");
}

/// Inherited metadata block values.
pub struct Meta<'a> {
    pub service: &'a str,
    pub data_type: &'a str,
    pub data_format: &'a str,
    /// The rolling window the server keeps (`7 days`), written as Unidata does: an inherited
    /// `timeCoverage` ending at `present`.
    pub rolling: Option<&'a str>,
}

/// Opens the top `<dataset>` with its inherited metadata. Close with `  </dataset>\n`.
pub fn open_top_dataset(out: &mut String, name: &str, id: Option<&str>, meta: &Meta<'_>) {
    out.push_str("  <dataset name=\"");
    escape_into(out, name);
    out.push('"');
    if let Some(id) = id {
        out.push_str(" ID=\"");
        escape_into(out, id);
        out.push('"');
    }
    out.push_str(">\n    <metadata inherited=\"true\">\n      <serviceName>");
    escape_into(out, meta.service);
    out.push_str("</serviceName>\n      <authority>edu.ucar.unidata</authority>\n      <dataType>");
    escape_into(out, meta.data_type);
    out.push_str("</dataType>\n      <dataFormat>");
    escape_into(out, meta.data_format);
    out.push_str(
        "</dataFormat>\n      <documentation type=\"rights\">Freely available</documentation>\n",
    );
    if let Some(b) = coverage_for(meta) {
        geospatial_coverage(out, b);
    }
    if let Some(d) = meta.rolling {
        out.push_str("      <timeCoverage>\n        <end>present</end>\n        <duration>");
        escape_into(out, d);
        out.push_str("</duration>\n      </timeCoverage>\n");
    }
    out.push_str("    </metadata>\n");
}

/// The simulated horizontal coverage of a product family as `[west, south, east, north]`:
/// radar sites cover the continental US, GOES-East imagery its full disk window; model runs
/// carry none (so catalogue searches see collections with and without a box).
pub fn coverage_for(meta: &Meta<'_>) -> Option<[f64; 4]> {
    match meta.data_format {
        "NEXRAD-3" => Some([-125.0, 24.0, -66.0, 50.0]),
        "NetCDF" => Some([-156.0, -81.0, 6.0, 81.0]),
        _ => None,
    }
}

/// Writes a `geospatialCoverage` element (start + size per axis, in degrees).
pub fn geospatial_coverage(out: &mut String, [west, south, east, north]: [f64; 4]) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "      <geospatialCoverage>\n        <northsouth><start>{south}</start><size>{}</size><units>degrees_north</units></northsouth>\n        <eastwest><start>{west}</start><size>{}</size><units>degrees_east</units></eastwest>\n      </geospatialCoverage>\n",
        north - south,
        east - west
    );
}

/// Closes the top dataset.
pub fn close_top_dataset(out: &mut String) {
    out.push_str("  </dataset>\n");
}

/// A `<catalogRef>` at the given indentation.
pub fn catalog_ref(out: &mut String, indent: &str, href: &str, title: &str, id: &str) {
    out.push_str(indent);
    out.push_str("<catalogRef xlink:href=\"");
    escape_into(out, href);
    out.push_str("\" xlink:title=\"");
    escape_into(out, title);
    out.push_str("\" name=\"");
    escape_into(out, title);
    out.push_str("\" ID=\"");
    escape_into(out, id);
    out.push_str("\" />\n");
}

/// Opens a leaf `<dataset name ID urlPath>`; close with `    </dataset>\n`.
pub fn open_leaf(out: &mut String, name: &str, id: &str, url_path: &str) {
    out.push_str("    <dataset name=\"");
    escape_into(out, name);
    out.push_str("\" ID=\"");
    escape_into(out, id);
    out.push_str("\" urlPath=\"");
    escape_into(out, url_path);
    out.push_str("\">\n");
}

/// `<dataSize units=…>` with a value in hundredths.
pub fn data_size(out: &mut String, units: &str, hundredths: u64) {
    let _ = writeln!(
        out,
        "      <dataSize units=\"{units}\">{}.{:02}</dataSize>",
        hundredths / 100,
        hundredths % 100
    );
}

/// `<date type="modified">`.
pub fn modified(out: &mut String, t: DateTime<Utc>) {
    out.push_str("      <date type=\"modified\">");
    iso(out, t);
    out.push_str("</date>\n");
}

/// A small HTML page standing in for TDS's `catalog.html`, linking to the XML twin.
pub fn html_twin(xml_name: &str, title: &str) -> String {
    let mut o = String::with_capacity(512);
    o.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\"><title>Catalog ");
    escape_into(&mut o, title);
    o.push_str("</title></head>\n<body><h1>Catalog ");
    escape_into(&mut o, title);
    o.push_str("</h1>\n<p>This is the HTML view of a THREDDS catalog. The XML is at <a href=\"");
    escape_into(&mut o, xml_name);
    o.push_str("\">");
    escape_into(&mut o, xml_name);
    o.push_str("</a>.</p>\n</body></html>\n");
    o
}

/// Deterministic 64-bit hash of `seed` and `s` (FNV-1a followed by a splitmix finaliser).
pub fn hash64(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_specials() {
        assert_eq!(escape("a<b>&\"'c"), "a&lt;b&gt;&amp;&quot;&apos;c");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn hash_depends_on_seed_and_text() {
        assert_ne!(hash64(1, "a"), hash64(2, "a"));
        assert_ne!(hash64(1, "a"), hash64(1, "b"));
        assert_eq!(hash64(7, "x"), hash64(7, "x"));
    }
}
