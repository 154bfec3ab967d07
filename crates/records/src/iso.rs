//! ISO 19139 building blocks shared by the synthesiser, the ncISO rewriter and the granule
//! records. Element order inside each block follows the ISO 19139 schemas.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use threddex_catalog::ServiceType;
use threddex_store::{AccessService, CollectionView};

use crate::Extent;
use crate::input::{BBox, Party, SeriesInput};
use crate::writer::{XmlWriter, fmt_decimal};

/// The code list catalogue used for every code value.
pub const CODELIST: &str = "http://www.isotc211.org/2005/resources/Codelist/gmxCodelists.xml";

/// Namespace declarations of a synthesised `gmd:MD_Metadata` root.
pub const ROOT_NS: &[(&str, &str)] = &[
    ("xmlns:gmd", crate::tree::GMD),
    ("xmlns:gco", crate::tree::GCO),
    ("xmlns:gml", crate::tree::GML),
    ("xmlns:xlink", crate::tree::XLINK),
];

/// `MD_Metadata` children in schema order (`MI_Metadata` adds `acquisitionInformation`).
pub const MD_METADATA_ORDER: &[&str] = &[
    "fileIdentifier",
    "language",
    "characterSet",
    "parentIdentifier",
    "hierarchyLevel",
    "hierarchyLevelName",
    "contact",
    "dateStamp",
    "metadataStandardName",
    "metadataStandardVersion",
    "dataSetURI",
    "locale",
    "spatialRepresentationInfo",
    "referenceSystemInfo",
    "metadataExtensionInfo",
    "identificationInfo",
    "contentInfo",
    "distributionInfo",
    "dataQualityInfo",
    "portrayalCatalogueInfo",
    "metadataConstraints",
    "applicationSchemaInfo",
    "metadataMaintenance",
    "series",
    "describes",
    "propertyType",
    "featureType",
    "featureAttribute",
    "acquisitionInformation",
];

/// `MD_DataIdentification` children in schema order.
pub const DATA_IDENT_ORDER: &[&str] = &[
    "citation",
    "abstract",
    "purpose",
    "credit",
    "status",
    "pointOfContact",
    "resourceMaintenance",
    "graphicOverview",
    "resourceFormat",
    "descriptiveKeywords",
    "resourceSpecificUsage",
    "resourceConstraints",
    "aggregationInfo",
    "spatialRepresentationType",
    "spatialResolution",
    "language",
    "characterSet",
    "topicCategory",
    "environmentDescription",
    "extent",
    "supplementalInformation",
];

/// `CI_Citation` children in schema order.
pub const CITATION_ORDER: &[&str] = &[
    "title",
    "alternateTitle",
    "date",
    "edition",
    "editionDate",
    "identifier",
    "citedResponsibleParty",
    "presentationForm",
    "series",
    "otherCitationDetails",
    "collectiveTitle",
    "ISBN",
    "ISSN",
];

/// `EX_Extent` children in schema order.
pub const EXTENT_ORDER: &[&str] = &[
    "description",
    "geographicElement",
    "temporalElement",
    "verticalElement",
];

/// `MD_Distribution` children in schema order.
pub const DISTRIBUTION_ORDER: &[&str] = &["distributionFormat", "distributor", "transferOptions"];

/// How an access service is described in an online resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// `gmd:protocol` value (e.g. `OPeNDAP:OPeNDAP`, `WWW:DOWNLOAD-1.0-http--download`).
    pub protocol: &'static str,
    /// `CI_OnLineFunctionCode` (`download`, `information`, `search`).
    pub function: &'static str,
    /// Human description of the service type.
    pub description: &'static str,
    /// Whether the service gives access to the data (not metadata or a resolver).
    pub data: bool,
}

