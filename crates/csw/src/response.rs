//! Response documents: capabilities, records (Dublin Core and ISO), DescribeRecord,
//! GetDomain. All text goes through the escaping writer of `threddex-records`.

use chrono::{DateTime, SecondsFormat, Utc};
use threddex_records::writer::{XmlWriter, fmt_decimal};
use threddex_records::{RecordLink, RecordSummary};
use threddex_store::{BBox, COLLECTION_RECORD_TYPE, Collection};

use crate::filter::{APISO_QUERYABLES, QUERYABLES};
use crate::ns;
use crate::request::ElementSet;

/// Service description shown in the capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// `ows:Title`.
    pub title: String,
    /// `ows:Abstract`.
    pub abstract_text: String,
    /// `ows:ProviderName`.
    pub provider: String,
}

impl Default for ServiceInfo {
    fn default() -> Self {
        Self {
            title: "threddex catalogue".into(),
            abstract_text: "Collections harvested from THREDDS Data Servers by threddex, \
                            searchable through OGC CSW 2.0.2 (Dublin Core and ISO 19139)."
                .into(),
            provider: "threddex".into(),
        }
    }
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The namespace declarations of a CSW response root.
fn root_attrs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("xmlns:csw", ns::CSW),
        ("xmlns:dc", ns::DC),
        ("xmlns:dct", ns::DCT),
        ("xmlns:ows", ns::OWS),
        ("xmlns:ogc", ns::OGC),
        ("xmlns:gml", ns::GML),
        ("xmlns:xlink", ns::XLINK),
        ("xmlns:xsi", ns::XSI),
    ]
}

const SCHEMA_LOCATION: &str =
    "http://www.opengis.net/cat/csw/2.0.2 http://schemas.opengis.net/csw/2.0.2/CSW-discovery.xsd";

fn operation(w: &mut XmlWriter, name: &str, endpoint: &str, params: &[(&str, &[&str])]) {
    w.start("ows:Operation", &[("name", name)]);
    w.start("ows:DCP", &[]).start("ows:HTTP", &[]);
    w.empty(
        "ows:Get",
        &[("xlink:type", "simple"), ("xlink:href", endpoint)],
    );
    w.start(
        "ows:Post",
        &[("xlink:type", "simple"), ("xlink:href", endpoint)],
    );
    w.start("ows:Constraint", &[("name", "PostEncoding")])
        .leaf("ows:Value", &[], "XML")
        .end();
    w.end().end().end();
    for (p, values) in params {
        w.start("ows:Parameter", &[("name", p)]);
        for v in *values {
            w.leaf("ows:Value", &[], v);
        }
        w.end();
    }
    if name == "GetRecords" {
        for (c, values) in [
            ("SupportedDublinCoreQueryables", QUERYABLES),
            ("SupportedISOQueryables", APISO_QUERYABLES),
        ] {
            w.start("ows:Constraint", &[("name", c)]);
            for v in values {
                w.leaf("ows:Value", &[], v);
            }
            w.end();
        }
    }
    w.end();
}

const SCHEMAS: &[&str] = &[ns::CSW, ns::GMD];
const FORMATS: &[&str] = &["application/xml"];
const ELEMENT_SETS: &[&str] = &["brief", "summary", "full"];
const TYPE_NAMES: &[&str] = &["csw:Record", "gmd:MD_Metadata"];

/// The value lists of request parameters, as shown in the capabilities and by GetDomain.
pub fn parameter_domain(name: &str) -> Option<&'static [&'static str]> {
    let (op, param) = name.split_once('.')?;
    let op = op.to_ascii_lowercase();
    let param = param.to_ascii_lowercase();
    Some(match (op.as_str(), param.as_str()) {
        ("getrecords" | "getrecordbyid", "outputschema") => SCHEMAS,
        (_, "outputformat") => FORMATS,
        ("getrecords" | "getrecordbyid", "elementsetname") => ELEMENT_SETS,
        ("getrecords", "resulttype") => &["hits", "results"],
        ("getrecords", "typenames") | ("describerecord", "typename") => TYPE_NAMES,
        ("getrecords", "constraintlanguage") => &["FILTER", "CQL_TEXT"],
        ("describerecord", "schemalanguage") => &["http://www.w3.org/XML/Schema"],
        ("getcapabilities", "sections") => &[
            "ServiceIdentification",
            "ServiceProvider",
            "OperationsMetadata",
            "Filter_Capabilities",
        ],
        _ => return None,
    })
}

