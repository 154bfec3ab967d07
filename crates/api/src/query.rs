//! Turning query parameters into the search core's requests ([`GranuleRequest`],
//! [`CollectionRequest`]): validation, page sizes, and the opaque cursors (see
//! [`threddex_search::cursor`]), whose errors become 400s naming `cursor`.

use threddex_search::cursor::{self, CursorError};
use threddex_search::{CollectionRequest, GranuleRequest};
use threddex_store::{BBox, CollectionHit, CollectionQuery, Granule, GranuleQuery, Timestamp};

use crate::error::ApiError;
use crate::params::Params;

pub use threddex_search::MAX_ID_BYTES;
pub use threddex_search::cursor::MAX_CURSOR_CHARS;

/// Longest accepted free-text query, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// Default and maximum page sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimits {
    /// Page size when the request gives none.
    pub default: u32,
    /// Largest page size a request may ask for.
    pub max: u32,
}

/// The representation of a granule listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexFormat {
    /// `application/json` (the default).
    #[default]
    Json,
    /// `text/csv`, one row per granule.
    Csv,
}

/// The parameters `/index` accepts.
pub const INDEX_PARAMS: &[&str] = &[
    "collection",
    "start",
    "end",
    "limit",
    "cursor",
    "format",
    "updated_since",
];
/// The parameters `/collections` accepts.
pub const COLLECTIONS_PARAMS: &[&str] = &[
    "q",
    "bbox",
    "start",
    "end",
    "limit",
    "cursor",
    "updated_since",
];

/// A validated granule search (`/index`).
#[derive(Clone, Debug, PartialEq)]
pub struct GranuleSearch {
    /// The collection.
    pub collection_id: String,
    /// Window start (inclusive), if any.
    pub start: Option<Timestamp>,
    /// Window end (exclusive), if any.
    pub end: Option<Timestamp>,
    /// Page size.
    pub limit: u32,
    /// Keyset position from the cursor.
    pub after: Option<(Option<Timestamp>, String)>,
    /// Requested representation.
    pub format: IndexFormat,
    /// Only granules whose catalog listing changed at or after this time (`updated_since`).
    pub updated_since: Option<Timestamp>,
}

impl GranuleSearch {
    /// Validate the parameters of `/index` (see [`INDEX_PARAMS`]).
    pub fn parse(params: &Params, limits: PageLimits) -> Result<Self, ApiError> {
        params.allow_only(INDEX_PARAMS)?;
        let collection_id = collection_id(params.required("collection")?, "collection")?;
        let (start, end) = window(params)?;
        let limit = params.limit("limit", limits.default, limits.max)?;
        let after = params
            .get("cursor")
            .map(|c| decode_granule_cursor(c, &collection_id))
            .transpose()?;
        let format = match params.get("format").map(str::to_ascii_lowercase).as_deref() {
            None | Some("json") => IndexFormat::Json,
            Some("csv") => IndexFormat::Csv,
            Some(_) => return Err(ApiError::bad("format", "must be json or csv")),
        };
        let updated_since = params.time("updated_since")?;
        Ok(Self {
            collection_id,
            start,
            end,
            limit,
            after,
            format,
            updated_since,
        })
    }

    /// The search core's request.
    pub fn request(&self) -> GranuleRequest {
        GranuleRequest {
            collection_id: self.collection_id.clone(),
            start: self.start,
            end: self.end,
            limit: self.limit,
            after: self.after.clone(),
            updated_since: self.updated_since,
        }
    }

    /// The store query for one page (see [`GranuleRequest::store_query`]).
    pub fn store_query(&self) -> GranuleQuery {
        self.request().store_query()
    }

    /// Cut the store's answer to the page and compute the cursor of the next page (see
    /// [`GranuleRequest::page`]).
    pub fn page(&self, rows: Vec<Granule>) -> (Vec<Granule>, Option<String>) {
        self.request().page(rows)
    }
}