/// The protocol of a THREDDS `serviceType` (case-insensitive, as `threddex_catalog` parses it).
pub fn protocol_for(service_type: &str) -> Protocol {
    let p = |protocol, function, description, data| Protocol {
        protocol,
        function,
        description,
        data,
    };
    match ServiceType::parse(service_type) {
        ServiceType::OpenDap => p("OPeNDAP:OPeNDAP", "download", "OPeNDAP access", true),
        ServiceType::Dap4 => p("OPeNDAP:DAP4", "download", "DAP4 access", true),
        ServiceType::HttpServer => p(
            "WWW:DOWNLOAD-1.0-http--download",
            "download",
            "File download (HTTP)",
            true,
        ),
        ServiceType::Wms => p("OGC:WMS", "download", "OGC Web Map Service", true),
        ServiceType::Wcs => p("OGC:WCS", "download", "OGC Web Coverage Service", true),
        ServiceType::Ncss => p("UNIDATA:NCSS", "download", "NetCDF Subset Service", true),
        ServiceType::CdmRemote => p("UNIDATA:CDMREMOTE", "download", "CDM Remote access", true),
        ServiceType::CdmrFeature => p(
            "UNIDATA:CDMRFEATURE",
            "download",
            "CDM Remote feature access",
            true,
        ),
        ServiceType::Ftp | ServiceType::GridFtp => p(
            "WWW:DOWNLOAD-1.0-ftp--download",
            "download",
            "File download (FTP)",
            true,
        ),
        ServiceType::NetCdf => p(
            "WWW:DOWNLOAD-1.0-http--download",
            "download",
            "NetCDF file access",
            true,
        ),
        ServiceType::Iso => p(
            "WWW:LINK-1.0-http--link",
            "information",
            "ISO 19115 metadata (ncISO)",
            false,
        ),
        ServiceType::NcML => p(
            "WWW:LINK-1.0-http--link",
            "information",
            "NcML metadata",
            false,
        ),
        ServiceType::Uddc => p(
            "WWW:LINK-1.0-http--link",
            "information",
            "Attribute convention evaluation (UDDC)",
            false,
        ),
        ServiceType::JupyterNotebook => p(
            "WWW:LINK-1.0-http--link",
            "information",
            "Jupyter notebook",
            false,
        ),
        ServiceType::Resolver => p(
            "WWW:LINK-1.0-http--link",
            "information",
            "THREDDS resolver (answers with the catalog entry of the dataset it resolves to)",
            false,
        ),
        _ => p(
            "WWW:LINK-1.0-http--link",
            "information",
            "THREDDS service",
            false,
        ),
    }
}

/// The collection's ISO service (`serviceType="ISO"`), if its catalog offers one.
pub fn iso_service(services: &[AccessService]) -> Option<&AccessService> {
    services
        .iter()
        .find(|s| ServiceType::parse(&s.service_type) == ServiceType::Iso)
}

/// The URL of the ISO record of one sample granule, as TDS serves it:
/// `{iso base}{urlPath}{suffix}?catalog={catalog URL}&dataset={dataset ID}` (query values
/// percent-encoded; `&` instead of `?` when the base or suffix already has a query).
pub fn iso_record_url(
    iso: &AccessService,
    url_path: &str,
    catalog_url: &str,
    dataset_id: &str,
) -> String {
    let mut u = iso.url_for(url_path);
    u.push(if u.contains('?') { '&' } else { '?' });
    u.push_str("catalog=");
    u.push_str(&crate::input::encode_query(catalog_url));
    u.push_str("&dataset=");
    u.push_str(&crate::input::encode_query(dataset_id));
    u
}