/// `csw:Capabilities` with `endpoint` (the absolute `/csw` URL) for GET and POST.
pub fn capabilities(info: &ServiceInfo, endpoint: &str) -> String {
    let mut w = XmlWriter::new();
    let mut attrs = root_attrs();
    attrs.push(("version", "2.0.2"));
    attrs.push(("xsi:schemaLocation", SCHEMA_LOCATION));
    w.start("csw:Capabilities", &attrs);
    w.start("ows:ServiceIdentification", &[]);
    w.leaf("ows:Title", &[], &info.title);
    w.leaf("ows:Abstract", &[], &info.abstract_text);
    w.start("ows:Keywords", &[]);
    for k in ["catalogue", "THREDDS", "CSW", "ISO 19115"] {
        w.leaf("ows:Keyword", &[], k);
    }
    w.end();
    w.leaf("ows:ServiceType", &[("codeSpace", "OGC")], "CSW");
    w.leaf("ows:ServiceTypeVersion", &[], "2.0.2");
    w.leaf("ows:Fees", &[], "none");
    w.leaf("ows:AccessConstraints", &[], "none");
    w.end();
    w.start("ows:ServiceProvider", &[]);
    w.leaf("ows:ProviderName", &[], &info.provider);
    w.start("ows:ServiceContact", &[])
        .leaf("ows:IndividualName", &[], &info.provider)
        .end();
    w.end();
    w.start("ows:OperationsMetadata", &[]);
    operation(
        &mut w,
        "GetCapabilities",
        endpoint,
        &[(
            "sections",
            parameter_domain("GetCapabilities.sections").unwrap_or(&[]),
        )],
    );
    operation(
        &mut w,
        "DescribeRecord",
        endpoint,
        &[
            ("typeName", TYPE_NAMES),
            ("outputFormat", FORMATS),
            ("schemaLanguage", &["http://www.w3.org/XML/Schema"]),
        ],
    );
    operation(
        &mut w,
        "GetDomain",
        endpoint,
        &[(
            "ParameterName",
            &[
                "GetRecords.outputSchema",
                "GetRecords.ElementSetName",
                "GetRecords.resultType",
                "GetRecords.typeNames",
                "GetRecords.CONSTRAINTLANGUAGE",
                "GetRecordById.outputSchema",
                "GetRecordById.ElementSetName",
                "DescribeRecord.typeName",
            ],
        )],
    );
    operation(
        &mut w,
        "GetRecords",
        endpoint,
        &[
            ("resultType", &["hits", "results"]),
            ("outputFormat", FORMATS),
            ("outputSchema", SCHEMAS),
            ("typeNames", TYPE_NAMES),
            ("ElementSetName", ELEMENT_SETS),
            ("CONSTRAINTLANGUAGE", &["FILTER", "CQL_TEXT"]),
        ],
    );
    operation(
        &mut w,
        "GetRecordById",
        endpoint,
        &[
            ("outputSchema", SCHEMAS),
            ("outputFormat", FORMATS),
            ("ElementSetName", ELEMENT_SETS),
        ],
    );
    w.start("ows:Parameter", &[("name", "service")])
        .leaf("ows:Value", &[], "CSW")
        .end();
    w.start("ows:Parameter", &[("name", "version")])
        .leaf("ows:Value", &[], "2.0.2")
        .end();
    w.end();
    w.start("ogc:Filter_Capabilities", &[]);
    w.start("ogc:Spatial_Capabilities", &[]);
    w.start("ogc:GeometryOperands", &[])
        .leaf("ogc:GeometryOperand", &[], "gml:Envelope")
        .end();
    w.start("ogc:SpatialOperators", &[])
        .empty("ogc:SpatialOperator", &[("name", "BBOX")])
        .end();
    w.end();
    w.start("ogc:Scalar_Capabilities", &[]);
    w.empty("ogc:LogicalOperators", &[]);
    w.start("ogc:ComparisonOperators", &[]);
    for op in [
        "EqualTo",
        "NotEqualTo",
        "LessThan",
        "GreaterThan",
        "LessThanEqualTo",
        "GreaterThanEqualTo",
        "Like",
        "Between",
        "NullCheck",
    ] {
        w.leaf("ogc:ComparisonOperator", &[], op);
    }
    w.end().end();
    w.start("ogc:Id_Capabilities", &[])
        .empty("ogc:EID", &[])
        .empty("ogc:FID", &[])
        .end();
    w.end();
    w.finish()
}

