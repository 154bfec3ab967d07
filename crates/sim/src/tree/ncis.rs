//! ncISO-like ISO 19115-2 records (`gmi:MI_Metadata`) for the granules of the model-run tree,
//! served under `/thredds/iso/{urlPath}` like TDS's ISO service. Deterministic, pretty-printed
//! like ncISO output (tens of kilobytes: per-variable content information dominates), and
//! valid against the ISO 19139 / 19115-2 schemas.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::xml::escape;

/// (name, long name, units) of the GRIB variables every simulated model file holds.
const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "Temperature_isobaric",
        "Temperature @ Isobaric surface",
        "K",
    ),
    (
        "Temperature_height_above_ground",
        "Temperature @ Specified height level above ground",
        "K",
    ),
    (
        "Temperature_surface",
        "Temperature @ Ground or water surface",
        "K",
    ),
    ("Temperature_tropopause", "Temperature @ Tropopause", "K"),
    (
        "Maximum_temperature_height_above_ground_Mixed_intervals_Maximum",
        "Maximum temperature (Mixed_intervals Maximum) @ Specified height level above ground",
        "K",
    ),
    (
        "Minimum_temperature_height_above_ground_Mixed_intervals_Minimum",
        "Minimum temperature (Mixed_intervals Minimum) @ Specified height level above ground",
        "K",
    ),
    (
        "Dewpoint_temperature_height_above_ground",
        "Dewpoint temperature @ Specified height level above ground",
        "K",
    ),
    (
        "Relative_humidity_isobaric",
        "Relative humidity @ Isobaric surface",
        "%",
    ),
    (
        "Relative_humidity_height_above_ground",
        "Relative humidity @ Specified height level above ground",
        "%",
    ),
    (
        "Specific_humidity_isobaric",
        "Specific humidity @ Isobaric surface",
        "kg/kg",
    ),
    (
        "Specific_humidity_height_above_ground",
        "Specific humidity @ Specified height level above ground",
        "kg/kg",
    ),
    (
        "Geopotential_height_isobaric",
        "Geopotential height @ Isobaric surface",
        "gpm",
    ),
    (
        "Geopotential_height_surface",
        "Geopotential height @ Ground or water surface",
        "gpm",
    ),
    (
        "Geopotential_height_tropopause",
        "Geopotential height @ Tropopause",
        "gpm",
    ),
    (
        "u-component_of_wind_isobaric",
        "u-component of wind @ Isobaric surface",
        "m/s",
    ),
    (
        "v-component_of_wind_isobaric",
        "v-component of wind @ Isobaric surface",
        "m/s",
    ),
    (
        "u-component_of_wind_height_above_ground",
        "u-component of wind @ Specified height level above ground",
        "m/s",
    ),
    (
        "v-component_of_wind_height_above_ground",
        "v-component of wind @ Specified height level above ground",
        "m/s",
    ),
    (
        "Vertical_velocity_pressure_isobaric",
        "Vertical velocity (pressure) @ Isobaric surface",
        "Pa/s",
    ),
    (
        "Absolute_vorticity_isobaric",
        "Absolute vorticity @ Isobaric surface",
        "1/s",
    ),
    (
        "Pressure_surface",
        "Pressure @ Ground or water surface",
        "Pa",
    ),
    (
        "Pressure_reduced_to_MSL_msl",
        "Pressure reduced to MSL @ Mean sea level level",
        "Pa",
    ),
    ("Pressure_tropopause", "Pressure @ Tropopause", "Pa"),
    (
        "Precipitable_water_entire_atmosphere_single_layer",
        "Precipitable water @ Entire atmosphere layer",
        "kg.m-2",
    ),
    (
        "Total_precipitation_surface_Mixed_intervals_Accumulation",
        "Total precipitation (Mixed_intervals Accumulation) @ Ground or water surface",
        "kg.m-2",
    ),
    (
        "Convective_precipitation_surface_Mixed_intervals_Accumulation",
        "Convective precipitation (Mixed_intervals Accumulation) @ Ground or water surface",
        "kg.m-2",
    ),
    (
        "Precipitation_rate_surface",
        "Precipitation rate @ Ground or water surface",
        "kg.m-2.s-1",
    ),
    (
        "Categorical_Rain_surface",
        "Categorical Rain (yes=1; no=0) @ Ground or water surface",
        "1",
    ),
    (
        "Categorical_Snow_surface",
        "Categorical Snow (yes=1; no=0) @ Ground or water surface",
        "1",
    ),
    (
        "Total_cloud_cover_entire_atmosphere",
        "Total cloud cover @ Entire atmosphere layer",
        "%",
    ),
    (
        "Low_cloud_cover_low_cloud",
        "Low cloud cover @ Low cloud layer",
        "%",
    ),
    (
        "High_cloud_cover_high_cloud",
        "High cloud cover @ High cloud layer",
        "%",
    ),
    (
        "Convective_available_potential_energy_surface",
        "Convective available potential energy @ Ground or water surface",
        "J/kg",
    ),
    (
        "Convective_inhibition_surface",
        "Convective inhibition @ Ground or water surface",
        "J/kg",
    ),
    (
        "Snow_depth_surface",
        "Snow depth @ Ground or water surface",
        "m",
    ),
    (
        "Water_equivalent_of_accumulated_snow_depth_surface",
        "Water equivalent of accumulated snow depth @ Ground or water surface",
        "kg.m-2",
    ),
    (
        "Visibility_surface",
        "Visibility @ Ground or water surface",
        "m",
    ),
    (
        "Wind_speed_gust_surface",
        "Wind speed (gust) @ Ground or water surface",
        "m/s",
    ),
    (
        "Ozone_Mixing_Ratio_isobaric",
        "Ozone Mixing Ratio @ Isobaric surface",
        "kg/kg",
    ),
    (
        "Land_cover_0__sea_1__land_surface",
        "Land cover (0=sea, 1=land) @ Ground or water surface",
        "1",
    ),
];