/// `YYYY-MM-DDThh:mm:ssZ`, or None for years outside 1..=9999 (not representable in
/// `xs:dateTime` without sign games).
pub fn fmt_datetime(d: &DateTime<Utc>) -> Option<String> {
    (1..=9999)
        .contains(&d.year())
        .then(|| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// `<outer><gmd:{code} codeList=… codeListValue=…>value</gmd:{code}></outer>`.
pub fn code(w: &mut XmlWriter, outer: &str, code: &str, value: &str) {
    let list = format!("{CODELIST}#{code}");
    let name = format!("gmd:{code}");
    w.start(outer, &[])
        .leaf(
            &name,
            &[
                ("codeList", &list),
                ("codeListValue", &crate::writer::safe_uri(value)),
            ],
            value,
        )
        .end();
}

/// A `CI_ResponsibleParty` inside `outer`.
pub fn party(w: &mut XmlWriter, outer: &str, p: &Party) {
    w.start(outer, &[]).start("gmd:CI_ResponsibleParty", &[]);
    // A person-looking name (has an e-mail and a space, no "/") could be individualName; the
    // THREDDS model does not say, so names go to organisationName as ncISO does for creators.
    if p.name.trim().is_empty() {
        w.nil("gmd:organisationName", "missing");
    } else {
        w.string("gmd:organisationName", &p.name);
    }
    if let Some(pos) = &p.position {
        w.string("gmd:positionName", pos);
    }
    if p.email.is_some() || p.url.is_some() {
        w.start("gmd:contactInfo", &[]).start("gmd:CI_Contact", &[]);
        if let Some(e) = &p.email {
            w.start("gmd:address", &[]).start("gmd:CI_Address", &[]);
            w.string("gmd:electronicMailAddress", e);
            w.end().end();
        }
        if let Some(u) = &p.url {
            w.start("gmd:onlineResource", &[])
                .start("gmd:CI_OnlineResource", &[]);
            w.start("gmd:linkage", &[])
                .leaf("gmd:URL", &[], &crate::writer::safe_uri(u))
                .end();
            w.end().end();
        }
        w.end().end();
    }
    let role = if p.role.is_empty() {
        "pointOfContact"
    } else {
        p.role.as_str()
    };
    code(w, "gmd:role", "CI_RoleCode", role);
    w.end().end();
}

/// A `CI_Date` inside `gmd:date`.
pub fn ci_date(w: &mut XmlWriter, date: &DateTime<Utc>, kind: &str) {
    let Some(d) = fmt_datetime(date) else {
        w.nil("gmd:date", "unknown");
        return;
    };
    w.start("gmd:date", &[]).start("gmd:CI_Date", &[]);
    w.start("gmd:date", &[]).leaf("gco:DateTime", &[], &d).end();
    code(w, "gmd:dateType", "CI_DateTypeCode", kind);
    w.end().end();
}

/// `gmd:identifier/gmd:MD_Identifier/gmd:code`.
pub fn identifier(w: &mut XmlWriter, id: &str) {
    w.start("gmd:identifier", &[])
        .start("gmd:MD_Identifier", &[]);
    w.string("gmd:code", id);
    w.end().end();
}

/// One `gmd:geographicElement`, or two when the box crosses the antimeridian.
pub fn geographic_elements(w: &mut XmlWriter, b: &BBox) {
    let Some(b) = b.sanitized() else { return };
    let boxes = if b.crosses_antimeridian() {
        vec![(b.west, 180.0), (-180.0, b.east)]
    } else {
        vec![(b.west, b.east)]
    };
    for (west, east) in boxes {
        w.start("gmd:geographicElement", &[])
            .start("gmd:EX_GeographicBoundingBox", &[]);
        for (name, v) in [
            ("gmd:westBoundLongitude", west),
            ("gmd:eastBoundLongitude", east),
            ("gmd:southBoundLatitude", b.south),
            ("gmd:northBoundLatitude", b.north),
        ] {
            w.start(name, &[])
                .leaf("gco:Decimal", &[], &fmt_decimal(v))
                .end();
        }
        w.end().end();
    }
}

/// A `gmd:temporalElement` with a `gml:TimePeriod` (unknown bounds as
/// `indeterminatePosition="unknown"`); nothing when the extent is empty.
pub fn temporal_element(w: &mut XmlWriter, gml_id: &str, e: &Extent) {
    if e.is_empty() {
        return;
    }
    w.start("gmd:temporalElement", &[])
        .start("gmd:EX_TemporalExtent", &[])
        .start("gmd:extent", &[]);
    w.start("gml:TimePeriod", &[("gml:id", gml_id)]);
    for (name, v) in [("gml:beginPosition", e.start), ("gml:endPosition", e.end)] {
        match v.as_ref().and_then(fmt_datetime) {
            Some(t) => w.leaf(name, &[], &t),
            None => w.empty(name, &[("indeterminatePosition", "unknown")]),
        };
    }
    w.end().end().end().end();
}

/// A `gmd:onLine` online resource.
pub fn online(
    w: &mut XmlWriter,
    url: &str,
    protocol: &str,
    name: &str,
    description: &str,
    function: &str,
) {
    w.start("gmd:onLine", &[])
        .start("gmd:CI_OnlineResource", &[]);
    w.start("gmd:linkage", &[])
        .leaf("gmd:URL", &[], &crate::writer::safe_uri(url))
        .end();
    w.string("gmd:protocol", protocol);
    if !name.is_empty() {
        w.string("gmd:name", name);
    }
    if !description.is_empty() {
        w.string("gmd:description", description);
    }
    code(w, "gmd:function", "CI_OnLineFunctionCode", function);
    w.end().end();
}

/// The online resources of a series: one per access service (its base URL; a granule's URL
/// is base + urlPath + suffix), the catalog, the granule search and documentation links.
pub fn series_links(w: &mut XmlWriter, input: &SeriesInput) {
    for s in &input.services {
        if s.base.trim().is_empty() {
            continue;
        }
        let p = protocol_for(&s.service_type);
        let desc = if s.suffix.is_empty() {
            format!(
                "{} ({}): granule URL = this base + urlPath",
                p.description, s.service_type
            )
        } else {
            format!(
                "{} ({}): granule URL = this base + urlPath + \"{}\"",
                p.description, s.service_type, s.suffix
            )
        };
        online(w, &s.base, p.protocol, &s.name, &desc, p.function);
    }
    if let Some(c) = &input.catalog_url {
        online(
            w,
            c,
            "WWW:LINK-1.0-http--link",
            "THREDDS catalog",
            "THREDDS catalog listing the granules",
            "information",
        );
    }
    if let Some(u) = &input.search_url {
        online(
            w,
            u,
            "WWW:LINK-1.0-http--link",
            "Granule search",
            "Search the granules of this collection",
            "search",
        );
    }
    for l in &input.links {
        online(
            w,
            &l.url,
            "WWW:LINK-1.0-http--link",
            l.title.as_deref().unwrap_or(""),
            "Documentation",
            "information",
        );
    }
}

/// Label of the transfer options that hold a series' virtual views.
pub const VIEWS_UNITS: &str =
    "Virtual datasets: aggregations and resolvers the server computes from the collection's files";

/// The online resources of a series' virtual views: one per access URL of each view (name =
/// the view's name), and the catalog of a catalogRef view.
pub fn view_links(w: &mut XmlWriter, views: &[CollectionView]) {
    for v in views {
        let view = &v.view;
        let kind = view.kind.description();
        for a in &view.access {
            if a.url.trim().is_empty() {
                continue;
            }
            let p = protocol_for(&a.service_type);
            let desc = format!(
                "{kind} (virtual dataset): {} ({})",
                p.description, a.service_type
            );
            online(w, &a.url, p.protocol, &view.name, &desc, p.function);
        }
        if let Some(c) = view.catalog_ref.as_deref().filter(|c| !c.trim().is_empty()) {
            let desc = format!("{kind} (virtual datasets): THREDDS catalog");
            online(
                w,
                c,
                "WWW:LINK-1.0-http--link",
                &view.name,
                &desc,
                "information",
            );
        }
    }
}

/// The online resources of one granule: one access URL per data or metadata service (not
/// resolvers), and the catalog entry.
pub fn granule_links(
    w: &mut XmlWriter,
    url_path: Option<&str>,
    services: &[AccessService],
    catalog: Option<&str>,
) {
    if let Some(path) = url_path {
        for s in services {
            let t = ServiceType::parse(&s.service_type);
            if matches!(
                t,
                ServiceType::Resolver | ServiceType::Compound | ServiceType::Catalog
            ) || s.base.trim().is_empty()
            {
                continue;
            }
            let p = protocol_for(&s.service_type);
            online(
                w,
                &s.url_for(path),
                p.protocol,
                &s.name,
                p.description,
                p.function,
            );
        }
    }
    if let Some(c) = catalog {
        online(
            w,
            c,
            "WWW:LINK-1.0-http--link",
            "THREDDS catalog",
            "THREDDS catalog entry of this granule",
            "information",
        );
    }
}

/// `gmd:distributionFormat` for a THREDDS data format.
pub fn distribution_format(w: &mut XmlWriter, format: &str) {
    w.start("gmd:distributionFormat", &[])
        .start("gmd:MD_Format", &[]);
    w.string("gmd:name", format);
    w.nil("gmd:version", "unknown");
    w.end().end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn protocols() {
        assert_eq!(protocol_for("OPENDAP").protocol, "OPeNDAP:OPeNDAP");
        assert_eq!(protocol_for("dods").protocol, "OPeNDAP:OPeNDAP");
        assert_eq!(
            protocol_for("HTTPServer").protocol,
            "WWW:DOWNLOAD-1.0-http--download"
        );
        assert!(!protocol_for("ISO").data);
        assert_eq!(protocol_for("weird").function, "information");
    }

    #[test]
    fn iso_url() {
        let svcs = vec![
            AccessService {
                name: "odap".into(),
                service_type: "OPENDAP".into(),
                base: "https://h/dodsC/".into(),
                suffix: String::new(),
            },
            AccessService {
                name: "iso".into(),
                service_type: "iso".into(),
                base: "https://h/thredds/iso/".into(),
                suffix: String::new(),
            },
        ];
        let iso = iso_service(&svcs).unwrap();
        assert_eq!(
            iso_record_url(
                iso,
                "grib/a b.grib2",
                "https://h/thredds/catalog/grib/catalog.xml",
                "grib/a b.grib2"
            ),
            "https://h/thredds/iso/grib/a b.grib2?catalog=https%3A%2F%2Fh%2Fthredds%2Fcatalog%2Fgrib%2Fcatalog.xml&dataset=grib%2Fa%20b.grib2"
        );
        assert!(iso_service(&svcs[..1]).is_none());
    }

    #[test]
    fn antimeridian_box_is_split() {
        let mut w = XmlWriter::fragment();
        geographic_elements(
            &mut w,
            &BBox {
                west: 170.0,
                east: -170.0,
                south: -5.0,
                north: 5.0,
            },
        );
        let s = w.finish();
        assert_eq!(
            s.matches("<gmd:EX_GeographicBoundingBox>").count(),
            2,
            "{s}"
        );
        assert!(
            s.contains("<gco:Decimal>180.0</gco:Decimal>")
                && s.contains("<gco:Decimal>-180.0</gco:Decimal>")
        );
    }

    #[test]
    fn out_of_range_years_are_unknown() {
        let d = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        assert!(fmt_datetime(&d).is_none());
        let mut w = XmlWriter::fragment();
        temporal_element(&mut w, "t", &Extent::new(Some(d), None));
        assert_eq!(
            w.finish()
                .matches("indeterminatePosition=\"unknown\"")
                .count(),
            2
        );
    }
}