/// What a Dublin Core record shows: the collection, enriched from its ISO record for `full`.
pub struct DcRecord<'a> {
    /// The collection (or, for a granule, the values read from its record).
    pub id: &'a str,
    /// dc:title.
    pub title: &'a str,
    /// dc:type.
    pub record_type: &'a str,
    /// dct:abstract.
    pub abstract_text: Option<&'a str>,
    /// dc:subject.
    pub keywords: &'a [String],
    /// dct:modified.
    pub modified: Option<DateTime<Utc>>,
    /// Time extent.
    pub start: Option<DateTime<Utc>>,
    /// Time extent.
    pub end: Option<DateTime<Utc>>,
    /// ows:BoundingBox.
    pub bbox: Option<BBox>,
    /// From the ISO record (full only).
    pub iso: Option<&'a RecordSummary>,
}

impl<'a> DcRecord<'a> {
    /// The view of a collection.
    pub fn of_collection(c: &'a Collection, iso: Option<&'a RecordSummary>) -> Self {
        Self {
            id: &c.info.id,
            title: if c.info.title.trim().is_empty() {
                &c.info.id
            } else {
                &c.info.title
            },
            record_type: COLLECTION_RECORD_TYPE,
            abstract_text: c.info.summary.as_deref(),
            keywords: &c.info.keywords,
            modified: Some(c.updated_at),
            start: c.start,
            end: c.end,
            bbox: c.info.bbox,
            iso,
        }
    }

    /// The view of an ISO record (granules).
    pub fn of_summary(s: &'a RecordSummary) -> Self {
        Self {
            id: &s.id,
            title: s.title.as_deref().unwrap_or(&s.id),
            record_type: s.hierarchy_level.as_deref().unwrap_or("dataset"),
            abstract_text: s.abstract_text.as_deref(),
            keywords: &s.keywords,
            modified: s.modified,
            start: s.extent.start,
            end: s.extent.end,
            bbox: s.bbox.map(|b| BBox {
                west: b.west,
                south: b.south,
                east: b.east,
                north: b.north,
            }),
            iso: Some(s),
        }
    }
}

fn bounding_box(w: &mut XmlWriter, b: &BBox) {
    // EPSG:4326 axis order: latitude, longitude.
    w.start(
        "ows:BoundingBox",
        &[("crs", "urn:ogc:def:crs:EPSG::4326"), ("dimensions", "2")],
    );
    w.leaf(
        "ows:LowerCorner",
        &[],
        &format!("{} {}", fmt_decimal(b.south), fmt_decimal(b.west)),
    );
    w.leaf(
        "ows:UpperCorner",
        &[],
        &format!("{} {}", fmt_decimal(b.north), fmt_decimal(b.east)),
    );
    w.end();
}

fn party_element(role: &str) -> &'static str {
    match role {
        "originator" | "author" | "principalInvestigator" | "owner" => "dc:creator",
        "publisher" | "distributor" | "resourceProvider" => "dc:publisher",
        _ => "dc:contributor",
    }
}

fn links(w: &mut XmlWriter, links: &[RecordLink]) {
    for l in links.iter().take(64) {
        let scheme = l.protocol.as_deref().unwrap_or("WWW:LINK");
        w.leaf("dct:references", &[("scheme", scheme)], &l.url);
    }
}

