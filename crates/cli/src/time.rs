//! Parsing of times given on the command line.

use chrono::{DateTime, NaiveDate, Utc};

/// Parse an RFC 3339 time (`2019-08-30T17:13:00Z`) or a UTC date (`2019-08-30`, meaning its
/// midnight).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2019-08-30T17:13:00Z) or a date (2019-08-30)"
    ))
}

/// Format an optional time as RFC 3339 UTC, or `-` when unknown.
pub fn fmt_opt(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), fmt)
}

/// Format a time as RFC 3339 UTC with a `Z`.
pub fn fmt(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_dates() {
        assert_eq!(fmt(parse_time("2019-08-30T17:13:00Z").unwrap()), "2019-08-30T17:13:00Z");
        assert_eq!(fmt(parse_time("2019-08-30T19:13:00+02:00").unwrap()), "2019-08-30T17:13:00Z");
        assert_eq!(fmt(parse_time("2019-08-30").unwrap()), "2019-08-30T00:00:00Z");
        assert!(parse_time("2019-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(fmt_opt(None), "-");
    }
}
