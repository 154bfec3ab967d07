//! What a series record is built from: [`SeriesInput`], usually read from a
//! [`threddex_store::CollectionUpsert`] whose `metadata` is the serde JSON of
//! `threddex_catalog::EffectiveMetadata` (read field by field, tolerant of missing or
//! differently shaped fields).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use threddex_store::{AccessService, CollectionUpsert, CollectionView};

/// A responsible party (`CI_ResponsibleParty`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Person or organisation name.
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Web page.
    pub url: Option<String>,
    /// `CI_RoleCode` value (`originator`, `publisher`, `author`, `principalInvestigator`, …).
    pub role: String,
    /// Free-text role as the catalog gave it (written as `positionName`).
    pub position: Option<String>,
}

/// Keywords sharing a vocabulary (`MD_Keywords`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordGroup {
    /// Vocabulary (thesaurus title), if any.
    pub vocabulary: Option<String>,
    /// `MD_KeywordTypeCode` (`theme` when None; also `place`, `project`, `dataCenter`, …).
    pub kind: Option<String>,
    /// The keywords.
    pub words: Vec<String>,
}

/// A variable of the collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// Variable name in the files.
    pub name: String,
    /// Units.
    pub units: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Name in the vocabulary (e.g. the CF standard name).
    pub vocabulary_name: Option<String>,
    /// The vocabulary (e.g. `CF-1.0`, `GRIB-1`).
    pub vocabulary: Option<String>,
}

/// A bounding box in degrees; `west > east` means it crosses the antimeridian.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Western edge (-180..=180).
    pub west: f64,
    /// Eastern edge (-180..=180).
    pub east: f64,
    /// Southern edge (-90..=90).
    pub south: f64,
    /// Northern edge (-90..=90).
    pub north: f64,
}

impl BBox {
    /// The box with edges clamped to the valid ranges, or None if a value is not finite or
    /// south > north.
    pub fn sanitized(&self) -> Option<BBox> {
        let ok = [self.west, self.east, self.south, self.north]
            .iter()
            .all(|v| v.is_finite());
        if !ok {
            return None;
        }
        let b = BBox {
            west: self.west.clamp(-180.0, 180.0),
            east: self.east.clamp(-180.0, 180.0),
            south: self.south.clamp(-90.0, 90.0),
            north: self.north.clamp(-90.0, 90.0),
        };
        (b.south <= b.north).then_some(b)
    }

    /// Whether it crosses the antimeridian.
    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }
}

/// A reference date of the resource (`CI_Date`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitationDate {
    /// `CI_DateTypeCode`: `creation`, `publication` or `revision`.
    pub kind: String,
    /// The date.
    pub date: DateTime<Utc>,
}

/// A documentation link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Absolute URL.
    pub url: String,
    /// Its title.
    pub title: Option<String>,
}

/// Everything a series record says about a collection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesInput {
    /// Collection ID (`fileIdentifier`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Abstract (documentation `summary`).
    pub abstract_text: Option<String>,
    /// Rights / use limitation (documentation `rights`).
    pub rights: Option<String>,
    /// Credit (documentation `funding` / `acknowledgement`).
    pub credit: Option<String>,
    /// Lineage statement (documentation `history` / `processing_level`).
    pub lineage: Option<String>,
    /// Creators (`originator`).
    pub creators: Vec<Party>,
    /// Publishers (`publisher`).
    pub publishers: Vec<Party>,
    /// Contributors (role mapped to a `CI_RoleCode`).
    pub contributors: Vec<Party>,
    /// Keywords grouped by vocabulary.
    pub keywords: Vec<KeywordGroup>,
    /// Variables (written as keywords and as content information).
    pub variables: Vec<Variable>,
    /// Horizontal extent.
    pub bbox: Option<BBox>,
    /// Vertical extent (min, max).
    pub vertical: Option<(f64, f64)>,
    /// THREDDS `dataType` (Grid, Point, Station, …).
    pub data_type: Option<String>,
    /// THREDDS `dataFormat` (NetCDF, GRIB-2, …).
    pub data_format: Option<String>,
    /// Access services of the granules.
    pub services: Vec<AccessService>,
    /// Catalog where the collection was found.
    pub catalog_url: Option<String>,
    /// This service's granule search URL (`…/index?collection=ID`).
    pub search_url: Option<String>,
    /// Naming authority.
    pub authority: Option<String>,
    /// Reference dates of the resource.
    pub dates: Vec<CitationDate>,
    /// Documentation links.
    pub links: Vec<Link>,
    /// Virtual views of the collection (GRIB/FMRC Best, TwoD / full collection, FMRC run
    /// catalogs, `latest.xml` resolvers), written as distribution online resources.
    pub views: Vec<CollectionView>,
    /// How long the server keeps the collection's files (`14 days`): the duration of a
    /// rolling `timeCoverage` ending at `present`, as Unidata's live catalogs declare.
    pub rolling_window: Option<String>,
}