const CODELIST: &str =
    "http://www.ngdc.noaa.gov/metadata/published/xsd/schema/resources/Codelist/gmxCodelists.xml";

/// What a record describes.
pub(crate) struct IsoGranule<'a> {
    /// Dataset ID (also the urlPath).
    pub id: &'a str,
    /// File name.
    pub name: &'a str,
    /// Model title, e.g. `GFS Global 0p25deg`.
    pub title: &'a str,
    /// Run time and end of the forecast.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `http://host:port` is not known here: links are server-relative absolute paths under
    /// this prefix (`http://thredds.sim` by default).
    pub host: &'a str,
    /// Horizontal extent (west, east, south, north) and grid size (x, y).
    pub bbox: (f64, f64, f64, f64),
    pub grid: (u32, u32),
}

struct W {
    o: String,
    depth: usize,
}

impl W {
    fn open(&mut self, tag: &str) {
        self.line(&format!("<{tag}>"));
        self.depth += 1;
    }
    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.line(&format!("</{name}>"));
    }
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.o.push_str("  ");
        }
        self.o.push_str(s);
        self.o.push('\n');
    }
    fn cs(&mut self, outer: &str, text: &str) {
        self.line(&format!(
            "<{outer}><gco:CharacterString>{}</gco:CharacterString></{outer}>",
            escape(text)
        ));
    }
    fn code(&mut self, outer: &str, list: &str, value: &str) {
        self.open(outer);
        self.line(&format!(
            "<gmd:{list} codeList=\"{CODELIST}#{list}\" codeListValue=\"{value}\">{value}</gmd:{list}>"
        ));
        self.close(outer);
    }
    fn party(
        &mut self,
        outer: &str,
        person: Option<&str>,
        org: &str,
        email: &str,
        url: &str,
        role: &str,
    ) {
        self.open(outer);
        self.open("gmd:CI_ResponsibleParty");
        if let Some(p) = person {
            self.cs("gmd:individualName", p);
        }
        self.cs("gmd:organisationName", org);
        self.open("gmd:contactInfo");
        self.open("gmd:CI_Contact");
        self.open("gmd:address");
        self.open("gmd:CI_Address");
        self.cs("gmd:electronicMailAddress", email);
        self.close("gmd:CI_Address");
        self.close("gmd:address");
        self.open("gmd:onlineResource");
        self.open("gmd:CI_OnlineResource");
        self.line(&format!(
            "<gmd:linkage><gmd:URL>{}</gmd:URL></gmd:linkage>",
            escape(url)
        ));
        self.open("gmd:protocol");
        self.line("<gco:CharacterString>http</gco:CharacterString>");
        self.close("gmd:protocol");
        self.code("gmd:function", "CI_OnLineFunctionCode", "information");
        self.close("gmd:CI_OnlineResource");
        self.close("gmd:onlineResource");
        self.close("gmd:CI_Contact");
        self.close("gmd:contactInfo");
        self.code("gmd:role", "CI_RoleCode", role);
        self.close("gmd:CI_ResponsibleParty");
        self.close(outer);
    }
    fn online(&mut self, url: &str, protocol: &str, name: &str, desc: &str, function: &str) {
        self.open("gmd:onLine");
        self.open("gmd:CI_OnlineResource");
        self.line(&format!(
            "<gmd:linkage><gmd:URL>{}</gmd:URL></gmd:linkage>",
            escape(url)
        ));
        self.cs("gmd:protocol", protocol);
        self.cs("gmd:name", name);
        self.cs("gmd:description", desc);
        self.code("gmd:function", "CI_OnLineFunctionCode", function);
        self.close("gmd:CI_OnlineResource");
        self.close("gmd:onLine");
    }
    fn keywords(&mut self, words: &[&str], kind: &str, thesaurus: Option<&str>) {
        self.open("gmd:descriptiveKeywords");
        self.open("gmd:MD_Keywords");
        for w in words {
            self.cs("gmd:keyword", w);
        }
        self.code("gmd:type", "MD_KeywordTypeCode", kind);
        if let Some(t) = thesaurus {
            self.open("gmd:thesaurusName");
            self.open("gmd:CI_Citation");
            self.cs("gmd:title", t);
            self.line("<gmd:date gco:nilReason=\"unknown\"/>");
            self.close("gmd:CI_Citation");
            self.close("gmd:thesaurusName");
        }
        self.close("gmd:MD_Keywords");
        self.close("gmd:descriptiveKeywords");
    }
    fn decimal(&mut self, outer: &str, v: f64) {
        self.line(&format!(
            "<{outer}><gco:Decimal>{v:.1}</gco:Decimal></{outer}>"
        ));
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The record of one granule.
pub(crate) fn record(g: &IsoGranule<'_>) -> String {
    let mut w = W {
        o: String::with_capacity(48 * 1024),
        depth: 0,
    };
    let h = g.host;
    w.line("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    w.line("<gmi:MI_Metadata xmlns:gco=\"http://www.isotc211.org/2005/gco\" xmlns:gmd=\"http://www.isotc211.org/2005/gmd\" xmlns:gmi=\"http://www.isotc211.org/2005/gmi\" xmlns:srv=\"http://www.isotc211.org/2005/srv\" xmlns:gmx=\"http://www.isotc211.org/2005/gmx\" xmlns:gml=\"http://www.opengis.net/gml/3.2\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">");
    w.depth = 1;
    w.cs("gmd:fileIdentifier", g.id);
    w.open("gmd:language");
    w.line(&format!("<gmd:LanguageCode codeList=\"{CODELIST}#LanguageCode\" codeListValue=\"eng\">eng</gmd:LanguageCode>"));
    w.close("gmd:language");
    w.code("gmd:characterSet", "MD_CharacterSetCode", "UTF8");
    w.code("gmd:hierarchyLevel", "MD_ScopeCode", "dataset");
    w.party(
        "gmd:contact",
        Some("Unidata THREDDS support"),
        "UCAR/Unidata",
        "support-thredds@unidata.ucar.edu",
        "https://www.unidata.ucar.edu/",
        "pointOfContact",
    );
    w.line(&format!(
        "<gmd:dateStamp><gco:Date>{}</gco:Date></gmd:dateStamp>",
        g.start.format("%Y-%m-%d")
    ));
    w.cs(
        "gmd:metadataStandardName",
        "ISO 19115-2 Geographic Information - Metadata Part 2 Extensions for imagery and gridded data",
    );
    w.cs("gmd:metadataStandardVersion", "ISO 19115-2:2009(E)");
    // Grid representation: time, reference time, isobaric levels, y, x.
    w.open("gmd:spatialRepresentationInfo");
    w.open("gmd:MD_GridSpatialRepresentation");
    w.line("<gmd:numberOfDimensions><gco:Integer>5</gco:Integer></gmd:numberOfDimensions>");
    let hours = (g.end - g.start).num_hours().max(1);
    for (name, kind, size) in [
        (
            "time",
            "temporal",
            u32::try_from(hours / 3 + 1).unwrap_or(1),
        ),
        ("reftime", "temporal", 1),
        ("isobaric", "vertical", 31),
        ("y", "row", g.grid.1),
        ("x", "column", g.grid.0),
    ] {
        w.open("gmd:axisDimensionProperties");
        w.open("gmd:MD_Dimension");
        w.code("gmd:dimensionName", "MD_DimensionNameTypeCode", kind);
        w.line(&format!(
            "<gmd:dimensionSize><gco:Integer>{size}</gco:Integer></gmd:dimensionSize>"
        ));
        w.close("gmd:MD_Dimension");
        w.close("gmd:axisDimensionProperties");
        let _ = name;
    }
    w.code("gmd:cellGeometry", "MD_CellGeometryCode", "area");
    w.line("<gmd:transformationParameterAvailability gco:nilReason=\"unknown\"/>");
    w.close("gmd:MD_GridSpatialRepresentation");
    w.close("gmd:spatialRepresentationInfo");

    // Data identification.
    w.open("gmd:identificationInfo");
    w.line("<gmd:MD_DataIdentification id=\"DataIdentification\">");
    w.depth += 1;
    w.open("gmd:citation");
    w.open("gmd:CI_Citation");
    w.cs("gmd:title", &format!("{} {}", g.title, g.name));
    w.open("gmd:date");
    w.open("gmd:CI_Date");
    w.line(&format!(
        "<gmd:date><gco:DateTime>{}</gco:DateTime></gmd:date>",
        ts(g.start)
    ));
    w.code("gmd:dateType", "CI_DateTypeCode", "creation");
    w.close("gmd:CI_Date");
    w.close("gmd:date");
    w.open("gmd:identifier");
    w.open("gmd:MD_Identifier");
    w.open("gmd:authority");
    w.open("gmd:CI_Citation");
    w.cs("gmd:title", "edu.ucar.unidata");
    w.line("<gmd:date gco:nilReason=\"inapplicable\"/>");
    w.close("gmd:CI_Citation");
    w.close("gmd:authority");
    w.cs("gmd:code", g.id);
    w.close("gmd:MD_Identifier");
    w.close("gmd:identifier");
    w.party(
        "gmd:citedResponsibleParty",
        None,
        "NOAA/NCEP",
        "ncep.list.nomads-ftpprd@noaa.gov",
        "https://www.ncep.noaa.gov/",
        "originator",
    );
    w.party(
        "gmd:citedResponsibleParty",
        None,
        "UCAR/Unidata",
        "support@unidata.ucar.edu",
        "https://www.unidata.ucar.edu/",
        "publisher",
    );
    w.close("gmd:CI_Citation");
    w.close("gmd:citation");
    w.cs(
        "gmd:abstract",
        &format!(
            "{} model run of {} UTC: forecast fields on the model grid from {} to {}, \
             as distributed over the Unidata Internet Data Distribution (IDD) and decoded from GRIB-2.",
            g.title,
            g.start.format("%Y-%m-%d %H:%M"),
            ts(g.start),
            ts(g.end)
        ),
    );
    w.cs(
        "gmd:purpose",
        "Numerical weather prediction guidance for research and education.",
    );
    w.cs(
        "gmd:credit",
        "Data generated by NOAA/NCEP and distributed by UCAR/Unidata.",
    );
    w.party(
        "gmd:pointOfContact",
        None,
        "UCAR/Unidata",
        "support@unidata.ucar.edu",
        "https://www.unidata.ucar.edu/",
        "pointOfContact",
    );
    w.keywords(
        &[
            "EARTH SCIENCE > ATMOSPHERE > ATMOSPHERIC TEMPERATURE",
            "EARTH SCIENCE > ATMOSPHERE > ATMOSPHERIC WINDS",
            "EARTH SCIENCE > ATMOSPHERE > PRECIPITATION",
            "EARTH SCIENCE > ATMOSPHERE > CLOUDS",
        ],
        "theme",
        Some("GCMD Science Keywords"),
    );
    let names: Vec<&str> = VARIABLES.iter().map(|v| v.0).collect();
    w.keywords(&names, "theme", Some("GRIB-2 variable names"));
    w.keywords(&["NCEP", "NWP", "forecast"], "theme", None);
    w.open("gmd:resourceConstraints");
    w.open("gmd:MD_LegalConstraints");
    w.cs(
        "gmd:useLimitation",
        "Freely available; please acknowledge NOAA/NCEP and UCAR/Unidata.",
    );
    w.close("gmd:MD_LegalConstraints");
    w.close("gmd:resourceConstraints");
    w.open("gmd:aggregationInfo");
    w.open("gmd:MD_AggregateInformation");
    w.open("gmd:aggregateDataSetIdentifier");
    w.open("gmd:MD_Identifier");
    w.cs("gmd:code", "NCEP numerical weather prediction");
    w.close("gmd:MD_Identifier");
    w.close("gmd:aggregateDataSetIdentifier");
    w.code(
        "gmd:associationType",
        "DS_AssociationTypeCode",
        "largerWorkCitation",
    );
    w.code("gmd:initiativeType", "DS_InitiativeTypeCode", "project");
    w.close("gmd:MD_AggregateInformation");
    w.close("gmd:aggregationInfo");
    w.line("<gmd:language><gco:CharacterString>eng</gco:CharacterString></gmd:language>");
    w.line("<gmd:topicCategory><gmd:MD_TopicCategoryCode>climatologyMeteorologyAtmosphere</gmd:MD_TopicCategoryCode></gmd:topicCategory>");
    w.open("gmd:extent");
    w.line("<gmd:EX_Extent id=\"boundingExtent\">");
    w.depth += 1;
    w.open("gmd:geographicElement");
    w.line("<gmd:EX_GeographicBoundingBox id=\"boundingGeographicBoundingBox\">");
    w.depth += 1;
    w.line("<gmd:extentTypeCode><gco:Boolean>1</gco:Boolean></gmd:extentTypeCode>");
    w.decimal("gmd:westBoundLongitude", g.bbox.0);
    w.decimal("gmd:eastBoundLongitude", g.bbox.1);
    w.decimal("gmd:southBoundLatitude", g.bbox.2);
    w.decimal("gmd:northBoundLatitude", g.bbox.3);
    w.close("gmd:EX_GeographicBoundingBox");
    w.close("gmd:geographicElement");
    w.open("gmd:temporalElement");
    w.open("gmd:EX_TemporalExtent");
    w.open("gmd:extent");
    w.line("<gml:TimePeriod gml:id=\"boundingTemporalExtent\">");
    w.depth += 1;
    w.line(&format!(
        "<gml:beginPosition>{}</gml:beginPosition>",
        ts(g.start)
    ));
    w.line(&format!("<gml:endPosition>{}</gml:endPosition>", ts(g.end)));
    w.close("gml:TimePeriod");
    w.close("gmd:extent");
    w.close("gmd:EX_TemporalExtent");
    w.close("gmd:temporalElement");
    w.close("gmd:EX_Extent");
    w.close("gmd:extent");
    w.close("gmd:MD_DataIdentification");
    w.close("gmd:identificationInfo");

    // Service identifications, as ncISO writes one per THREDDS service.
    for (id, kind, op, base) in [
        (
            "OPeNDAP",
            "THREDDS OPeNDAP",
            "OPeNDAPDatasetQueryAndAccess",
            "/thredds/dodsC/",
        ),
        (
            "OGC-WMS",
            "Open Geospatial Consortium Web Map Service (WMS)",
            "GetCapabilities",
            "/thredds/wms/",
        ),
        (
            "OGC-WCS",
            "Open Geospatial Consortium Web Coverage Service (WCS)",
            "GetCapabilities",
            "/thredds/wcs/",
        ),
    ] {
        w.open("gmd:identificationInfo");
        w.line(&format!("<srv:SV_ServiceIdentification id=\"{id}\">"));
        w.depth += 1;
        w.open("gmd:citation");
        w.open("gmd:CI_Citation");
        w.cs("gmd:title", &format!("{} {}", g.title, g.name));
        w.line("<gmd:date gco:nilReason=\"missing\"/>");
        w.close("gmd:CI_Citation");
        w.close("gmd:citation");
        w.cs("gmd:abstract", &format!("{kind} access to this dataset."));
        w.line(&format!(
            "<srv:serviceType><gco:LocalName>{}</gco:LocalName></srv:serviceType>",
            escape(kind)
        ));
        w.open("srv:couplingType");
        w.line("<srv:SV_CouplingType codeList=\"http://www.tc211.org/ISO19139/resources/codeList.xml#SV_CouplingType\" codeListValue=\"tight\">tight</srv:SV_CouplingType>");
        w.close("srv:couplingType");
        w.open("srv:containsOperations");
        w.open("srv:SV_OperationMetadata");
        w.cs("srv:operationName", op);
        w.line("<srv:DCP gco:nilReason=\"unknown\"/>");
        w.open("srv:connectPoint");
        w.open("gmd:CI_OnlineResource");
        w.line(&format!(
            "<gmd:linkage><gmd:URL>{h}{base}{}</gmd:URL></gmd:linkage>",
            escape(g.id)
        ));
        w.cs("gmd:name", id);
        w.cs("gmd:description", kind);
        w.code("gmd:function", "CI_OnLineFunctionCode", "download");
        w.close("gmd:CI_OnlineResource");
        w.close("srv:connectPoint");
        w.close("srv:SV_OperationMetadata");
        w.close("srv:containsOperations");
        w.line("<srv:operatesOn xlink:href=\"#DataIdentification\"/>");
        w.close("srv:SV_ServiceIdentification");
        w.close("gmd:identificationInfo");
    }

    // Content information: one band per variable.
    w.open("gmd:contentInfo");
    w.open("gmi:MI_CoverageDescription");
    w.line("<gmd:attributeDescription gco:nilReason=\"unknown\"/>");
    w.code(
        "gmd:contentType",
        "MD_CoverageContentTypeCode",
        "physicalMeasurement",
    );
    for (name, long, units) in VARIABLES {
        w.open("gmd:dimension");
        w.open("gmd:MD_Band");
        w.open("gmd:sequenceIdentifier");
        w.open("gco:MemberName");
        w.cs("gco:aName", name);
        w.open("gco:attributeType");
        w.open("gco:TypeName");
        w.cs("gco:aName", "float");
        w.close("gco:TypeName");
        w.close("gco:attributeType");
        w.close("gco:MemberName");
        w.close("gmd:sequenceIdentifier");
        w.cs("gmd:descriptor", &format!("{long} ({units})"));
        w.close("gmd:MD_Band");
        w.close("gmd:dimension");
    }
    w.close("gmi:MI_CoverageDescription");
    w.close("gmd:contentInfo");

    // Distribution.
    w.open("gmd:distributionInfo");
    w.open("gmd:MD_Distribution");
    w.open("gmd:distributor");
    w.open("gmd:MD_Distributor");
    w.party(
        "gmd:distributorContact",
        None,
        "UCAR/Unidata",
        "support@unidata.ucar.edu",
        "https://www.unidata.ucar.edu/",
        "distributor",
    );
    w.open("gmd:distributorFormat");
    w.open("gmd:MD_Format");
    w.cs("gmd:name", "GRIB-2");
    w.line("<gmd:version gco:nilReason=\"unknown\"/>");
    w.close("gmd:MD_Format");
    w.close("gmd:distributorFormat");
    w.open("gmd:distributorTransferOptions");
    w.open("gmd:MD_DigitalTransferOptions");
    let id = g.id;
    w.online(
        &format!("{h}/thredds/dodsC/{id}.html"),
        "OPeNDAP:OPeNDAP",
        "OPeNDAP",
        "THREDDS OPeNDAP",
        "download",
    );
    w.online(
        &format!("{h}/thredds/fileServer/{id}"),
        "WWW:DOWNLOAD-1.0-http--download",
        "File download",
        "HTTP file download",
        "download",
    );
    w.online(
        &format!("{h}/thredds/ncss/grid/{id}/dataset.html"),
        "UNIDATA:NCSS",
        "NetCDF Subset Service",
        "NetCDF subset service",
        "download",
    );
    w.online(
        &format!("{h}/thredds/wms/{id}?service=WMS&version=1.3.0&request=GetCapabilities"),
        "OGC:WMS",
        "OGC-WMS",
        "Web Map Service",
        "download",
    );
    w.online(
        &format!("{h}/thredds/wcs/{id}?service=WCS&version=1.0.0&request=GetCapabilities"),
        "OGC:WCS",
        "OGC-WCS",
        "Web Coverage Service",
        "download",
    );
    w.close("gmd:MD_DigitalTransferOptions");
    w.close("gmd:distributorTransferOptions");
    w.close("gmd:MD_Distributor");
    w.close("gmd:distributor");
    w.close("gmd:MD_Distribution");
    w.close("gmd:distributionInfo");

    // Lineage.
    w.open("gmd:dataQualityInfo");
    w.open("gmd:DQ_DataQuality");
    w.open("gmd:scope");
    w.open("gmd:DQ_Scope");
    w.code("gmd:level", "MD_ScopeCode", "dataset");
    w.close("gmd:DQ_Scope");
    w.close("gmd:scope");
    w.open("gmd:lineage");
    w.open("gmd:LI_Lineage");
    w.cs("gmd:statement", "Decoded from GRIB-2 by the THREDDS Data Server GRIB collection feature; metadata by ncISO.");
    w.close("gmd:LI_Lineage");
    w.close("gmd:lineage");
    w.close("gmd:DQ_DataQuality");
    w.close("gmd:dataQualityInfo");

    w.open("gmd:metadataMaintenance");
    w.open("gmd:MD_MaintenanceInformation");
    w.line("<gmd:maintenanceAndUpdateFrequency gco:nilReason=\"unknown\"/>");
    let mut note = String::new();
    let _ = write!(
        note,
        "This record was translated from NcML using UnidataDD2MI.xsl Version 2.3.4"
    );
    w.cs("gmd:maintenanceNote", &note);
    w.close("gmd:MD_MaintenanceInformation");
    w.close("gmd:metadataMaintenance");
    w.depth = 0;
    w.line("</gmi:MI_Metadata>");
    w.o
}
