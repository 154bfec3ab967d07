//! Dates, durations and `timeCoverage`.
//!
//! Dates: ISO 8601 forms (`2024-01-01T00:00:00Z`, with fraction / offset, `2005-05-12 00:52:56`,
//! `2017-04-01`, `2001-05`, `2001`); a missing zone means UTC. `present` (any case) is kept as
//! [`DateValue::Present`] and only resolved by [`TimeCoverage::range`].
//!
//! Durations: ISO 8601 (`P3M`, `PT6H`, `P1DT12H`, `P2W`) and UDUNITS (`10 days`, `15 minutes`,
//! `3 hour`, `1.5 hours`). Years and months are calendar units (applied with calendar arithmetic);
//! everything else is a fixed number of seconds.

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A date in a `timeCoverage`: absolute, the relative `present`, or text that did not parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateValue {
    /// An absolute instant.
    Absolute(DateTime<Utc>),
    /// `present`: "now" at evaluation time.
    Present,
    /// Text that is neither (kept verbatim).
    Unparsed(String),
}

impl DateValue {
    /// Parses a date value (`present` or an ISO 8601 date/time).
    pub fn parse(s: &str) -> DateValue {
        let t = s.trim();
        if t.eq_ignore_ascii_case("present") {
            return DateValue::Present;
        }
        match parse_date(t) {
            Some(d) => DateValue::Absolute(d),
            None => DateValue::Unparsed(t.to_string()),
        }
    }

    /// Resolves to an instant (`present` = `now`).
    pub fn resolve(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            DateValue::Absolute(d) => Some(*d),
            DateValue::Present => Some(now),
            DateValue::Unparsed(_) => None,
        }
    }
}

/// A duration (`duration` / `resolution`) with its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeDuration {
    /// Text as written.
    pub raw: String,
    /// Calendar months (years * 12 + months); 0 if none.
    pub months: u32,
    /// Fixed seconds (weeks, days, hours, minutes, seconds).
    pub seconds: f64,
}

impl TimeDuration {
    /// Parses an ISO 8601 or UDUNITS duration; `None` if unrecognised.
    pub fn parse(s: &str) -> Option<TimeDuration> {
        let t = s.trim();
        let (months, seconds) = parse_iso_duration(t).or_else(|| parse_udunits_duration(t))?;
        Some(TimeDuration {
            raw: t.to_string(),
            months,
            seconds,
        })
    }

    /// `d + self` (`sign` = 1) or `d - self` (`sign` = -1); `None` on overflow.
    pub fn apply(&self, d: DateTime<Utc>, sign: i32) -> Option<DateTime<Utc>> {
        let mut out = d;
        if self.months > 0 {
            let m = Months::new(self.months);
            out = if sign >= 0 {
                out.checked_add_months(m)?
            } else {
                out.checked_sub_months(m)?
            };
        }
        if !self.seconds.is_finite() || self.seconds.abs() > 1.0e13 {
            return None;
        }
        let ms = (self.seconds * 1000.0).round() as i64;
        let delta = TimeDelta::try_milliseconds(ms)?;
        if sign >= 0 {
            out.checked_add_signed(delta)
        } else {
            out.checked_sub_signed(delta)
        }
    }
}

/// A `timeCoverage` element. Ending at `present` stays relative until [`TimeCoverage::range`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeCoverage {
    /// `start`.
    pub start: Option<DateValue>,
    /// `end`.
    pub end: Option<DateValue>,
    /// `duration`.
    pub duration: Option<TimeDuration>,
    /// `resolution`.
    pub resolution: Option<TimeDuration>,
    /// `@calendar`, if given.
    pub calendar: Option<String>,
}

impl TimeCoverage {
    /// The covered range with `present` resolved as `now`: start/end as given, or derived
    /// from the other end and the duration.
    pub fn range(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let start = self.start.as_ref().and_then(|d| d.resolve(now));
        let end = self.end.as_ref().and_then(|d| d.resolve(now));
        match (start, end, &self.duration) {
            (Some(s), Some(e), _) => (Some(s), Some(e)),
            (Some(s), None, Some(d)) => (Some(s), d.apply(s, 1)),
            (None, Some(e), Some(d)) => (d.apply(e, -1), Some(e)),
            (s, e, _) => (s, e),
        }
    }

    /// Whether the coverage is relative to the evaluation time (mentions `present`).
    pub fn is_relative(&self) -> bool {
        matches!(self.start, Some(DateValue::Present))
            || matches!(self.end, Some(DateValue::Present))
    }

