//! The timestamp grammar: a hand-written scanner over bytes.
//!
//! The scanner looks at each maximal run of ASCII digits, checks what delimits it, and tries
//! the patterns that fit the run's length and surroundings (see the README grammar table).
//! A candidate is only accepted if every field validates ([`crate::time::Fields::build`]).

use crate::time::{Field, Precision, Role, eval};
use chrono::NaiveDateTime;

const Y: &[Field] = &[Field::Year];
const YM: &[Field] = &[Field::Year, Field::Month];
const YD: &[Field] = &[Field::Year, Field::Doy];
const YMD: &[Field] = &[Field::Year, Field::Month, Field::Day];
const YMDH: &[Field] = &[Field::Year, Field::Month, Field::Day, Field::Hour];
const YDH: &[Field] = &[Field::Year, Field::Doy, Field::Hour];
const YMDHM: &[Field] = &[
    Field::Year,
    Field::Month,
    Field::Day,
    Field::Hour,
    Field::Minute,
];
const YMDHMS: &[Field] = &[
    Field::Year,
    Field::Month,
    Field::Day,
    Field::Hour,
    Field::Minute,
    Field::Second,
];
const YDHMS: &[Field] = &[
    Field::Year,
    Field::Doy,
    Field::Hour,
    Field::Minute,
    Field::Second,
];

/// One recognised time inside a token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Part {
    /// Byte span of the time text (what the template placeholder replaces).
    pub start: usize,
    pub end: usize,
    pub layout: &'static [Field],
    pub role: Role,
    pub value: NaiveDateTime,
    pub precision: Precision,
}

/// A recognised token: the bytes to remove from the collection id and its time parts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub start: usize,
    pub end: usize,
    pub parts: [Option<Part>; 2],
}

/// A separator that may be left dangling and collapsed.
#[inline]
pub(crate) fn is_sep(c: u8) -> bool {
    matches!(c, b'_' | b'-' | b'.' | b' ')
}

/// Any ASCII non-alphanumeric byte delimits a token.
#[inline]
fn is_delim(c: u8) -> bool {
    c < 0x80 && !c.is_ascii_alphanumeric()
}

/// Right boundary at `p`: end of input or a delimiter.
#[inline]
fn rb(b: &[u8], p: usize) -> bool {
    b.get(p).is_none_or(|&c| is_delim(c))
}

#[inline]
fn at(b: &[u8], p: usize) -> Option<u8> {
    b.get(p).copied()
}

/// Number of consecutive ASCII digits from `p`.
#[inline]
pub(crate) fn run(b: &[u8], p: usize) -> usize {
    b.get(p..)
        .map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
}

fn part(b: &[u8], start: usize, end: usize, layout: &'static [Field], role: Role) -> Option<Part> {
    let (value, precision) = eval(b, start, end, layout)?;
    Some(Part {
        start,
        end,
        layout,
        role,
        value,
        precision,
    })
}

fn single(b: &[u8], start: usize, end: usize, layout: &'static [Field]) -> Option<Token> {
    let p = part(b, start, end, layout, Role::Start)?;
    Some(Token {
        start,
        end,
        parts: [Some(p), None],
    })
}

/// `first` and `second` (already spans) as a start/end range; the end must not precede the start.
fn range(
    b: &[u8],
    first: (usize, usize),
    second: (usize, usize),
    layout: &'static [Field],
) -> Option<Token> {
    let s = part(b, first.0, first.1, layout, Role::Start)?;
    let e = part(b, second.0, second.1, layout, Role::End)?;
    if e.value < s.value {
        return None;
    }
    Some(Token {
        start: first.0,
        end: second.1,
        parts: [Some(s), Some(e)],
    })
}

/// Find all timestamp tokens in `raw`, in order, non-overlapping.
pub(crate) fn scan(raw: &str, out: &mut Vec<Token>) {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            continue;
        }
        let e = i + run(b, i);
        match token_at(b, i, e) {
            Some(t) => {
                i = t.end.max(e);
                out.push(t);
            }
            None => i = e,
        }
    }
}

