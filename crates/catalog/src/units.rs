//! `dataSize` with units converted to bytes.
//!
//! The THREDDS spec lists the units `bytes`, `Kbytes`, `Mbytes`, `Gbytes`, `Tbytes`; TDS writes
//! them with decimal multiples (it formats sizes by dividing by 1.0e3, 1.0e6, ...), and clients
//! such as siphon and thredds_crawler convert back with powers of 1000. So do we:
//! K = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15. Unit names are case-insensitive and
//! `KB`/`kbyte`/`B` forms are accepted too.

use serde::{Deserialize, Serialize};

/// A `dataSize` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSize {
    /// Numeric value as written.
    pub value: f64,
    /// `@units` as written (`bytes` when absent).
    pub units: String,
    /// Value converted to bytes (rounded), `None` if the units are unknown or out of range.
    pub bytes: Option<u64>,
}

impl DataSize {
    /// Parses a `dataSize` text and units; `None` if the text is not a number.
    pub fn parse(text: &str, units: Option<&str>) -> Option<DataSize> {
        DataSize::parse_owned(text, units.map(str::to_string))
    }

    /// Like [`DataSize::parse`], taking ownership of the units string (no copy).
    pub fn parse_owned(text: &str, units: Option<String>) -> Option<DataSize> {
        let value: f64 = text.trim().parse().ok()?;
        if !value.is_finite() {
            return None;
        }
        let units = match units {
            Some(u) if !u.trim().is_empty() => {
                if u.trim().len() == u.len() {
                    u
                } else {
                    u.trim().to_string()
                }
            }
            _ => "bytes".to_string(),
        };
        let bytes = unit_multiplier(&units).and_then(|m| to_bytes(value, m));
        Some(DataSize {
            value,
            units,
            bytes,
        })
    }
}

/// Multiplier for a size unit (decimal).
pub fn unit_multiplier(units: &str) -> Option<f64> {
    // Fast path: the spellings TDS writes (no allocation).
    match units {
        "bytes" => return Some(1.0),
        "Kbytes" => return Some(1.0e3),
        "Mbytes" => return Some(1.0e6),
        "Gbytes" => return Some(1.0e9),
        "Tbytes" => return Some(1.0e12),
        _ => {}
    }
    let u = units.trim().to_ascii_lowercase();
    let u = u.strip_suffix('s').unwrap_or(&u);
    let u = u
        .strip_suffix("byte")
        .or_else(|| u.strip_suffix('b'))
        .unwrap_or(u);
    Some(match u {
        "" => 1.0,
        "k" | "kilo" => 1.0e3,
        "m" | "mega" => 1.0e6,
        "g" | "giga" => 1.0e9,
        "t" | "tera" => 1.0e12,
        "p" | "peta" => 1.0e15,
        _ => return None,
    })
}

fn to_bytes(value: f64, mult: f64) -> Option<u64> {
    let b = (value * mult).round();
    if b.is_finite() && (0.0..1.8e19).contains(&b) {
        Some(b as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_unit_spellings_match_the_general_rule() {
        for u in ["bytes", "Kbytes", "Mbytes", "Gbytes", "Tbytes"] {
            // A leading space skips the fast path.
            assert_eq!(unit_multiplier(u), unit_multiplier(&format!(" {u}")), "{u}");
        }
        assert_eq!(unit_multiplier("Mbytes"), Some(1.0e6));
    }

    #[test]
    fn conversions() {
        let b = |t: &str, u: Option<&str>| DataSize::parse(t, u).and_then(|d| d.bytes);
        assert_eq!(b("165.0", Some("bytes")), Some(165));
        assert_eq!(b("6038934", Some("bytes")), Some(6_038_934));
        assert_eq!(b("437.6", Some("Mbytes")), Some(437_600_000));
        assert_eq!(b("4.562", Some("Gbytes")), Some(4_562_000_000));
        assert_eq!(b("12.5", Some("Kbytes")), Some(12_500));
        assert_eq!(b("2", Some("Tbytes")), Some(2_000_000_000_000));
        assert_eq!(b("3", Some("KB")), Some(3_000));
        assert_eq!(b("7", None), Some(7));
        assert_eq!(b("7", Some("furlongs")), None);
        assert_eq!(b("-1", Some("bytes")), None);
        assert!(DataSize::parse("abc", Some("bytes")).is_none());
        assert!(DataSize::parse("NaN", Some("bytes")).is_none());
        assert_eq!(b("1e300", Some("Tbytes")), None);
    }
}