    /// The range this coverage states without reference to the evaluation time: `None`
    /// unless the start is absolute (given, or derived from an absolute end and the
    /// duration). The end is the absolute end, else start + duration; an end at `present`
    /// is not a fixed instant and gives no end. A granule's time comes from here, never
    /// from "now", so it does not move between reads of an unchanged dataset.
    pub fn absolute_range(&self) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        let abs = |d: &Option<DateValue>| match d {
            Some(DateValue::Absolute(t)) => Some(*t),
            _ => None,
        };
        let (start, end) = (abs(&self.start), abs(&self.end));
        match (start, end, &self.duration) {
            (Some(s), Some(e), _) => Some((s, Some(e))),
            (Some(s), None, Some(d)) if !matches!(self.end, Some(DateValue::Present)) => {
                Some((s, d.apply(s, 1)))
            }
            (Some(s), None, _) => Some((s, None)),
            (None, Some(e), Some(d)) if self.start.is_none() => {
                d.apply(e, -1).map(|s| (s, Some(e)))
            }
            _ => None,
        }
    }

    /// The length of a rolling window (`end` = `present` with a duration): how long the
    /// server keeps files of the collection. `None` for any other coverage.
    pub fn rolling_window(&self) -> Option<&TimeDuration> {
        if matches!(self.end, Some(DateValue::Present)) && self.start.is_none() {
            self.duration.as_ref()
        } else {
            None
        }
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Fast path for the common `YYYY-MM-DDThh:mm:ssZ` form (what TDS writes); `None` for
/// anything else, including out-of-range fields (the general path then decides).
fn parse_utc_seconds(b: &[u8]) -> Option<DateTime<Utc>> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        n0,
        n1,
        b':',
        s0,
        s1,
        b'Z',
    ] = b
    else {
        return None;
    };
    let num = |ds: &[u8]| -> Option<u32> {
        ds.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(&[y0, y1, y2, y3])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(&[m0, m1])?, num(&[d0, d1])?)?;
    let time = NaiveTime::from_hms_opt(num(&[h0, h1])?, num(&[n0, n1])?, num(&[s0, s1])?)?;
    Some(date.and_time(time).and_utc())
}

/// Parses an ISO 8601-ish date/time; a missing zone means UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || !s.is_ascii() {
        return None;
    }
    if let Some(d) = parse_utc_seconds(s.as_bytes()) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    // Split date and time at 'T' or ' '.
    let (date_part, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let mut it = date_part.split('-');
    let year = digits(it.next()?)? as i32;
    let month = it.next().map(digits).unwrap_or(Some(1))?;
    let day = it.next().map(digits).unwrap_or(Some(1))?;
    if it.next().is_some() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let Some(rest) = rest.filter(|r| !r.is_empty()) else {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    };
    // Zone suffix.
    let (time_str, offset_secs) = split_zone(rest)?;
    let mut tp = time_str.split(':');
    let h = digits(tp.next()?)?;
    let m = tp.next().map(digits).unwrap_or(Some(0))?;
    let (sec, nanos) = match tp.next() {
        None => (0, 0),
        Some(sf) => {
            let (whole, frac) = match sf.split_once(['.', ',']) {
                Some((w, f)) => (w, f),
                None => (sf, ""),
            };
            let sec = digits(whole)?;
            let nanos = if frac.is_empty() {
                0
            } else {
                let f: String = frac.chars().take(9).collect();
                let v = digits(&f)?;
                v * 10u32.pow(9 - f.len() as u32)
            };
            (sec, nanos)
        }
    };
    if tp.next().is_some() {
        return None;
    }
    let (h, carry) = if h == 24 && m == 0 && sec == 0 {
        (0, 1)
    } else {
        (h, 0)
    };
    let time = NaiveTime::from_hms_nano_opt(h, m, sec.min(59), nanos)?;
    let ndt = NaiveDateTime::new(date, time);
    let dt = ndt.and_utc().checked_add_signed(TimeDelta::days(carry))?;
    dt.checked_sub_signed(TimeDelta::seconds(offset_secs))
}

