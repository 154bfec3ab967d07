//! CSW requests, decoded from KVP (GET) or XML (POST) into one typed form.

use threddex_records::tree::{self, Element, TreeLimits};
use threddex_store::{RecordFilter, SortKey};

use crate::error::CswError;
use crate::filter::{self, queryable};
use crate::ns;

/// Which elements of a record are returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ElementSet {
    /// `csw:BriefRecord`.
    Brief,
    /// `csw:SummaryRecord`.
    #[default]
    Summary,
    /// `csw:Record` (everything).
    Full,
}

impl ElementSet {
    fn parse(s: &str, locator: &str) -> Result<Self, CswError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "brief" => Ok(Self::Brief),
            "summary" => Ok(Self::Summary),
            "full" => Ok(Self::Full),
            other => Err(CswError::invalid(
                locator,
                format!("ElementSetName must be brief, summary or full, not {other:?}"),
            )),
        }
    }

    /// The name (`brief`, `summary`, `full`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Brief => "brief",
            Self::Summary => "summary",
            Self::Full => "full",
        }
    }
}

/// The schema records are returned in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputSchema {
    /// Dublin Core `csw:Record` (`http://www.opengis.net/cat/csw/2.0.2`).
    #[default]
    Csw,
    /// The stored ISO 19139 record (`http://www.isotc211.org/2005/gmd`).
    Iso,
}

impl OutputSchema {
    fn parse(s: &str) -> Result<Self, CswError> {
        match s.trim() {
            "" | ns::CSW | "csw:Record" | "http://www.opengis.net/cat/csw/2.0.2/record.xsd" => {
                Ok(Self::Csw)
            }
            ns::GMD | "gmd:MD_Metadata" | "http://www.isotc211.org/2005/gmi" => Ok(Self::Iso),
            other => Err(CswError::invalid(
                "outputSchema",
                format!(
                    "unsupported outputSchema {other:?}; use {} or {}",
                    ns::CSW,
                    ns::GMD
                ),
            )),
        }
    }

    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Csw => ns::CSW,
            Self::Iso => ns::GMD,
        }
    }
}

/// `resultType` of GetRecords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResultType {
    /// Only the counts.
    #[default]
    Hits,
    /// Counts and records.
    Results,
}

/// A decoded GetRecords request.
#[derive(Clone, Debug, PartialEq)]
pub struct GetRecords {
    /// hits / results.
    pub result_type: ResultType,
    /// 1-based position of the first record.
    pub start_position: u64,
    /// Most records to return (already capped).
    pub max_records: u32,
    /// Element set (ignored when `element_names` is not empty).
    pub element_set: ElementSet,
    /// Explicit `ElementName`s (Dublin Core names such as `dc:title`).
    pub element_names: Vec<String>,
    /// Output schema.
    pub output_schema: OutputSchema,
    /// The constraint as a store filter.
    pub filter: RecordFilter,
    /// Sort keys.
    pub sort: Vec<SortKey>,
    /// `requestId`, echoed back.
    pub request_id: Option<String>,
}

/// A decoded request.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// GetCapabilities.
    GetCapabilities,
    /// DescribeRecord for these type names (empty: all).
    DescribeRecord {
        /// `csw:Record`, `gmd:MD_Metadata`.
        type_names: Vec<String>,
    },
    /// GetDomain of a property or a request parameter.
    GetDomain {
        /// `PropertyName` (a queryable) when given.
        property: Option<String>,
        /// `ParameterName` (`Operation.parameter`) when given.
        parameter: Option<String>,
    },
    /// GetRecords.
    GetRecords(GetRecords),
    /// GetRecordById.
    GetRecordById {
        /// The requested IDs (collection or granule IDs).
        ids: Vec<String>,
        /// Element set.
        element_set: ElementSet,
        /// Output schema.
        output_schema: OutputSchema,
    },
}

/// Decoding limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `maxRecords` honoured (bigger values are capped).
    pub max_records: u32,
    /// `maxRecords` when none is given.
    pub default_records: u32,
    /// Largest XML body.
    pub max_body: usize,
    /// Deepest XML nesting.
    pub max_depth: usize,
    /// Most XML elements in a body.
    pub max_elements: usize,
    /// Most IDs in one GetRecordById.
    pub max_ids: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records: 100,
            default_records: 10,
            max_body: 1024 * 1024,
            max_depth: 64,
            max_elements: 10_000,
            max_ids: 100,
        }
    }
}