/// One Dublin Core record in an element set, or with explicit element names.
pub fn dc_record(w: &mut XmlWriter, r: &DcRecord<'_>, set: ElementSet, names: &[String]) {
    if !names.is_empty() {
        w.start("csw:Record", &[]);
        let mut bbox = false;
        for n in names {
            let local = n.rsplit(':').next().unwrap_or(n).to_ascii_lowercase();
            match local.as_str() {
                "identifier" => {
                    w.leaf("dc:identifier", &[], r.id);
                }
                "title" => {
                    w.leaf("dc:title", &[], r.title);
                }
                "type" => {
                    w.leaf("dc:type", &[], r.record_type);
                }
                "subject" => {
                    for k in r.keywords {
                        w.leaf("dc:subject", &[], k);
                    }
                }
                "abstract" => {
                    if let Some(a) = r.abstract_text {
                        w.leaf("dct:abstract", &[], a);
                    }
                }
                "modified" => {
                    if let Some(m) = &r.modified {
                        w.leaf("dct:modified", &[], &time(m));
                    }
                }
                "boundingbox" => bbox = true,
                _ => {}
            }
        }
        if bbox && let Some(b) = &r.bbox {
            bounding_box(w, b);
        }
        w.end();
        return;
    }
    match set {
        ElementSet::Brief => {
            w.start("csw:BriefRecord", &[]);
            w.leaf("dc:identifier", &[], r.id);
            w.leaf("dc:title", &[], r.title);
            w.leaf("dc:type", &[], r.record_type);
            if let Some(b) = &r.bbox {
                bounding_box(w, b);
            }
            w.end();
        }
        ElementSet::Summary => {
            w.start("csw:SummaryRecord", &[]);
            w.leaf("dc:identifier", &[], r.id);
            w.leaf("dc:title", &[], r.title);
            w.leaf("dc:type", &[], r.record_type);
            for k in r.keywords {
                w.leaf("dc:subject", &[], k);
            }
            if let Some(m) = &r.modified {
                w.leaf("dct:modified", &[], &time(m));
            }
            if let Some(a) = r.abstract_text {
                w.leaf("dct:abstract", &[], a);
            }
            if let Some(b) = &r.bbox {
                bounding_box(w, b);
            }
            w.end();
        }
        ElementSet::Full => {
            w.start("csw:Record", &[]);
            w.leaf("dc:identifier", &[], r.id);
            w.leaf("dc:title", &[], r.title);
            w.leaf("dc:type", &[], r.record_type);
            for k in r.keywords {
                w.leaf("dc:subject", &[], k);
            }
            if let Some(iso) = r.iso {
                for f in &iso.formats {
                    w.leaf("dc:format", &[], f);
                }
                if let Some(p) = &iso.parent_id {
                    w.leaf("dc:relation", &[], p);
                }
                for p in &iso.parties {
                    w.leaf(party_element(&p.role), &[], &p.name);
                }
                for rights in &iso.rights {
                    w.leaf("dc:rights", &[], rights);
                }
            }
            if let Some(a) = r.abstract_text {
                w.leaf("dct:abstract", &[], a);
            }
            if let Some(m) = &r.modified {
                w.leaf("dct:modified", &[], &time(m));
            }
            match (&r.start, &r.end) {
                (Some(s), Some(e)) => {
                    w.leaf("dct:temporal", &[], &format!("{}/{}", time(s), time(e)));
                }
                (Some(s), None) => {
                    w.leaf("dct:temporal", &[], &format!("{}/..", time(s)));
                }
                _ => {}
            }
            if let Some(iso) = r.iso {
                links(w, &iso.links);
            }
            if let Some(b) = &r.bbox {
                bounding_box(w, b);
            }
            w.end();
        }
    }
}

/// A stored ISO record, without its XML declaration, for embedding.
pub fn embeddable(xml: &str) -> &str {
    let t = xml.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with("<?xml")
        && let Some(end) = t.find("?>")
    {
        return t.get(end + 2..).unwrap_or("").trim_start();
    }
    t
}

/// What a GetRecords answer carries besides its records.
pub struct SearchHeader<'a> {
    /// `requestId` to echo.
    pub request_id: Option<&'a str>,
    /// Matches in all.
    pub matched: u64,
    /// Records in this answer.
    pub returned: u64,
    /// Next start position (0: none).
    pub next: u64,
    /// Schema URI of the records.
    pub record_schema: &'a str,
    /// Element set, when one was used.
    pub element_set: Option<ElementSet>,
}

/// Opens `csw:GetRecordsResponse` up to `csw:SearchResults`; add records, then `finish`.
pub fn open_get_records(h: &SearchHeader<'_>) -> XmlWriter {
    let mut w = XmlWriter::new();
    let mut attrs = root_attrs();
    attrs.push(("version", "2.0.2"));
    attrs.push(("xsi:schemaLocation", SCHEMA_LOCATION));
    w.start("csw:GetRecordsResponse", &attrs);
    if let Some(id) = h.request_id {
        w.leaf("csw:RequestId", &[], id);
    }
    w.empty("csw:SearchStatus", &[("timestamp", &time(&Utc::now()))]);
    let matched = h.matched.to_string();
    let returned = h.returned.to_string();
    let next = h.next.to_string();
    w.start(
        "csw:SearchResults",
        &[
            ("numberOfRecordsMatched", &matched),
            ("numberOfRecordsReturned", &returned),
            ("nextRecord", &next),
            ("recordSchema", h.record_schema),
        ],
    );
    if let Some(s) = h.element_set {
        w.attr("elementSet", s.as_str());
    }
    w
}