fn split_zone(s: &str) -> Option<(&str, i64)> {
    let s = s.trim();
    for z in ["Z", "z", "UTC", "GMT"] {
        if let Some(t) = s.strip_suffix(z) {
            return Some((t.trim(), 0));
        }
    }
    if let Some(i) = s.rfind(['+', '-']) {
        let (t, z) = (&s[..i], &s[i..]);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = z[1..].replace(':', "");
        let (hh, mm) = match z.len() {
            2 => (digits(&z)?, 0),
            4 => (digits(&z[..2])?, digits(&z[2..])?),
            _ => return None,
        };
        if hh > 23 || mm > 59 {
            return None;
        }
        return Some((t.trim(), sign * (hh as i64 * 3600 + mm as i64 * 60)));
    }
    Some((s, 0))
}

fn parse_iso_duration(s: &str) -> Option<(u32, f64)> {
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    if rest.is_empty() {
        return None;
    }
    let mut months: u64 = 0;
    let mut secs = 0.0f64;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' | ',' => num.push(if c == ',' { '.' } else { c }),
            'T' | 't' => {
                if !num.is_empty() || in_time {
                    return None;
                }
                in_time = true;
            }
            _ => {
                let v: f64 = num.parse().ok()?;
                num.clear();
                any = true;
                match (c.to_ascii_uppercase(), in_time) {
                    ('Y', false) => months = months.checked_add((v * 12.0) as u64)?,
                    ('M', false) => months = months.checked_add(v as u64)?,
                    ('W', false) => secs += v * 7.0 * 86400.0,
                    ('D', false) => secs += v * 86400.0,
                    ('H', true) => secs += v * 3600.0,
                    ('M', true) => secs += v * 60.0,
                    ('S', true) => secs += v,
                    _ => return None,
                }
            }
        }
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some((u32::try_from(months).ok()?, secs))
}