const OPERATIONS: [&str; 5] = [
    "GetCapabilities",
    "DescribeRecord",
    "GetDomain",
    "GetRecords",
    "GetRecordById",
];

fn operation(name: &str) -> Result<&'static str, CswError> {
    OPERATIONS
        .iter()
        .find(|o| o.eq_ignore_ascii_case(name.trim()))
        .copied()
        .ok_or_else(|| CswError::not_supported(name.trim()))
}

fn check_service(service: Option<&str>, required: bool) -> Result<(), CswError> {
    match service.map(str::trim) {
        None | Some("") if required => Err(CswError::missing("service")),
        None | Some("") => Ok(()),
        Some(s) if s.eq_ignore_ascii_case("CSW") => Ok(()),
        Some(s) => Err(CswError::invalid(
            "service",
            format!("service must be CSW, not {s:?}"),
        )),
    }
}

fn check_version(version: Option<&str>) -> Result<(), CswError> {
    match version.map(str::trim) {
        None | Some("") => Err(CswError::missing("version")),
        Some("2.0.2") => Ok(()),
        Some(v) => Err(CswError::invalid(
            "version",
            format!("only version 2.0.2 is offered, not {v:?}"),
        )),
    }
}

fn check_format(format: Option<&str>) -> Result<(), CswError> {
    match format.map(str::trim) {
        None | Some("" | "application/xml" | "text/xml") => Ok(()),
        Some(f) => Err(CswError::invalid(
            "outputFormat",
            format!("only application/xml is offered, not {f:?}"),
        )),
    }
}

fn check_type_names(names: &str) -> Result<(), CswError> {
    for n in names
        .split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let local = n.rsplit(':').next().unwrap_or(n);
        if !matches!(
            local,
            "Record" | "MD_Metadata" | "BriefRecord" | "SummaryRecord"
        ) {
            return Err(CswError::invalid(
                "typeNames",
                format!("unknown type name {n:?}; use csw:Record or gmd:MD_Metadata"),
            ));
        }
    }
    Ok(())
}

fn parse_u64(v: &str, locator: &str) -> Result<u64, CswError> {
    v.trim().parse::<u64>().map_err(|_| {
        CswError::invalid(locator, format!("{locator} must be a non-negative integer"))
    })
}

fn start_position(v: Option<&str>) -> Result<u64, CswError> {
    match v {
        None => Ok(1),
        Some(v) => match parse_u64(v, "startPosition")? {
            0 => Err(CswError::invalid(
                "startPosition",
                "startPosition starts at 1",
            )),
            n => Ok(n),
        },
    }
}

fn max_records(v: Option<&str>, limits: &Limits) -> Result<u32, CswError> {
    match v {
        None => Ok(limits.default_records.min(limits.max_records)),
        Some(v) => {
            let n = parse_u64(v, "maxRecords")?;
            Ok(u32::try_from(n.min(u64::from(limits.max_records))).unwrap_or(limits.max_records))
        }
    }
}

fn result_type(v: Option<&str>) -> Result<ResultType, CswError> {
    match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("hits") => Ok(ResultType::Hits),
        Some("results") => Ok(ResultType::Results),
        Some(other) => Err(CswError::invalid(
            "resultType",
            format!("resultType must be hits or results, not {other:?}"),
        )),
    }
}

/// `SortBy` in KVP form: `dc:title:A,dct:modified:D`.
fn kvp_sort(v: &str) -> Result<Vec<SortKey>, CswError> {
    let mut keys = Vec::new();
    for item in v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(8)
    {
        let (name, descending) = match item.rsplit_once(':') {
            Some((n, "A" | "a" | "ASC" | "asc")) => (n, false),
            Some((n, "D" | "d" | "DESC" | "desc")) => (n, true),
            _ => (item, false),
        };
        keys.push(sort_key(name, descending)?);
    }
    Ok(keys)
}

fn sort_key(name: &str, descending: bool) -> Result<SortKey, CswError> {
    let prop = queryable(name).ok_or_else(|| {
        CswError::invalid(
            "SortBy",
            format!("cannot sort on unknown property {name:?}"),
        )
    })?;
    SortKey::new(prop, descending)
        .map_err(|_| CswError::invalid("SortBy", format!("cannot sort on {name:?}")))
}

/// Key/value pairs of a GET request (names are case-insensitive).
struct Kvp<'a>(&'a [(String, String)]);

