//! Query-string parsing: the [`Params`] extractor and the value parsers (times, bounding boxes,
//! page limits).
//!
//! The extractor replaces axum's `Query` so that a malformed query string gets the same JSON
//! 400 as every other bad input (axum's own rejection is plain text). Parameters are decoded as
//! `application/x-www-form-urlencoded` (`+` is a space); a parameter given twice, an invalid
//! percent escape, bytes that are not UTF-8 and oversized query strings are rejected. An empty
//! value (`start=`) counts as absent.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use threddex_store::{BBox, Timestamp};

use crate::error::ApiError;

/// Longest accepted query string, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Most parameters accepted in one query string.
pub const MAX_PARAMS: usize = 32;
/// Longest accepted time value.
const MAX_TIME_CHARS: usize = 64;

/// The decoded parameters of a query string, in order, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decode a raw query string (without the `?`).
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let Some(query) = query else {
            return Ok(Self::default());
        };
        if query.len() > MAX_QUERY_BYTES {
            return Err(ApiError::bad(
                "query",
                format!("query string too long (max {MAX_QUERY_BYTES} bytes)"),
            ));
        }
        let mut pairs = Vec::new();
        for segment in query.split('&').filter(|s| !s.is_empty()) {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            let name = decode_component(name)?;
            let value = decode_component(value)?;
            if name.is_empty() {
                return Err(ApiError::bad(
                    "query",
                    "malformed query string: a parameter has no name",
                ));
            }
            pairs.push((name, value));
        }
        Self::from_pairs(pairs)
    }

    /// Build from already decoded pairs (e.g. for the CSW endpoint). Rejects duplicates.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ApiError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            if out.len() >= MAX_PARAMS {
                return Err(ApiError::bad(
                    "query",
                    format!("too many parameters (max {MAX_PARAMS})"),
                ));
            }
            if out.iter().any(|(name, _)| *name == k) {
                return Err(ApiError::bad(k, "given more than once"));
            }
            out.push((k, v));
        }
        Ok(Self { pairs: out })
    }

    /// Reject any parameter not in `allowed`.
    pub fn allow_only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            Some((name, _)) => Err(ApiError::bad(
                truncate(name, 64),
                format!("unknown parameter (accepted: {})", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// The value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::bad(name, "required parameter is missing"))
    }

    /// An optional time parameter (see [`parse_time`]).
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(name)
            .map(|v| parse_time(v).map_err(|m| ApiError::bad(name, m)))
            .transpose()
    }

    /// An optional bounding box parameter (see [`parse_bbox`]).
    pub fn bbox(&self, name: &str) -> Result<Option<BBox>, ApiError> {
        self.get(name)
            .map(|v| parse_bbox(v).map_err(|m| ApiError::bad(name, m)))
            .transpose()
    }

    /// A page size: `default` when absent, else `1..=max`.
    pub fn limit(&self, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
        match self.get(name) {
            None => Ok(default.clamp(1, max.max(1))),
            Some(v) => parse_limit(v, max).map_err(|m| ApiError::bad(name, m)),
        }
    }

    /// Iterate over the decoded pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query())
    }
}

/// Decode one form-urlencoded component strictly.
fn decode_component(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(h), Some(l)) => {
                        // Two hex digits make at most 0xff.
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => {
                        return Err(ApiError::bad(
                            "query",
                            "malformed query string: invalid percent escape",
                        ));
                    }
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::bad(
            "query",
            "malformed query string: not UTF-8 after percent-decoding",
        )
    })
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Parse a time: RFC 3339 (`2024-05-01T12:00:00Z`, any offset), a date (`2024-05-01`, midnight
/// UTC) or a date-time without offset (`2024-05-01T12:00:00`, taken as UTC). A space where
/// the offset's `+` was (an unencoded `+` in a query string) is tolerated. Years must lie in
/// 0000..=9999.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if s.chars().count() > MAX_TIME_CHARS {
        return Err("unparseable time: too long".into());
    }
    let t = parse_time_inner(s)
        .or_else(|| {
            // "…T12:00:00 02:00": the '+' of the offset became a space.
            let (head, tail) = s.rsplit_once(' ')?;
            if head.contains('T') || head.contains('t') {
                parse_time_inner(&format!("{head}+{tail}"))
            } else {
                None
            }
        })
        .ok_or_else(|| {
            format!(
                "unparseable time {:?}: use RFC 3339 (2024-05-01T00:00:00Z) or YYYY-MM-DD",
                truncate(s, 40)
            )
        })?;
    if !(0..=9999).contains(&t.year()) {
        return Err("time out of range (years 0000 to 9999)".into());
    }
    Ok(t)
}

fn parse_time_inner(s: &str) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    None
}