/// A validated collection search (`/collections`).
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionSearch {
    /// Free text, if any.
    pub text: Option<String>,
    /// Bounding box, if any.
    pub bbox: Option<BBox>,
    /// Time window start, if any.
    pub start: Option<Timestamp>,
    /// Time window end, if any.
    pub end: Option<Timestamp>,
    /// Keyset position from the cursor.
    pub after_id: Option<String>,
    /// Only collections changed at or after this time (`updated_since`).
    pub updated_since: Option<Timestamp>,
    /// Page size.
    pub limit: u32,
}

impl CollectionSearch {
    /// Validate the parameters of `/collections` (see [`COLLECTIONS_PARAMS`]).
    pub fn parse(params: &Params, limits: PageLimits) -> Result<Self, ApiError> {
        params.allow_only(COLLECTIONS_PARAMS)?;
        let text = match params.get("q").map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_TEXT_CHARS => {
                return Err(ApiError::bad(
                    "q",
                    format!("text too long (max {MAX_TEXT_CHARS} characters)"),
                ));
            }
            t => t.map(str::to_owned),
        };
        let bbox = params.bbox("bbox")?;
        let (start, end) = window(params)?;
        let limit = params.limit("limit", limits.default, limits.max)?;
        let after_id = params
            .get("cursor")
            .map(decode_collection_cursor)
            .transpose()?;
        let updated_since = params.time("updated_since")?;
        Ok(Self {
            text,
            bbox,
            start,
            end,
            after_id,
            updated_since,
            limit,
        })
    }

    /// The search core's request.
    pub fn request(&self) -> CollectionRequest {
        CollectionRequest {
            text: self.text.clone(),
            bbox: self.bbox,
            start: self.start,
            end: self.end,
            after_id: self.after_id.clone(),
            updated_since: self.updated_since,
            limit: self.limit,
        }
    }

    /// The store query for one page (see [`CollectionRequest::store_query`]).
    pub fn store_query(&self) -> CollectionQuery {
        self.request().store_query()
    }

    /// Cut the store's answer to the page and compute the cursor of the next page (see
    /// [`CollectionRequest::page`]).
    pub fn page(&self, rows: Vec<CollectionHit>) -> (Vec<CollectionHit>, Option<String>) {
        self.request().page(rows)
    }
}

