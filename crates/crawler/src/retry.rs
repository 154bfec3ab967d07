//! Retry classification, `Retry-After` parsing and exponential backoff with jitter.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// Whether a failed attempt is worth repeating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Transient: retry after a backoff (5xx, 408, timeouts, resets, truncated bodies).
    Backoff,
    /// The server asked us to slow down (429, or 503 with `Retry-After`); retry after the
    /// given wait, already capped.
    After(Duration),
    /// Permanent: do not retry (4xx, malformed XML, HTML page, body too large, …).
    Never,
}

/// A failed attempt: a human-readable reason and whether to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Why it failed, for the catalog state and the report.
    pub reason: String,
    /// Whether and when to retry.
    pub retry: Retry,
    /// The server answered that the document does not exist (404 Not Found, 410 Gone).
    pub gone: bool,
}

impl Failure {
    /// A failure that will not get better by retrying.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: Retry::Never,
            gone: false,
        }
    }

    /// A transient failure, retried with backoff.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: Retry::Backoff,
            gone: false,
        }
    }
}

/// Classify an HTTP error status. `retry_after` is the parsed (uncapped) `Retry-After` header.
pub fn classify_status(status: u16, retry_after: Option<Duration>, cap: Duration) -> Retry {
    match status {
        429 | 503 => match retry_after {
            Some(d) => Retry::After(d.min(cap)),
            None => Retry::Backoff,
        },
        408 | 425 => Retry::Backoff,
        500..=599 => Retry::Backoff,
        _ => Retry::Never,
    }
}

/// Classify a transport error from reqwest.
pub fn classify_transport(err: &reqwest::Error) -> Retry {
    if err.is_redirect() || err.is_builder() {
        Retry::Never
    } else {
        // Timeouts, connection failures, resets, truncated or undecodable bodies.
        Retry::Backoff
    }
}

/// Describe a transport error briefly (without the URL, which the report already carries).
pub fn describe_transport(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_redirect() {
        "redirect error"
    } else if err.is_body() || err.is_decode() {
        "body read failed"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut depth = 0;
    while let Some(s) = source {
        if depth >= 4 {
            break;
        }
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
        depth += 1;
    }
    msg
}

/// Parse a `Retry-After` value: delta-seconds or an HTTP date (IMF-fixdate, RFC 850 and
/// asctime forms are accepted as far as chrono's RFC 2822 parser and two fallbacks reach).
/// A date in the past gives zero.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Huge values saturate (they are capped by the caller anyway).
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    let delta = at.signed_duration_since(now);
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

fn parse_http_date(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(v, "%A, %d-%b-%y %H:%M:%S GMT") {
        return Some(d.and_utc());
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    let squeezed: String = v.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(&squeezed, "%a %b %e %H:%M:%S %Y") {
        return Some(d.and_utc());
    }
    None
}

/// The wait before retry number `attempt` (0-based): `base * 2^attempt`, capped at `cap`,
/// with "equal jitter": uniformly in `[d/2, d]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
    let d = base.saturating_mul(factor).min(cap);
    let half = d / 2;
    let span = d.saturating_sub(half).as_nanos().min(u128::from(u64::MAX)) as u64;
    let extra = if span == 0 {
        0
    } else {
        rng.random_range(0..=span)
    };
    half + Duration::from_nanos(extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("1", now()), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_dates() {
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 08:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Saturday, 21-Nov-26 08:01:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sat Nov 21 08:00:05 2026", now()),
            Some(Duration::from_secs(5))
        );
        // In the past: no wait.
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage() {
        assert_eq!(parse_retry_after("", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
        assert_eq!(parse_retry_after("1.5", now()), None);
    }

    #[test]
    fn status_classes() {
        let cap = Duration::from_secs(120);
        assert_eq!(
            classify_status(429, Some(Duration::from_secs(3)), cap),
            Retry::After(Duration::from_secs(3))
        );
        assert_eq!(
            classify_status(503, Some(Duration::from_secs(9999)), cap),
            Retry::After(cap)
        );
        assert_eq!(classify_status(503, None, cap), Retry::Backoff);
        assert_eq!(classify_status(429, None, cap), Retry::Backoff);
        assert_eq!(classify_status(500, None, cap), Retry::Backoff);
        assert_eq!(classify_status(502, None, cap), Retry::Backoff);
        assert_eq!(classify_status(408, None, cap), Retry::Backoff);
        assert_eq!(classify_status(404, None, cap), Retry::Never);
        assert_eq!(classify_status(403, None, cap), Retry::Never);
        assert_eq!(
            classify_status(410, Some(Duration::from_secs(1)), cap),
            Retry::Never
        );
    }

    #[test]
    fn backoff_bounds() {
        let mut rng = rand::rng();
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..40 {
            let full = base
                .saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX))
                .min(cap);
            for _ in 0..50 {
                let d = backoff(attempt, base, cap, &mut rng);
                assert!(d >= full / 2, "attempt {attempt}: {d:?} < {:?}", full / 2);
                assert!(d <= full, "attempt {attempt}: {d:?} > {full:?}");
                assert!(d <= cap);
            }
        }
        // Growth: the lower bound of attempt 3 is above the upper bound of attempt 0.
        assert!(backoff(3, base, cap, &mut rng) > base);
        assert_eq!(backoff(5, Duration::ZERO, cap, &mut rng), Duration::ZERO);
    }
}
