//! `threddex-json`: JSON written straight into a byte buffer, byte for byte as `serde_json`
//! writes it, for the hot encoders of the API (`/index`, STAC item pages) that skip building a
//! `serde` tree.
//!
//! * [`push_quoted`] / [`push_escaped`]: strings, escaped exactly as `serde_json` escapes them;
//! * [`push_i64`] / [`push_u64`]: integers;
//! * [`push_bool`], [`push_null`];
//! * [`push_time`] / [`push_opt_time`]: times as chrono's
//!   `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes them (their `serde` form).
//!
//! Floating-point numbers are not here: the encoders that need them write them once per page
//! through `serde_json`.

#![forbid(unsafe_code)]

use chrono::{DateTime, SecondsFormat, Utc};

/// A time (UTC).
pub type Timestamp = DateTime<Utc>;

/// `true` or `false`.
pub fn push_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// `null`.
pub fn push_null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"null");
}

/// `s` as a JSON string, quotes included.
pub fn push_quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

/// `s` escaped as the inside of a JSON string, as serde_json does it: `"` and `\` and the
/// control characters below U+0020 (`\b \t \n \f \r` in short form, the others as `\u00XX`
/// with lowercase hex); everything else verbatim (UTF-8).
pub fn push_escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip bytes that need no escape: eight at a time, then one at a time.
        i += clean_run(&bytes[i..]);
        while i < bytes.len() && !NEEDS_ESCAPE[usize::from(bytes[i])] {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else { break };
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            // Only bytes below 0x20 are left (see `NEEDS_ESCAPE`).
            _ => b'u',
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Bytes a JSON string must escape: `"`, `\\` and the controls below 0x20.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Length of the leading run of whole 8-byte words of `bytes` in which no byte needs a JSON
/// escape (`"`, `\\`, or below 0x20); the caller checks the rest byte by byte.
fn clean_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero iff some byte of `x` is zero (exact for the "any" question).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut n = 0;
    for word in bytes.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        // Some byte below 0x20 (exact for thresholds up to 0x80).
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if control
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            break;
        }
        n += 8;
    }
    n
}

/// An integer, as `serde_json` writes it.
pub fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// An unsigned integer, as `serde_json` writes it.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut v = n;
    let mut i = digits.len();
    loop {
        i -= 1;
        // `v % 10` is below 10.
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A quoted time ([`push_time`]) or `null`.
pub fn push_opt_time(out: &mut Vec<u8>, t: Option<Timestamp>) {
    match t {
        Some(t) => push_time(out, t),
        None => out.extend_from_slice(b"null"),
    }
}

/// `(year, month, day)` of the proleptic Gregorian calendar for days since 1970-01-01
/// (the era-based algorithm of H. Hinnant's `civil_from_days`; exact for every `i64` day
/// count a `DateTime<Utc>` can hold).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A quoted timestamp exactly as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)`
/// writes it (which is also its serde form): `2024-01-02T03:04:05Z`, with `.mmm`, `.uuuuuu`
/// or `.nnnnnnnnn` when the fraction needs it. Years outside 0..=9999 and leap seconds go
/// through chrono itself.
pub fn push_time(out: &mut Vec<u8>, t: Timestamp) {
    let secs = t.timestamp();
    let nanos = t.timestamp_subsec_nanos();
    let days = secs.div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        out.push(b'"');
        out.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes());
        out.push(b'"');
        return;
    }
    let two = |out: &mut Vec<u8>, v: u32| {
        // Both digits of a value below 100.
        out.push(b'0' + (v / 10 % 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    // In range: year 0..=9999, month 1..=12, day 1..=31, second of day below 86,400.
    let y = year.unsigned_abs() as u32;
    let sod = secs.rem_euclid(86_400) as u32;
    out.push(b'"');
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
    out.push(b'T');
    two(out, sod / 3600);
    out.push(b':');
    two(out, sod / 60 % 60);
    out.push(b':');
    two(out, sod % 60);
    let (value, width) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if width > 0 {
        out.push(b'.');
        let mut digits = [b'0'; 9];
        let mut v = value;
        for d in digits[..width].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&digits[..width]);
    }
    out.extend_from_slice(b"Z\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn quoted_ref(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    #[test]
    fn escaping_matches_serde_json() {
        let mut all = String::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f600]) {
            all.push(char::from_u32(c).unwrap());
        }
        for s in [
            "",
            "plain/path.nc",
            "a\"b\\c",
            "\u{7f}\u{0}x\u{1f}",
            all.as_str(),
        ] {
            let mut out = Vec::new();
            push_quoted(&mut out, s);
            assert_eq!(out, quoted_ref(s), "{s:?}");
        }
    }

    #[test]
    fn integers() {
        for n in [0, 1, -1, 9, 10, 1_000_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_i64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn times_match_chrono() {
        let base = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 58).unwrap();
        let mut cases = vec![
            base,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(12345, 6, 1, 0, 0, 0).unwrap(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        for nanos in [
            1,
            10,
            999,
            1_000,
            120_000,
            1_000_000,
            5_000_000,
            123_456_789,
        ] {
            cases.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second.
        if let Some(leap) = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        {
            cases.push(leap.and_utc());
        }
        for t in cases {
            let mut out = Vec::new();
            push_time(&mut out, t);
            assert_eq!(out, serde_json::to_vec(&t).unwrap(), "{t:?}");
            let expected = format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    /// The word-at-a-time scan: every byte that needs an escape, at every position of strings
    /// longer than a word, next to every other byte value.
    #[test]
    fn escaping_matches_serde_json_at_every_position() {
        let special: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', '\u{7f}', 'é', '\u{2028}'])
            .collect();
        for len in 1..=20 {
            for pos in 0..len {
                for &c in &special {
                    for fill in ['a', ' ', '!', '#', '[', ']', '~', '\u{1f}'] {
                        let s: String = (0..len).map(|i| if i == pos { c } else { fill }).collect();
                        let mut out = Vec::new();
                        push_quoted(&mut out, &s);
                        assert_eq!(out, quoted_ref(&s), "{s:?}");
                    }
                }
            }
        }
    }

    /// The calendar arithmetic against chrono over the whole 4-digit year range: a day every
    /// 97 days and 3,607 s (so every month, both sides of leap days and century rules, and
    /// varied times of day), plus every day of four years around 2000.
    #[test]
    fn times_match_chrono_across_the_calendar() {
        let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp();
        let last = Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp();
        let mut secs = first;
        let check = |secs: i64| {
            let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let mut out = Vec::new();
            push_time(&mut out, t);
            let expected = format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{secs}");
        };
        while secs <= last {
            check(secs);
            secs += 97 * 86_400 + 3_607;
        }
        let y1998 = Utc
            .with_ymd_and_hms(1998, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        for day in 0..(4 * 366) {
            check(y1998 + day * 86_400 + 86_399);
        }
        check(first);
        check(last);
        check(first - 1);
        check(last + 1);
    }

    #[test]
    fn unsigned_integers() {
        for n in [0, 1, 9, 10, 4_294_967_296, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }
    }

    #[test]
    fn literals() {
        let mut out = Vec::new();
        push_bool(&mut out, true);
        push_bool(&mut out, false);
        push_null(&mut out);
        push_opt_time(&mut out, None);
        assert_eq!(out, b"truefalsenullnull");
    }
}