impl Kvp<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a KVP (GET) request.
pub fn from_kvp(pairs: &[(String, String)], limits: &Limits) -> Result<Request, CswError> {
    let kvp = Kvp(pairs);
    let Some(req) = kvp.get("request").filter(|r| !r.trim().is_empty()) else {
        return Err(CswError::missing("request"));
    };
    let op = operation(req)?;
    if op == "GetCapabilities" {
        check_service(kvp.get("service"), true)?;
        if let Some(v) = kvp.get("acceptVersions")
            && !v.split(',').any(|x| x.trim() == "2.0.2")
        {
            return Err(CswError {
                code: crate::ExceptionCode::VersionNegotiationFailed,
                locator: Some("acceptVersions".into()),
                message: "only version 2.0.2 is offered".into(),
                status: 400,
            });
        }
        return Ok(Request::GetCapabilities);
    }
    check_service(kvp.get("service"), true)?;
    check_version(kvp.get("version"))?;
    match op {
        "DescribeRecord" => {
            check_format(kvp.get("outputFormat"))?;
            let names = kvp.get("typeName").or(kvp.get("typeNames")).unwrap_or("");
            check_type_names(names)?;
            if let Some(lang) = kvp.get("schemaLanguage")
                && !lang.to_ascii_uppercase().contains("XMLSCHEMA")
                && !lang.contains("XML/Schema")
            {
                return Err(CswError::invalid(
                    "schemaLanguage",
                    "only XML Schema is offered",
                ));
            }
            Ok(Request::DescribeRecord {
                type_names: names
                    .split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        }
        "GetDomain" => {
            let property = kvp.get("PropertyName").map(str::to_owned);
            let parameter = kvp.get("ParameterName").map(str::to_owned);
            if property.is_none() && parameter.is_none() {
                return Err(CswError::missing("PropertyName"));
            }
            Ok(Request::GetDomain {
                property,
                parameter,
            })
        }
        "GetRecordById" => {
            check_format(kvp.get("outputFormat"))?;
            let ids = split_ids(kvp.get("id").unwrap_or(""), limits)?;
            Ok(Request::GetRecordById {
                ids,
                element_set: match kvp.get("ElementSetName") {
                    Some(v) => ElementSet::parse(v, "ElementSetName")?,
                    None => ElementSet::Summary,
                },
                output_schema: OutputSchema::parse(kvp.get("outputSchema").unwrap_or(""))?,
            })
        }
        _ => {
            check_format(kvp.get("outputFormat"))?;
            let names = kvp.get("typeNames").unwrap_or("csw:Record");
            check_type_names(names)?;
            let element_names: Vec<String> = kvp
                .get("ElementName")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .take(32)
                .map(str::to_owned)
                .collect();
            let element_set = match kvp.get("ElementSetName") {
                Some(v) => ElementSet::parse(v, "ElementSetName")?,
                None => ElementSet::Summary,
            };
            let filter = match kvp.get("constraint").filter(|c| !c.trim().is_empty()) {
                None => RecordFilter::All,
                Some(c) => {
                    let lang = kvp.get("constraintLanguage").unwrap_or("CQL_TEXT");
                    match lang.trim().to_ascii_uppercase().as_str() {
                        "CQL_TEXT" | "CQL" => filter::cql(c)?,
                        "FILTER" => {
                            let root = parse_xml(c.as_bytes(), limits)?;
                            filter::ogc_filter(&root)?
                        }
                        other => {
                            return Err(CswError::invalid(
                                "constraintLanguage",
                                format!(
                                    "constraintLanguage must be FILTER or CQL_TEXT, not {other:?}"
                                ),
                            ));
                        }
                    }
                }
            };
            Ok(Request::GetRecords(GetRecords {
                result_type: result_type(kvp.get("resultType"))?,
                start_position: start_position(kvp.get("startPosition"))?,
                max_records: max_records(kvp.get("maxRecords"), limits)?,
                element_set,
                element_names,
                output_schema: OutputSchema::parse(kvp.get("outputSchema").unwrap_or(""))?,
                filter,
                sort: kvp_sort(kvp.get("SortBy").unwrap_or(""))?,
                request_id: kvp.get("requestId").map(str::to_owned),
            }))
        }
    }
}

fn split_ids(v: &str, limits: &Limits) -> Result<Vec<String>, CswError> {
    let ids: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(CswError::missing("id"));
    }
    if ids.len() > limits.max_ids {
        return Err(CswError::invalid(
            "id",
            format!("at most {} IDs per request", limits.max_ids),
        ));
    }
    Ok(ids)
}

/// Parses an XML body or constraint: bounded size, depth and element count; a DOCTYPE (and so
/// any entity declaration) is refused outright.
pub fn parse_xml(body: &[u8], limits: &Limits) -> Result<Element, CswError> {
    if body.len() > limits.max_body {
        return Err(CswError::too_large(limits.max_body));
    }
    if contains_doctype(body) {
        return Err(CswError::bad_request(
            "DOCTYPE declarations are not accepted",
        ));
    }
    tree::parse(
        body,
        &TreeLimits {
            max_bytes: limits.max_body,
            max_depth: limits.max_depth,
            max_elements: limits.max_elements,
        },
    )
    .map_err(|e| CswError::bad_request(format!("request is not acceptable XML: {e}")))
}

fn contains_doctype(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"<!doctype";
    body.windows(NEEDLE.len())
        .any(|w| w.eq_ignore_ascii_case(NEEDLE))
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|a| a.ns.is_empty() && a.local.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_str())
}

