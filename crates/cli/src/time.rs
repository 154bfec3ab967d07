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

/// Parse a duration: a number with a unit, `ms`, `s`, `m` or `h` (`250ms`, `3s`, `5m`, `1h`);
/// a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a duration: use e.g. 250ms, 3s, 5m or 1h");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad())
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
        assert_eq!(
            fmt(parse_time("2019-08-30T17:13:00Z").unwrap()),
            "2019-08-30T17:13:00Z"
        );
        assert_eq!(
            fmt(parse_time("2019-08-30T19:13:00+02:00").unwrap()),
            "2019-08-30T17:13:00Z"
        );
        assert_eq!(
            fmt(parse_time("2019-08-30").unwrap()),
            "2019-08-30T00:00:00Z"
        );
        assert!(parse_time("2019-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(fmt_opt(None), "-");
    }

    #[test]
    fn parses_durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "3x", "-1s", "1e999", "fast"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