/// The rolling window a collection's catalog metadata (as stored: the effective metadata of
/// its first granule) declares: the duration of a `timeCoverage` that ends at `present` and
/// has no start (`<end>present</end><duration>14 days</duration>`), as written.
pub fn rolling_window(metadata: &Value) -> Option<String> {
    let tc = metadata.get("time_coverage")?;
    let ends_now = tc
        .get("end")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case("present"));
    let no_start = tc.get("start").is_none_or(Value::is_null);
    if !(ends_now && no_start) {
        return None;
    }
    tc.get("duration").and_then(|d| s(d, "raw"))
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64).filter(|x| x.is_finite())
}

fn arr<'a>(v: &'a Value, k: &str) -> impl Iterator<Item = &'a Value> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or(&[])
        .iter()
}

/// A name given as a string or as a vocabulary value `{value, vocabulary}`.
fn name_of(v: &Value) -> Option<String> {
    match v {
        Value::String(x) => Some(x.trim().to_string()).filter(|x| !x.is_empty()),
        Value::Object(_) => s(v, "value"),
        _ => None,
    }
}

/// Maps a THREDDS contributor role to a `CI_RoleCode` (ISO 19115:2003 list).
pub fn contributor_role(role: Option<&str>) -> &'static str {
    let r = role
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace([' ', '_', '-'], "");
    match r.as_str() {
        "principalinvestigator" | "pi" => "principalInvestigator",
        "processor" => "processor",
        "publisher" => "publisher",
        "originator" | "creator" => "originator",
        "custodian" => "custodian",
        "owner" => "owner",
        "distributor" => "distributor",
        "resourceprovider" | "provider" => "resourceProvider",
        "pointofcontact" | "contact" | "technicalcontact" => "pointOfContact",
        "user" => "user",
        _ => "author",
    }
}

fn push_grouped(
    groups: &mut Vec<KeywordGroup>,
    vocabulary: Option<String>,
    kind: Option<&str>,
    word: String,
) {
    let kind = kind.map(str::to_string);
    if let Some(g) = groups
        .iter_mut()
        .find(|g| g.vocabulary == vocabulary && g.kind == kind)
    {
        if !g.words.contains(&word) {
            g.words.push(word);
        }
    } else {
        groups.push(KeywordGroup {
            vocabulary,
            kind,
            words: vec![word],
        });
    }
}

fn joined_docs(meta: &Value, types: &[&str]) -> Option<String> {
    let texts: Vec<String> = arr(meta, "documentation")
        .filter(|d| {
            s(d, "doc_type").is_some_and(|t| types.iter().any(|x| t.eq_ignore_ascii_case(x)))
        })
        .filter_map(|d| s(d, "text"))
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n\n"))
}