fn child<'a>(e: &'a Element, ns: &str, local: &str) -> Option<&'a Element> {
    e.elements().find(|c| c.ns == ns && c.local == local)
}

/// Decodes an XML (POST) request.
pub fn from_xml(body: &[u8], limits: &Limits) -> Result<Request, CswError> {
    let root = parse_xml(body, limits)?;
    if root.ns != ns::CSW {
        return Err(CswError::not_supported(&root.local));
    }
    let op = operation(&root.local)?;
    if op == "GetCapabilities" {
        check_service(attr(&root, "service"), false)?;
        return Ok(Request::GetCapabilities);
    }
    check_service(attr(&root, "service"), true)?;
    check_version(attr(&root, "version"))?;
    match op {
        "DescribeRecord" => {
            check_format(attr(&root, "outputFormat"))?;
            let names: Vec<String> = root
                .elements()
                .filter(|e| e.ns == ns::CSW && e.local == "TypeName")
                .map(|e| e.text().trim().to_owned())
                .take(16)
                .collect();
            check_type_names(&names.join(" "))?;
            Ok(Request::DescribeRecord { type_names: names })
        }
        "GetDomain" => {
            let property =
                child(&root, ns::CSW, "PropertyName").map(|e| e.text().trim().to_owned());
            let parameter =
                child(&root, ns::CSW, "ParameterName").map(|e| e.text().trim().to_owned());
            if property.is_none() && parameter.is_none() {
                return Err(CswError::missing("PropertyName"));
            }
            Ok(Request::GetDomain {
                property,
                parameter,
            })
        }
        "GetRecordById" => {
            check_format(attr(&root, "outputFormat"))?;
            let ids: Vec<String> = root
                .elements()
                .filter(|e| e.ns == ns::CSW && e.local == "Id")
                .map(|e| e.text().trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            let ids = split_ids(&ids.join(","), limits)?;
            Ok(Request::GetRecordById {
                ids,
                element_set: match child(&root, ns::CSW, "ElementSetName") {
                    Some(e) => ElementSet::parse(&e.text(), "ElementSetName")?,
                    None => ElementSet::Summary,
                },
                output_schema: OutputSchema::parse(attr(&root, "outputSchema").unwrap_or(""))?,
            })
        }
        _ => {
            check_format(attr(&root, "outputFormat"))?;
            let query = child(&root, ns::CSW, "Query").ok_or_else(|| CswError::missing("Query"))?;
            check_type_names(attr(query, "typeNames").unwrap_or("csw:Record"))?;
            let element_names: Vec<String> = query
                .elements()
                .filter(|e| e.ns == ns::CSW && e.local == "ElementName")
                .map(|e| e.text().trim().to_owned())
                .take(32)
                .collect();
            let element_set = match child(query, ns::CSW, "ElementSetName") {
                Some(e) => ElementSet::parse(&e.text(), "ElementSetName")?,
                None => ElementSet::Summary,
            };
            let filter = match child(query, ns::CSW, "Constraint") {
                None => RecordFilter::All,
                Some(c) => {
                    if let Some(f) = child(c, ns::OGC, "Filter") {
                        filter::ogc_filter(f)?
                    } else if let Some(t) = child(c, ns::CSW, "CqlText") {
                        filter::cql(&t.text())?
                    } else {
                        return Err(CswError::missing("Constraint"));
                    }
                }
            };
            let mut sort = Vec::new();
            if let Some(s) = child(query, ns::OGC, "SortBy") {
                for p in s
                    .elements()
                    .filter(|e| e.ns == ns::OGC && e.local == "SortProperty")
                    .take(8)
                {
                    let name = child(p, ns::OGC, "PropertyName")
                        .map(|e| e.text())
                        .unwrap_or_default();
                    let desc = child(p, ns::OGC, "SortOrder")
                        .is_some_and(|o| o.text().trim().eq_ignore_ascii_case("DESC"));
                    sort.push(sort_key(name.trim(), desc)?);
                }
            }
            Ok(Request::GetRecords(GetRecords {
                result_type: result_type(attr(&root, "resultType"))?,
                start_position: start_position(attr(&root, "startPosition"))?,
                max_records: max_records(attr(&root, "maxRecords"), limits)?,
                element_set,
                element_names,
                output_schema: OutputSchema::parse(attr(&root, "outputSchema").unwrap_or(""))?,
                filter,
                sort,
                request_id: attr(&root, "requestId").map(str::to_owned),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kvp(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn kvp_errors_name_the_parameter() {
        let l = Limits::default();
        let e = from_kvp(&kvp(&[("service", "CSW")]), &l).unwrap_err();
        assert_eq!(e.locator.as_deref(), Some("request"));
        let e = from_kvp(&kvp(&[("service", "CSW"), ("request", "Harvest")]), &l).unwrap_err();
        assert_eq!(e.code, crate::ExceptionCode::OperationNotSupported);
        let e = from_kvp(&kvp(&[("service", "CSW"), ("request", "GetRecords")]), &l).unwrap_err();
        assert_eq!(e.locator.as_deref(), Some("version"));
        let e = from_kvp(
            &kvp(&[
                ("service", "CSW"),
                ("version", "2.0.2"),
                ("request", "GetRecords"),
                ("maxRecords", "-1"),
            ]),
            &l,
        )
        .unwrap_err();
        assert_eq!(e.locator.as_deref(), Some("maxRecords"));
        let e = from_kvp(
            &kvp(&[
                ("service", "CSW"),
                ("version", "2.0.2"),
                ("request", "GetRecordById"),
            ]),
            &l,
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.locator.as_deref()),
            (crate::ExceptionCode::MissingParameterValue, Some("id"))
        );
    }

    #[test]
    fn kvp_get_records_with_cql_and_sort() {
        let l = Limits::default();
        let r = from_kvp(
            &kvp(&[
                ("SERVICE", "CSW"),
                ("version", "2.0.2"),
                ("request", "GetRecords"),
                ("resultType", "results"),
                ("maxRecords", "100000"),
                ("startPosition", "3"),
                ("constraintLanguage", "CQL_TEXT"),
                ("constraint", "dc:title like '%sea%'"),
                ("SortBy", "dc:title:D"),
                ("outputSchema", ns::GMD),
            ]),
            &l,
        )
        .unwrap();
        let Request::GetRecords(g) = r else {
            panic!("{r:?}")
        };
        assert_eq!(g.max_records, 100);
        assert_eq!(g.start_position, 3);
        assert_eq!(g.output_schema, OutputSchema::Iso);
        assert_eq!(
            g.sort,
            [SortKey {
                prop: threddex_store::SortProperty::Title,
                descending: true
            }]
        );
        assert!(matches!(
            g.filter,
            RecordFilter::Like {
                prop: threddex_store::TextProperty::Title,
                ..
            }
        ));
    }

    #[test]
    fn hostile_xml_is_refused() {
        let l = Limits::default();
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><csw:GetCapabilities xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">&lol2;</csw:GetCapabilities>"#;
        assert!(from_xml(bomb, &l).is_err());
        let deep = format!(
            "<csw:GetRecords xmlns:csw=\"{}\">{}{}</csw:GetRecords>",
            ns::CSW,
            "<a>".repeat(200),
            "</a>".repeat(200)
        );
        assert!(from_xml(deep.as_bytes(), &l).is_err());
        let big = vec![b' '; l.max_body + 1];
        assert_eq!(from_xml(&big, &l).unwrap_err().status, 413);
        assert!(from_xml(b"<not closed", &l).is_err());
        assert!(from_xml(b"\xff\xfe", &l).is_err());
    }
}