/// Validate a collection ID taken from a request.
pub fn collection_id(raw: &str, parameter: &str) -> Result<String, ApiError> {
    if raw.len() > MAX_ID_BYTES {
        return Err(ApiError::bad(
            parameter,
            format!("collection ID too long (max {MAX_ID_BYTES} bytes)"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ApiError::bad(
            parameter,
            "collection ID contains control characters",
        ));
    }
    Ok(raw.to_owned())
}

/// The `start`/`end` window; `end` must be later than `start`.
fn window(params: &Params) -> Result<(Option<Timestamp>, Option<Timestamp>), ApiError> {
    let start = params.time("start")?;
    let end = params.time("end")?;
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(ApiError::bad("end", "end must be later than start"));
    }
    Ok((start, end))
}

/// A cursor error as a 400 naming `cursor`.
fn bad_cursor(e: CursorError) -> ApiError {
    ApiError::bad("cursor", e.to_string())
}

/// The cursor positioned after a granule.
pub fn encode_granule_cursor(
    collection_id: &str,
    start: Option<Timestamp>,
    granule_id: &str,
) -> String {
    cursor::encode_granule(collection_id, start, granule_id)
}

/// Decode a granule cursor of `collection_id`.
pub fn decode_granule_cursor(
    raw: &str,
    collection_id: &str,
) -> Result<(Option<Timestamp>, String), ApiError> {
    cursor::decode_granule(raw, collection_id).map_err(bad_cursor)
}

/// The cursor positioned after a collection.
pub fn encode_collection_cursor(id: &str) -> String {
    cursor::encode_collection(id)
}

/// Decode a collection cursor.
pub fn decode_collection_cursor(raw: &str) -> Result<String, ApiError> {
    cursor::decode_collection(raw).map_err(bad_cursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::{TimeZone, Utc};

    const LIMITS: PageLimits = PageLimits {
        default: 1000,
        max: 10000,
    };

    #[test]
    fn granule_cursors_round_trip_and_reject_garbage() {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let c = encode_granule_cursor("a:b/c", Some(t), "g/1.nc");
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            decode_granule_cursor(&c, "a:b/c").unwrap(),
            (Some(t), "g/1.nc".to_owned())
        );
        let none = encode_granule_cursor("x", None, "z");
        assert_eq!(
            decode_granule_cursor(&none, "x").unwrap(),
            (None, "z".into())
        );
        assert!(decode_granule_cursor(&c, "other").is_err());
        for bad in [
            "",
            "abc",
            "!!!",
            "eyJ2IjoyfQ",
            &encode_collection_cursor("a:b/c"),
        ] {
            assert!(decode_granule_cursor(bad, "a:b/c").is_err(), "{bad}");
        }
        let v2 = URL_SAFE_NO_PAD.encode(br#"{"v":2,"k":"g","h":1,"id":"x"}"#);
        assert!(decode_granule_cursor(&v2, "x").is_err());
    }

    #[test]
    fn collection_cursor_round_trip() {
        let c = encode_collection_cursor("ncei:x/y");
        assert_eq!(decode_collection_cursor(&c).unwrap(), "ncei:x/y");
        assert!(decode_collection_cursor("zzzz").is_err());
    }

    #[test]
    fn granule_search_parses_and_validates() {
        let p = Params::parse(Some(
            "collection=a:b&start=2024-01-01&end=2024-01-02&limit=5&format=CSV",
        ))
        .unwrap();
        let s = GranuleSearch::parse(&p, LIMITS).unwrap();
        assert_eq!(s.collection_id, "a:b");
        assert_eq!(s.limit, 5);
        assert_eq!(s.format, IndexFormat::Csv);
        assert_eq!(s.store_query().limit, 6);
        let bad = |q: &str, param: &str| match GranuleSearch::parse(
            &Params::parse(Some(q)).unwrap(),
            LIMITS,
        ) {
            Err(ApiError::BadParameter { parameter, .. }) => assert_eq!(parameter, param, "{q}"),
            other => panic!("{q}: {other:?}"),
        };
        bad("start=2024-01-01", "collection");
        bad("collection=a&start=2024-01-02&end=2024-01-01", "end");
        bad("collection=a&start=2024-01-01&end=2024-01-01", "end");
        bad("collection=a&limit=10001", "limit");
        bad("collection=a&cursor=nope", "cursor");
        bad("collection=a&format=xml", "format");
        bad("collection=a&foo=1", "foo");
    }

    #[test]
    fn pages_cut_and_point_at_last_row() {
        let p = Params::parse(Some("collection=c&limit=2")).unwrap();
        let s = GranuleSearch::parse(&p, LIMITS).unwrap();
        let g = |i: u32| Granule {
            collection_id: "c".into(),
            granule_id: format!("g{i}"),
            name: format!("g{i}"),
            start: Some(Utc.with_ymd_and_hms(2024, 1, i, 0, 0, 0).unwrap()),
            end: None,
            url_path: None,
            size: None,
            modified: None,
            catalog_url: "u".into(),
        };
        let (rows, next) = s.page(vec![g(1), g(2), g(3)]);
        assert_eq!(rows.len(), 2);
        let after = decode_granule_cursor(&next.unwrap(), "c").unwrap();
        assert_eq!(after, (g(2).start, "g2".into()));
        let (rows, next) = s.page(vec![g(1), g(2)]);
        assert_eq!((rows.len(), next), (2, None));
    }

    #[test]
    fn collection_search_parses() {
        let p = Params::parse(Some("q=+sea+ice+&bbox=170,-10,-170,10&limit=3")).unwrap();
        let s = CollectionSearch::parse(&p, LIMITS).unwrap();
        assert_eq!(s.text.as_deref(), Some("sea ice"));
        assert!(s.bbox.unwrap().crosses_antimeridian());
        assert_eq!(s.store_query().limit, 4);
        let long = format!("q={}", "x".repeat(MAX_TEXT_CHARS + 1));
        assert!(CollectionSearch::parse(&Params::parse(Some(&long)).unwrap(), LIMITS).is_err());
    }
}