impl SeriesInput {
    /// Builds the input from a collection as the crawler writes it. `search_base` is the root
    /// URL of this threddex service (e.g. `https://host/`); the search link becomes
    /// `{search_base}/index?collection={id}`.
    pub fn from_collection(c: &CollectionUpsert, search_base: Option<&str>) -> SeriesInput {
        let meta = &c.metadata;
        let mut input = SeriesInput {
            id: c.id.clone(),
            title: if c.title.trim().is_empty() {
                c.id.clone()
            } else {
                c.title.clone()
            },
            services: c.services.clone(),
            catalog_url: Some(c.catalog_url.clone()).filter(|u| !u.trim().is_empty()),
            search_url: search_base.map(|b| {
                let b = b.trim_end_matches('/');
                format!("{b}/index?collection={}", encode_query(&c.id))
            }),
            ..Default::default()
        };
        input.abstract_text = joined_docs(meta, &["summary", "abstract"]).or_else(|| {
            // Untyped inline documentation is the abstract when there is no summary.
            let texts: Vec<String> = arr(meta, "documentation")
                .filter(|d| s(d, "doc_type").is_none())
                .filter_map(|d| s(d, "text"))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n\n"))
        });
        input.rights = joined_docs(meta, &["rights"]);
        input.credit = joined_docs(meta, &["funding", "acknowledgement", "acknowledgment"]);
        input.lineage = joined_docs(meta, &["history", "processing_level", "lineage"]);
        input.links = arr(meta, "documentation")
            .filter_map(|d| {
                let url = s(d, "href")?;
                (url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with("ftp://"))
                .then(|| Link {
                    url,
                    title: s(d, "title"),
                })
            })
            .collect();
        input.data_type = s(meta, "data_type");
        input.rolling_window = rolling_window(meta);
        input.data_format = s(meta, "data_format");
        input.authority = s(meta, "authority");
        for (key, role) in [("creators", "originator"), ("publishers", "publisher")] {
            let list = arr(meta, key)
                .filter_map(|p| {
                    let name = p.get("name").and_then(name_of)?;
                    Some(Party {
                        name,
                        email: s(p, "contact_email"),
                        url: s(p, "contact_url"),
                        role: role.to_string(),
                        position: None,
                    })
                })
                .collect();
            if key == "creators" {
                input.creators = list;
            } else {
                input.publishers = list;
            }
        }
        input.contributors = arr(meta, "contributors")
            .filter_map(|p| {
                let name = p.get("name").and_then(name_of)?;
                let position = s(p, "role");
                Some(Party {
                    name,
                    email: None,
                    url: None,
                    role: contributor_role(position.as_deref()).to_string(),
                    position,
                })
            })
            .collect();
        for k in arr(meta, "keywords") {
            if let Some(w) = name_of(k) {
                push_grouped(&mut input.keywords, s(k, "vocabulary"), None, w);
            }
        }
        for k in arr(meta, "projects") {
            if let Some(w) = name_of(k) {
                push_grouped(&mut input.keywords, s(k, "vocabulary"), Some("project"), w);
            }
        }
        if let Some(geo) = meta.get("geospatial_coverage").filter(|g| g.is_object()) {
            for k in arr(geo, "names") {
                if let Some(w) = name_of(k) {
                    push_grouped(&mut input.keywords, s(k, "vocabulary"), Some("place"), w);
                }
            }
            if let Some(b) = geo.get("bbox")
                && let (Some(west), Some(east), Some(south), Some(north)) =
                    (f(b, "west"), f(b, "east"), f(b, "south"), f(b, "north"))
            {
                input.bbox = BBox {
                    west,
                    east,
                    south,
                    north,
                }
                .sanitized();
            }
            if let Some(ud) = geo.get("up_down")
                && let (Some(start), Some(size)) = (f(ud, "start"), f(ud, "size"))
            {
                let end = start + size;
                if end.is_finite() {
                    input.vertical = Some((start.min(end), start.max(end)));
                }
            }
        }
        for group in arr(meta, "variables") {
            let vocabulary = s(group, "vocabulary");
            for v in arr(group, "variables") {
                if let Some(name) = s(v, "name") {
                    input.variables.push(Variable {
                        name,
                        units: s(v, "units"),
                        description: s(v, "description"),
                        vocabulary_name: s(v, "vocabulary_name"),
                        vocabulary: vocabulary.clone(),
                    });
                }
            }
        }
        for d in arr(meta, "dates") {
            let kind = match s(d, "date_type").map(|t| t.to_ascii_lowercase()).as_deref() {
                Some("created" | "creation") => "creation",
                Some("issued" | "published" | "publication") => "publication",
                Some("modified" | "revised" | "revision") => "revision",
                _ => continue,
            };
            let parsed = d
                .get("parsed")
                .and_then(Value::as_str)
                .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
                .map(|p| p.with_timezone(&Utc))
                .or_else(|| s(d, "value").and_then(|v| crate::summary::parse_time(&v)));
            if let Some(date) = parsed {
                input.dates.push(CitationDate {
                    kind: kind.to_string(),
                    date,
                });
            }
        }
        if input.abstract_text.is_none() {
            input.abstract_text = c.summary.clone().filter(|a| !a.trim().is_empty());
        }
        if input.bbox.is_none()
            && let Some(b) = &c.bbox
        {
            input.bbox = BBox {
                west: b.west,
                east: b.east,
                south: b.south,
                north: b.north,
            }
            .sanitized();
        }
        input
    }