fn parse_udunits_duration(s: &str) -> Option<(u32, f64)> {
    let mut parts = s.split_whitespace();
    let first = parts.next()?;
    // "10 days" or "10days"
    let (num, unit) = match parts.next() {
        Some(u) => (first, u),
        None => {
            let i = first.find(|c: char| c.is_ascii_alphabetic())?;
            (&first[..i], &first[i..])
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let u = unit.to_ascii_lowercase();
    let u = u
        .strip_suffix('s')
        .filter(|x| !x.is_empty() && u != "s")
        .unwrap_or(&u);
    let secs = match u {
        "sec" | "second" | "s" => 1.0,
        "min" | "minute" => 60.0,
        "hr" | "hour" | "h" => 3600.0,
        "day" | "d" => 86400.0,
        "week" => 7.0 * 86400.0,
        "month" | "mon" => return Some(((v as u32), 0.0)).filter(|_| v.fract() == 0.0),
        "year" | "yr" => {
            return Some(((v * 12.0) as u32, 0.0)).filter(|_| (v * 12.0).fract() == 0.0);
        }
        _ => return None,
    };
    Some((0, v * secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fast_date_path_matches_rfc3339() {
        for s in [
            "2024-01-31T23:59:59Z",
            "1999-12-31T00:00:00Z",
            "2016-02-29T12:30:45Z",
        ] {
            let want = DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc));
            assert_eq!(parse_utc_seconds(s.as_bytes()), want.ok(), "{s}");
            assert_eq!(parse_date(s), parse_utc_seconds(s.as_bytes()));
        }
        // Out-of-range fields and other forms are left to the general path.
        for s in [
            "2017-02-30T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01t00:00:00z",
            "2024-01-01 00:00:00Z",
            "2024-1-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc_seconds(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_date("2017-02-30T00:00:00Z"), None);
        assert_eq!(
            parse_date("2024-01-01t00:00:00z"),
            parse_utc_seconds(b"2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn dates() {
        let d = |s| parse_date(s).map(|d| d.to_rfc3339());
        assert_eq!(
            d("2024-01-01T00:00:00Z").unwrap(),
            "2024-01-01T00:00:00+00:00"
        );
        assert_eq!(
            d("1999-11-16T12:00:00").unwrap(),
            "1999-11-16T12:00:00+00:00"
        );
        assert_eq!(
            d("2005-05-12 00:52:56").unwrap(),
            "2005-05-12T00:52:56+00:00"
        );
        assert_eq!(d("2017-04-01").unwrap(), "2017-04-01T00:00:00+00:00");
        assert_eq!(d("2001-05").unwrap(), "2001-05-01T00:00:00+00:00");
        assert_eq!(
            d("2010-01-01T12:00:00+0200").unwrap(),
            "2010-01-01T10:00:00+00:00"
        );
        assert_eq!(
            d("2010-01-01T12:00:00.250Z").unwrap(),
            "2010-01-01T12:00:00.250+00:00"
        );
        assert_eq!(
            d("2010-01-01T24:00:00Z").unwrap(),
            "2010-01-02T00:00:00+00:00"
        );
        assert!(d("2017-02-30").is_none());
        assert!(d("yesterday").is_none());
        assert!(d("").is_none());
        assert!(d("99999999999-01-01").is_none());
        // Edge of chrono's range: no overflow panic.
        assert!(d("262142-12-31T24:00:00Z").is_none());
        assert!(d("262142-12-31T23:00:00-05:00").is_none());
    }

    #[test]
    fn durations() {
        let p = |s| TimeDuration::parse(s).map(|d| (d.months, d.seconds));
        assert_eq!(p("10 days"), Some((0, 864000.0)));
        assert_eq!(p("15 minutes"), Some((0, 900.0)));
        assert_eq!(p("3 hour"), Some((0, 10800.0)));
        assert_eq!(p("1.5 hours"), Some((0, 5400.0)));
        assert_eq!(p("P3M"), Some((3, 0.0)));
        assert_eq!(p("P1Y2M"), Some((14, 0.0)));
        assert_eq!(p("PT6H"), Some((0, 21600.0)));
        assert_eq!(p("P1DT12H30M"), Some((0, 131400.0)));
        assert_eq!(p("P2W"), Some((0, 1209600.0)));
        assert_eq!(p("2 years"), Some((24, 0.0)));
        assert_eq!(p("P"), None);
        assert_eq!(p("PT"), None);
        assert_eq!(p("ten days"), None);
        assert_eq!(p("5 parsecs"), None);
    }

    #[test]
    fn absolute_range_never_depends_on_now() {
        let tc = |start: Option<&str>, end: Option<&str>, dur: Option<&str>| TimeCoverage {
            start: start.map(DateValue::parse),
            end: end.map(DateValue::parse),
            duration: dur.and_then(TimeDuration::parse),
            ..Default::default()
        };
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .ok()
        };
        // Rolling window: no range, but a retention.
        let rolling = tc(None, Some("present"), Some("14 days"));
        assert_eq!(rolling.absolute_range(), None);
        assert_eq!(
            rolling.rolling_window().map(|d| d.seconds),
            Some(14.0 * 86400.0)
        );
        // Absolute start + duration.
        let r = tc(Some("2017-07-19T23:37:00"), None, Some("5 minutes")).absolute_range();
        assert_eq!(
            r,
            Some((
                t("2017-07-19T23:37:00Z").unwrap(),
                t("2017-07-19T23:42:00Z")
            ))
        );
        // Absolute start, end at present: the start only.
        let r = tc(Some("2020-01-01"), Some("present"), Some("1 day")).absolute_range();
        assert_eq!(r, Some((t("2020-01-01T00:00:00Z").unwrap(), None)));
        assert_eq!(
            tc(Some("2020-01-01"), Some("present"), Some("1 day")).rolling_window(),
            None
        );
        // Absolute end + duration.
        let r = tc(None, Some("2020-01-02"), Some("1 day")).absolute_range();
        assert_eq!(
            r,
            Some((
                t("2020-01-01T00:00:00Z").unwrap(),
                t("2020-01-02T00:00:00Z")
            ))
        );
        // Start at present, or nothing parseable: no range.
        assert_eq!(
            tc(Some("present"), None, Some("1 day")).absolute_range(),
            None
        );
        assert_eq!(tc(Some("soon"), None, None).absolute_range(), None);
    }

    #[test]
    fn coverage_present_is_relative() {
        let tc = TimeCoverage {
            end: Some(DateValue::parse("present")),
            duration: TimeDuration::parse("14 days"),
            ..Default::default()
        };
        assert!(tc.is_relative());
        let now = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
        let (s, e) = tc.range(now);
        assert_eq!(e, Some(now));
        assert_eq!(s, Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
        let later = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(tc.range(later).1, Some(later));
    }

    #[test]
    fn coverage_start_plus_calendar_duration() {
        let tc = TimeCoverage {
            start: Some(DateValue::parse("1999-11-16T12:00:00")),
            duration: TimeDuration::parse("P3M"),
            ..Default::default()
        };
        let now = Utc::now();
        let (s, e) = tc.range(now);
        assert_eq!(
            s,
            Some(Utc.with_ymd_and_hms(1999, 11, 16, 12, 0, 0).unwrap())
        );
        assert_eq!(
            e,
            Some(Utc.with_ymd_and_hms(2000, 2, 16, 12, 0, 0).unwrap())
        );
    }
}