/// Try to read a token whose first digit run is `b[a..e]`.
fn token_at(b: &[u8], a: usize, e: usize) -> Option<Token> {
    let len = e - a;
    let left = a.checked_sub(1).and_then(|p| at(b, p));
    if left.is_none_or(|c| c == b'/')
        && let Some(t) = folder_chain(b, a, e)
    {
        return Some(t);
    }
    let left2 = a.checked_sub(2).and_then(|p| at(b, p));
    match left {
        None => boundary(b, a, e, len),
        Some(c) if is_delim(c) => boundary(b, a, e, len),
        // GOES-R: `_s20192430003570` (YYYYJJJHHMMSSt), also `e` (end) and `c` (created).
        Some(c @ (b's' | b'e' | b'c')) if left2.is_none_or(is_delim) => {
            if len != 14 || !rb(b, e) {
                return None;
            }
            let role = match c {
                b's' => Role::Start,
                b'e' => Role::End,
                _ => Role::Skip,
            };
            let p = part(b, a, e, YDHMS, role)?;
            Some(Token {
                start: a - 1,
                end: e,
                parts: [Some(p), None],
            })
        }
        // OBPG: one upper-case letter at the start of a file name, then the date(s).
        Some(c) if c.is_ascii_uppercase() && left2.is_none_or(|c| c == b'/') => {
            if !rb(b, e) {
                return None;
            }
            match len {
                7 => single(b, a, e, YD),
                8 => single(b, a, e, YMD),
                13 => single(b, a, e, YDHMS),
                14 => range(b, (a, a + 7), (a + 7, e), YD),
                16 => range(b, (a, a + 8), (a + 8, e), YMD),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A dated folder chain starting at the path segment start `a`, whose first digit run is
/// `b[a..e]`: whole segments `YYYY/MM/DD`, `YYYY/MMDD`, `YYYY/DDD`, `YYYYMMDD`, `YYYYDDD` or
/// `YYYY-MM-DD` (day precision), optionally followed by an hour folder `HH` (00–23, hour
/// precision). A segment ends at `/` or the end of the input. Split forms need a year folder
/// of 1900–2300 (as a bare year). One token with one start part, so the whole chain is
/// removed from the collection id and becomes one placeholder (`{yyyy/DDD/HH}`).
///
/// The caller checks that `a` starts a segment. `None` when the segments do not form a valid
/// date; an invalid hour folder (`24`) is not part of the chain.
pub(crate) fn folder_chain(b: &[u8], a: usize, e: usize) -> Option<Token> {
    let seg_end = |p: usize| at(b, p).is_none_or(|c| c == b'/');
    let (end, day, hour): (usize, &'static [Field], &'static [Field]) = match e - a {
        8 if seg_end(e) => (e, YMD, YMDH),
        7 if seg_end(e) => (e, YD, YDH),
        4 if at(b, e) == Some(b'/') && year_ok(b, a) => match run(b, e + 1) {
            2 if at(b, e + 3) == Some(b'/') && run(b, e + 4) == 2 && seg_end(e + 6) => {
                (e + 6, YMD, YMDH)
            }
            4 if seg_end(e + 5) => (e + 5, YMD, YMDH),
            3 if seg_end(e + 4) => (e + 4, YD, YDH),
            _ => return None,
        },
        4 if at(b, e) == Some(b'-')
            && run(b, e + 1) == 2
            && at(b, e + 3) == Some(b'-')
            && run(b, e + 4) == 2
            && seg_end(e + 6) =>
        {
            (e + 6, YMD, YMDH)
        }
        _ => return None,
    };
    let date = single(b, a, end, day)?;
    if at(b, end) == Some(b'/')
        && run(b, end + 1) == 2
        && seg_end(end + 3)
        && let Some(t) = single(b, a, end + 3, hour)
    {
        return Some(t);
    }
    Some(date)
}

/// A digit run delimited on the left by a delimiter or the start of the input.
fn boundary(b: &[u8], a: usize, e: usize, len: usize) -> Option<Token> {
    match len {
        4 => four(b, a, e),
        6 => compact(b, a, e, YM),
        7 => compact(b, a, e, YD),
        8 => eight(b, a, e),
        10 => compact(b, a, e, YMDH),
        12 => compact(b, a, e, YMDHM),
        14 => compact(b, a, e, YMDHMS),
        _ => None,
    }
}

/// `YYYY…` of a fixed length, optionally `-` and a second one of the same length (a range).
fn compact(b: &[u8], a: usize, e: usize, layout: &'static [Field]) -> Option<Token> {
    let len = e - a;
    if at(b, e) == Some(b'-')
        && run(b, e + 1) == len
        && rb(b, e + 1 + len)
        && let Some(t) = range(b, (a, e), (e + 1, e + 1 + len), layout)
    {
        return Some(t);
    }
    // A trailing `Z` (UTC designator) after a time of day belongs to the token.
    if layout.len() > 3
        && at(b, e) == Some(b'Z')
        && rb(b, e + 1)
        && let Some(mut t) = single(b, a, e, layout)
    {
        t.end = e + 1;
        return Some(t);
    }
    if !rb(b, e) {
        return None;
    }
    single(b, a, e, layout)
}

/// `YYYYMMDD`, a `YYYYMMDD-YYYYMMDD` range, or `YYYYMMDD` + `_`/`T`/`.` + `HHMM[SS]` [`Z`].
fn eight(b: &[u8], a: usize, e: usize) -> Option<Token> {
    if at(b, e) == Some(b'-')
        && run(b, e + 1) == 8
        && rb(b, e + 9)
        && let Some(t) = range(b, (a, e), (e + 1, e + 9), YMD)
    {
        return Some(t);
    }
    if matches!(at(b, e), Some(b'_' | b'T' | b'.')) {
        let k = run(b, e + 1);
        let layout = match k {
            4 => Some(YMDHM),
            6 => Some(YMDHMS),
            _ => None,
        };
        if let Some(layout) = layout {
            let mut end = e + 1 + k;
            let z = at(b, end) == Some(b'Z');
            if z {
                end += 1;
            }
            if rb(b, end)
                && let Some(mut t) = single(b, a, e + 1 + k, layout)
            {
                t.end = end;
                return Some(t);
            }
        }
    }
    if !rb(b, e) {
        return None;
    }
    single(b, a, e, YMD)
}

/// Bytes allowed around a bare year.
#[inline]
fn year_delim(c: Option<u8>) -> bool {
    c.is_none_or(|c| is_sep(c) || c == b'/')
}

/// Four digits: a `YYYY/MM` month folder (dated folder chains are read before, see
/// [`folder_chain`]), `YYYY-MM[-DD[THH:MM[:SS[.f]]]][Z]`, a `YYYY-YYYY` range, or a bare year.
fn four(b: &[u8], a: usize, e: usize) -> Option<Token> {
    let left = a.checked_sub(1).and_then(|p| at(b, p));
    let seg_start = left.is_none_or(|c| c == b'/');
    let seg_end = |p: usize| at(b, p).is_none_or(|c| c == b'/');
    // A month folder: the year is a whole segment and so is the month after it.
    if seg_start
        && at(b, e) == Some(b'/')
        && year_ok(b, a)
        && run(b, e + 1) == 2
        && seg_end(e + 3)
        && let Some(t) = single(b, a, e + 3, YM)
    {
        return Some(t);
    }
    if at(b, e) == Some(b'-') {
        if run(b, e + 1) == 2
            && let Some(t) = extended(b, a, e)
        {
            return Some(t);
        }
        if run(b, e + 1) == 4
            && year_delim(left)
            && year_delim(at(b, e + 5))
            && let Some(t) = range(b, (a, e), (e + 1, e + 5), Y)
        {
            return Some(t);
        }
    }
    // Bare year: only between `_ . - / space` (or the ends), and not part of a decimal number.
    let decimal_left = left == Some(b'.')
        && a.checked_sub(2)
            .and_then(|p| at(b, p))
            .is_some_and(|c| c.is_ascii_digit());
    let right = at(b, e);
    let decimal_right = right == Some(b'.') && at(b, e + 1).is_some_and(|c| c.is_ascii_digit());
    if year_delim(left) && year_delim(right) && !decimal_left && !decimal_right {
        return single(b, a, e, Y);
    }
    None
}

fn year_ok(b: &[u8], a: usize) -> bool {
    crate::time::num(b, a, 4).is_some_and(|y| {
        (crate::time::MIN_BARE_YEAR as u32..=crate::time::MAX_YEAR as u32).contains(&y)
    })
}

/// `YYYY-MM[-DD[THH:MM[:SS[.fff]]]][Z]`, longest valid form that ends on a boundary.
fn extended(b: &[u8], a: usize, e: usize) -> Option<Token> {
    // candidate ends, shortest first
    let mut cands: [(usize, &'static [Field]); 5] = [(0, Y); 5];
    let mut n = 0;
    let mut p = e + 3;
    cands[n] = (p, YM);
    n += 1;
    if at(b, p) == Some(b'-') && run(b, p + 1) == 2 {
        p += 3;
        cands[n] = (p, YMD);
        n += 1;
        if matches!(at(b, p), Some(b'T'))
            && run(b, p + 1) == 2
            && at(b, p + 3) == Some(b':')
            && run(b, p + 4) == 2
        {
            p += 6;
            cands[n] = (p, YMDHM);
            n += 1;
            if at(b, p) == Some(b':') && run(b, p + 1) == 2 {
                p += 3;
                cands[n] = (p, YMDHMS);
                n += 1;
                let k = if at(b, p) == Some(b'.') {
                    run(b, p + 1)
                } else {
                    0
                };
                if (1..=9).contains(&k) {
                    p += 1 + k;
                    cands[n] = (p, YMDHMS);
                    n += 1;
                }
            }
        }
    }
    for &(end, layout) in cands.get(..n)?.iter().rev() {
        let with_z = at(b, end) == Some(b'Z') && layout.len() > 3;
        let tok_end = if with_z { end + 1 } else { end };
        if !rb(b, tok_end) {
            continue;
        }
        if let Some(mut t) = single(b, a, end, layout) {
            t.end = tok_end;
            return Some(t);
        }
    }
    None
}