    /// The party to write as the record's `gmd:contact`: the first publisher, else the first
    /// creator, else an organisation named after the authority or the catalog host.
    pub fn contact(&self) -> Party {
        if let Some(p) = self.publishers.first().or_else(|| self.creators.first()) {
            return Party {
                role: "pointOfContact".into(),
                position: None,
                ..p.clone()
            };
        }
        let host = self.catalog_url.as_deref().and_then(|u| {
            let rest = u.split_once("://")?.1;
            let host = rest.split(['/', '?', '#']).next()?;
            Some(host.rsplit('@').next().unwrap_or(host).to_string()).filter(|h| !h.is_empty())
        });
        let name = self.authority.clone().or(host).unwrap_or_default();
        Party {
            name,
            role: "pointOfContact".into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_effective_metadata_json() {
        let meta = json!({
            "data_type": "Grid", "data_format": "GRIB-2", "authority": "edu.ucar.unidata",
            "documentation": [
                {"doc_type": "summary", "text": "Sum"}, {"doc_type": "Rights", "text": "Free"},
                {"doc_type": null, "href": "https://x/doc", "title": "Doc"}
            ],
            "keywords": [{"value": "a", "vocabulary": "GCMD"}, {"value": "b", "vocabulary": "GCMD"}, {"value": "c"}],
            "projects": [{"value": "P"}],
            "creators": [{"name": {"value": "NCEP"}, "contact_email": "x@y", "contact_url": "http://n"}],
            "publishers": [{"name": {"value": "Unidata"}}],
            "contributors": [{"name": "Jo", "role": "Principal Investigator"}, {"name": "Al", "role": "helper"}],
            "geospatial_coverage": {"bbox": {"west": 170.0, "east": -170.0, "south": -10.0, "north": 10.0},
                                     "up_down": {"start": 10.0, "size": -5.0}, "names": [{"value": "Pacific"}]},
            "variables": [{"vocabulary": "CF-1.0", "variables": [{"name": "t", "units": "K", "vocabulary_name": "air_temperature"}]}],
            "dates": [{"value": "2020-01-02", "date_type": "created", "parsed": "2020-01-02T00:00:00Z"}, {"value": "x", "date_type": "modified"}],
            "unknown_field": 3
        });
        let c = CollectionUpsert {
            id: "auth:a/b".into(),
            title: "T".into(),
            catalog_url: "https://h.example/thredds/catalog.xml".into(),
            metadata: meta,
            ..Default::default()
        };
        let i = SeriesInput::from_collection(&c, Some("https://s.example/"));
        assert_eq!(
            i.search_url.as_deref(),
            Some("https://s.example/index?collection=auth%3Aa%2Fb")
        );
        assert_eq!(i.abstract_text.as_deref(), Some("Sum"));
        assert_eq!(i.rights.as_deref(), Some("Free"));
        assert_eq!(i.links.len(), 1);
        assert_eq!(i.keywords.len(), 4);
        assert_eq!(i.keywords[0].words, ["a", "b"]);
        assert_eq!(i.keywords[2].kind.as_deref(), Some("project"));
        assert_eq!(i.keywords[3].kind.as_deref(), Some("place"));
        assert_eq!(i.creators[0].email.as_deref(), Some("x@y"));
        assert_eq!(i.contributors[0].role, "principalInvestigator");
        assert_eq!(i.contributors[1].role, "author");
        assert!(i.bbox.is_some_and(|b| b.crosses_antimeridian()));
        assert_eq!(i.vertical, Some((5.0, 10.0)));
        assert_eq!(i.variables[0].vocabulary.as_deref(), Some("CF-1.0"));
        assert_eq!(i.dates.len(), 1);
        assert_eq!(i.contact().name, "Unidata");
    }

    #[test]
    fn tolerates_garbage_metadata() {
        for meta in [
            json!(null),
            json!(3),
            json!({"documentation": 5, "keywords": [1, null, {"x": 1}], "geospatial_coverage": {"bbox": {"west": "a"}}}),
        ] {
            let c = CollectionUpsert {
                id: "x".into(),
                metadata: meta,
                ..Default::default()
            };
            let i = SeriesInput::from_collection(&c, None);
            assert_eq!(i.title, "x");
            assert!(i.keywords.is_empty() && i.bbox.is_none() && i.catalog_url.is_none());
            assert_eq!(i.contact().name, "");
        }
    }
}