/// Parse `W,S,E,N` in degrees: longitudes in -180..=180, latitudes in -90..=90, south <= north.
/// `west > east` is a box crossing the antimeridian.
pub fn parse_bbox(s: &str) -> Result<BBox, String> {
    if s.len() > 200 {
        return Err("bbox too long".into());
    }
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [w, so, e, n] = parts.as_slice() else {
        return Err(format!(
            "bbox needs 4 comma-separated numbers W,S,E,N (got {})",
            parts.len()
        ));
    };
    let num = |label: &str, v: &str| -> Result<f64, String> {
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(format!(
                "bbox {label} is not a number: {:?}",
                truncate(v, 30)
            )),
        }
    };
    let (west, south, east, north) = (
        num("west", w)?,
        num("south", so)?,
        num("east", e)?,
        num("north", n)?,
    );
    for (label, v) in [("west", west), ("east", east)] {
        if !(-180.0..=180.0).contains(&v) {
            return Err(format!("bbox {label} longitude {v} out of range -180..180"));
        }
    }
    for (label, v) in [("south", south), ("north", north)] {
        if !(-90.0..=90.0).contains(&v) {
            return Err(format!("bbox {label} latitude {v} out of range -90..90"));
        }
    }
    if south > north {
        return Err(format!("bbox south {south} is north of north {north}"));
    }
    Ok(BBox {
        west,
        south,
        east,
        north,
    })
}

/// Parse a page size in `1..=max`.
pub fn parse_limit(s: &str, max: u32) -> Result<u32, String> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: either fits a u64 or is far too large.
        let n = s.parse::<u64>().unwrap_or(u64::MAX);
        if n == 0 {
            return Err("limit must be at least 1".into());
        }
        if n > u64::from(max) {
            return Err(format!("limit too large (max {max})"));
        }
        return u32::try_from(n).map_err(|_| format!("limit too large (max {max})"));
    }
    if s.len() > 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("limit too large (max {max})"));
    }
    Err(format!(
        "limit must be a whole number between 1 and {max}, got {:?}",
        truncate(s, 30)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn decodes_and_rejects_malformed() {
        let p = Params::parse(Some("q=sea+ice&bbox=-10%2C0%2C10%2C5&&start=")).unwrap();
        assert_eq!(p.get("q"), Some("sea ice"));
        assert_eq!(p.get("bbox"), Some("-10,0,10,5"));
        assert_eq!(p.get("start"), None);
        assert!(Params::parse(Some("q=%zz")).is_err());
        assert!(Params::parse(Some("q=%e2%28")).is_err());
        assert!(Params::parse(Some("q=%")).is_err());
        assert!(Params::parse(Some("=x")).is_err());
        assert!(Params::parse(Some("q=a&q=b")).is_err());
        let long = "a=".to_owned() + &"x".repeat(MAX_QUERY_BYTES);
        assert!(Params::parse(Some(&long)).is_err());
        let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
        assert!(Params::parse(Some(&many.join("&"))).is_err());
    }

    #[test]
    fn unknown_parameters_are_named() {
        let p = Params::parse(Some("collection=a&colection=b")).unwrap();
        match p.allow_only(&["collection"]) {
            Err(ApiError::BadParameter { parameter, .. }) => assert_eq!(parameter, "colection"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn times() {
        let want = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        assert_eq!(parse_time("2024-05-01").unwrap(), want);
        assert_eq!(parse_time("2024-05-01T00:00:00Z").unwrap(), want);
        assert_eq!(parse_time("2024-05-01T02:00:00+02:00").unwrap(), want);
        assert_eq!(parse_time("2024-05-01T02:00:00 02:00").unwrap(), want);
        assert_eq!(parse_time("2024-05-01T00:00:00").unwrap(), want);
        assert_eq!(parse_time("2024-05-01T00:00").unwrap(), want);
        for bad in [
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "",
            "12345-01-01",
            "2024-05-01 x",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(parse_time(&"9".repeat(100)).is_err());
    }

    #[test]
    fn bboxes() {
        let b = parse_bbox("170,-10,-170,10").unwrap();
        assert!(b.crosses_antimeridian());
        assert_eq!(parse_bbox(" -180, -90, 180, 90 ").unwrap().north, 90.0);
        for bad in [
            "1,2,3",
            "1,2,3,4,5",
            "a,0,1,1",
            "-181,0,0,1",
            "0,-91,1,1",
            "0,0,1,91",
            "0,10,1,5",
            "NaN,0,1,1",
            "inf,0,1,1",
        ] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("1", 10), Ok(1));
        assert_eq!(parse_limit("10", 10), Ok(10));
        assert!(parse_limit("11", 10).unwrap_err().contains("too large"));
        assert!(parse_limit("0", 10).is_err());
        assert!(parse_limit("-1", 10).is_err());
        assert!(parse_limit("1.5", 10).is_err());
        assert!(
            parse_limit(&"9".repeat(40), 10)
                .unwrap_err()
                .contains("too large")
        );
        let p = Params::parse(None).unwrap();
        assert_eq!(p.limit("limit", 1000, 10000).unwrap(), 1000);
    }
}
