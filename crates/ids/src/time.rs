//! Date/time fields, validation and the period conventions shared by the scanner and the
//! template reader.

use chrono::{DateTime, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Smallest year accepted in a structured timestamp (`YYYYMM`, `YYYYMMDD`, …).
pub const MIN_YEAR: i32 = 1800;
/// Largest year accepted in any timestamp.
pub const MAX_YEAR: i32 = 2300;
/// Smallest year accepted for a bare 4-digit year token (`sst_1998.nc`, a `/1998/` folder).
pub const MIN_BARE_YEAR: i32 = 1900;

/// How fine a timestamp is; the coarsest field missing decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Precision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// One fixed-width numeric field of a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Year,
    Month,
    Day,
    Doy,
    Hour,
    Minute,
    Second,
}

impl Field {
    pub(crate) fn width(self) -> usize {
        match self {
            Field::Year => 4,
            Field::Doy => 3,
            _ => 2,
        }
    }

    /// The code of this field in a template placeholder.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Field::Year => "yyyy",
            Field::Month => "MM",
            Field::Day => "dd",
            Field::Doy => "DDD",
            Field::Hour => "HH",
            Field::Minute => "mm",
            Field::Second => "ss",
        }
    }
}

/// What a timestamp means for the granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Start (or the only time) of the granule.
    Start,
    /// End of the granule (second half of a range, GOES `e`).
    End,
    /// Recognised and removed, but not a granule time (GOES `c`, creation time).
    Skip,
}

/// Field values gathered while reading digits; validated by [`Fields::build`].
#[derive(Default)]
pub(crate) struct Fields {
    year: Option<u32>,
    month: Option<u32>,
    day: Option<u32>,
    doy: Option<u32>,
    hour: Option<u32>,
    minute: Option<u32>,
    second: Option<u32>,
    nanos: u32,
    frac_digits: u32,
}

impl Fields {
    pub(crate) fn set(&mut self, field: Field, v: u32) {
        let slot = match field {
            Field::Year => &mut self.year,
            Field::Month => &mut self.month,
            Field::Day => &mut self.day,
            Field::Doy => &mut self.doy,
            Field::Hour => &mut self.hour,
            Field::Minute => &mut self.minute,
            Field::Second => &mut self.second,
        };
        *slot = Some(v);
    }

    /// Append one digit of a decimal fraction of a second. At most 9 digits.
    pub(crate) fn push_frac(&mut self, digit: u32) -> Option<()> {
        if self.frac_digits >= 9 {
            return None;
        }
        self.frac_digits += 1;
        self.nanos += digit * 10u32.pow(9 - self.frac_digits);
        Some(())
    }

    /// Validate and assemble. `None` for anything that is not a real instant in the accepted
    /// year range (month 13, day 32, hour 24+, minute/second 60+, DDD past the year's end…).
    pub(crate) fn build(&self) -> Option<(NaiveDateTime, Precision)> {
        let y = i32::try_from(self.year?).ok()?;
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return None;
        }
        let (date, mut precision) = if let Some(doy) = self.doy {
            (NaiveDate::from_yo_opt(y, doy)?, Precision::Day)
        } else if let Some(m) = self.month {
            match self.day {
                Some(d) => (NaiveDate::from_ymd_opt(y, m, d)?, Precision::Day),
                None => (NaiveDate::from_ymd_opt(y, m, 1)?, Precision::Month),
            }
        } else {
            if y < MIN_BARE_YEAR {
                return None;
            }
            (NaiveDate::from_ymd_opt(y, 1, 1)?, Precision::Year)
        };
        if self.hour.is_some() {
            precision = Precision::Hour;
        }
        if self.minute.is_some() {
            precision = Precision::Minute;
        }
        if self.second.is_some() || self.frac_digits > 0 {
            precision = Precision::Second;
        }
        let time = NaiveTime::from_hms_nano_opt(
            self.hour.unwrap_or(0),
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0),
            self.nanos,
        )?;
        // chrono represents a leap second as nanos >= 1e9; we never produce that, but be strict.
        if self.nanos >= 1_000_000_000 {
            return None;
        }
        Some((NaiveDateTime::new(date, time), precision))
    }
}

/// Read `width` ASCII digits at `pos` as a number.
pub(crate) fn num(b: &[u8], pos: usize, width: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(width)?)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Evaluate the bytes `b[start..end]` against `layout`: digits fill the fields in order (each
/// field takes exactly its width), non-digits are literal separators, digits after the last
/// field are a decimal fraction of a second.
pub(crate) fn eval(
    b: &[u8],
    start: usize,
    end: usize,
    layout: &[Field],
) -> Option<(NaiveDateTime, Precision)> {
    let mut f = Fields::default();
    let mut li = 0;
    let mut p = start;
    while p < end {
        let c = *b.get(p)?;
        if c.is_ascii_digit() {
            if let Some(&field) = layout.get(li) {
                let w = field.width();
                if p + w > end {
                    return None;
                }
                f.set(field, num(b, p, w)?);
                p += w;
                li += 1;
            } else {
                f.push_frac(u32::from(c - b'0'))?;
                p += 1;
            }
        } else {
            p += 1;
        }
    }
    if li < layout.len() {
        return None;
    }
    f.build()
}

/// End of a period that starts at `t`: for year/month/day precision the exclusive end (start of
/// the next year/month/day); for hour precision or finer the instant itself.
pub(crate) fn period_end(t: NaiveDateTime, p: Precision) -> NaiveDateTime {
    let next = match p {
        Precision::Year => t.checked_add_months(Months::new(12)),
        Precision::Month => t.checked_add_months(Months::new(1)),
        Precision::Day => t.checked_add_days(Days::new(1)),
        _ => Some(t),
    };
    next.unwrap_or(t)
}

/// One recognised time, with where it was found (path segment index, counting `/`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub role: Role,
    pub value: NaiveDateTime,
    pub precision: Precision,
    pub segment: usize,
}

/// Choose the granule's start and end among the recognised times.
///
/// Start: the `Start` time of finest precision; on a tie the one in the later path segment
/// (the file name beats its dated folder), then the first in that segment. End: the `End` time
/// chosen the same way, as [`period_end`]; dropped if it is before the start.
pub(crate) fn select(hits: &[Hit]) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let best = |role: Role| {
        let mut best: Option<&Hit> = None;
        for h in hits.iter().filter(|h| h.role == role) {
            best = match best {
                Some(b)
                    if h.precision > b.precision
                        || (h.precision == b.precision && h.segment > b.segment) =>
                {
                    Some(h)
                }
                None => Some(h),
                keep => keep,
            };
        }
        best
    };
    let Some(start) = best(Role::Start) else {
        return (None, None);
    };
    let end = best(Role::End)
        .map(|e| period_end(e.value, e.precision))
        .filter(|e| *e >= start.value);
    (
        Some(start.value.and_utc()),
        end.map(|e: NaiveDateTime| e.and_utc()),
    )
}