/// Opens `csw:GetRecordByIdResponse`; add records, then `finish`.
pub fn open_get_record_by_id() -> XmlWriter {
    let mut w = XmlWriter::new();
    let mut attrs = root_attrs();
    attrs.push(("xsi:schemaLocation", SCHEMA_LOCATION));
    w.start("csw:GetRecordByIdResponse", &attrs);
    w
}

/// `csw:DescribeRecordResponse` for the requested type names (empty: both).
pub fn describe_record(type_names: &[String]) -> String {
    let want = |local: &str| {
        type_names.is_empty()
            || type_names
                .iter()
                .any(|t| t.rsplit(':').next().unwrap_or(t) == local)
    };
    let mut w = XmlWriter::new();
    let mut attrs = root_attrs();
    attrs.push(("xsi:schemaLocation", SCHEMA_LOCATION));
    w.start("csw:DescribeRecordResponse", &attrs);
    let xs = "http://www.w3.org/2001/XMLSchema";
    if want("Record") {
        w.start(
            "csw:SchemaComponent",
            &[
                ("targetNamespace", ns::CSW),
                ("schemaLanguage", "http://www.w3.org/XML/Schema"),
            ],
        );
        w.start(
            "xs:schema",
            &[
                ("xmlns:xs", xs),
                ("targetNamespace", ns::CSW),
                ("elementFormDefault", "qualified"),
            ],
        );
        w.empty(
            "xs:include",
            &[(
                "schemaLocation",
                "http://schemas.opengis.net/csw/2.0.2/record.xsd",
            )],
        );
        w.end().end();
    }
    if want("MD_Metadata") {
        w.start(
            "csw:SchemaComponent",
            &[
                ("targetNamespace", ns::GMD),
                ("schemaLanguage", "http://www.w3.org/XML/Schema"),
            ],
        );
        w.start(
            "xs:schema",
            &[
                ("xmlns:xs", xs),
                ("targetNamespace", ns::GMD),
                ("elementFormDefault", "qualified"),
            ],
        );
        w.empty(
            "xs:include",
            &[(
                "schemaLocation",
                "http://schemas.opengis.net/iso/19139/20070417/gmd/gmd.xsd",
            )],
        );
        w.end().end();
    }
    w.finish()
}

/// The values of a domain.
pub enum Domain {
    /// A list of values.
    List(Vec<String>),
    /// A range.
    Range(Option<String>, Option<String>),
    /// Nothing to enumerate.
    Open,
}

/// `csw:GetDomainResponse` for one property or parameter.
pub fn get_domain(property: Option<&str>, parameter: Option<&str>, domain: &Domain) -> String {
    let mut w = XmlWriter::new();
    let mut attrs = root_attrs();
    attrs.push(("xsi:schemaLocation", SCHEMA_LOCATION));
    w.start("csw:GetDomainResponse", &attrs);
    w.start("csw:DomainValues", &[("type", "csw:Record")]);
    match (property, parameter) {
        (Some(p), _) => w.leaf("csw:PropertyName", &[], p),
        (None, Some(p)) => w.leaf("csw:ParameterName", &[], p),
        (None, None) => &mut w,
    };
    match domain {
        Domain::List(values) => {
            w.start("csw:ListOfValues", &[]);
            for v in values {
                w.leaf("csw:Value", &[], v);
            }
            w.end();
        }
        Domain::Range(min, max) => {
            w.start("csw:RangeOfValues", &[]);
            if let Some(v) = min {
                w.leaf("csw:MinValue", &[], v);
            }
            if let Some(v) = max {
                w.leaf("csw:MaxValue", &[], v);
            }
            w.end();
        }
        Domain::Open => {}
    }
    w.finish()
}

/// Formats a time like the records do.
pub fn fmt_time(t: &DateTime<Utc>) -> String {
    time(t)
}
