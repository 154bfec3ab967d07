//! Name templates: the raw id with each timestamp replaced by a placeholder, and reading a
//! time back from a name with one.
//!
//! Syntax: literal text, with `{` and `}` doubled; `{FMT}` a start time, `{FMT|end}` an end
//! time, `{FMT|skip}` a recognised time that is not the granule's (GOES creation time);
//! `{*}` any non-empty text (an extra-rule token). `FMT` is a fixed-width picture made of
//! `yyyy` `MM` `dd` `DDD` (day of year) `HH` `mm` `ss`, `f` (one digit of a fraction of a
//! second) and literal punctuation (`-` `_` `:` `.` `/` `T` `Z`).

use crate::scan::Token;
use crate::time::{Field, Fields, Hit, Role, select};
use chrono::{DateTime, Datelike, Days, Months, NaiveDateTime, Timelike, Utc};
use std::cell::RefCell;
use std::rc::Rc;

/// Longest template or name [`read_time`] looks at.
const MAX_LEN: usize = 4096;
/// Matching steps [`read_time`] may spend (bounds backtracking over `{*}`).
const MAX_STEPS: usize = 100_000;

fn push_lit(out: &mut String, s: &str) {
    if !s.bytes().any(|c| c == b'{' || c == b'}') {
        out.push_str(s);
        return;
    }
    for ch in s.chars() {
        match ch {
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
}

/// Write the picture of `b[start..end]` for `layout` (same walk as [`crate::time::eval`]).
fn push_fmt(out: &mut String, b: &[u8], start: usize, end: usize, layout: &[Field]) {
    let mut li = 0;
    let mut p = start;
    while p < end {
        let Some(&c) = b.get(p) else { break };
        if c.is_ascii_digit() {
            if let Some(f) = layout.get(li) {
                out.push_str(f.code());
                p += f.width();
                li += 1;
            } else {
                out.push('f');
                p += 1;
            }
        } else {
            out.push(char::from(c));
            p += 1;
        }
    }
}

/// Build the template of `raw` from its recognised tokens and extra-rule (wildcard) spans.
pub(crate) fn build_template(raw: &str, tokens: &[Token], wild: &[(usize, usize)]) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len() + 16 * tokens.len());
    let mut cursor = 0;
    let mut ti = tokens
        .iter()
        .flat_map(|t| t.parts.iter().flatten())
        .peekable();
    let mut wi = wild.iter().peekable();
    loop {
        let next_part = ti.peek().map(|p| p.start);
        let next_wild = wi.peek().map(|w| w.0);
        let take_part = match (next_part, next_wild) {
            (None, None) => break,
            (Some(p), Some(w)) => p < w,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if take_part {
            let Some(p) = ti.next() else { break };
            if p.start < cursor {
                continue;
            }
            push_lit(&mut out, raw.get(cursor..p.start).unwrap_or(""));
            out.push('{');
            push_fmt(&mut out, b, p.start, p.end, p.layout);
            match p.role {
                Role::Start => {}
                Role::End => out.push_str("|end"),
                Role::Skip => out.push_str("|skip"),
            }
            out.push('}');
            cursor = p.end;
        } else {
            let Some(&(s, e)) = wi.next() else { break };
            if s < cursor {
                continue;
            }
            push_lit(&mut out, raw.get(cursor..s).unwrap_or(""));
            out.push_str("{*}");
            cursor = e;
        }
    }
    push_lit(&mut out, raw.get(cursor..).unwrap_or(""));
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Field(Field),
    Frac,
    Lit(u8),
}

#[derive(Debug)]
enum Piece {
    Lit(String),
    Wild,
    Time { items: Vec<Item>, role: Role },
}

fn parse_fmt(fmt: &str) -> Option<Vec<Item>> {
    const CODES: [(&str, Field); 7] = [
        ("yyyy", Field::Year),
        ("DDD", Field::Doy),
        ("MM", Field::Month),
        ("dd", Field::Day),
        ("HH", Field::Hour),
        ("mm", Field::Minute),
        ("ss", Field::Second),
    ];
    let mut items = Vec::new();
    let mut rest = fmt;
    'outer: while let Some(c) = rest.bytes().next() {
        for (code, field) in CODES {
            if let Some(r) = rest.strip_prefix(code) {
                items.push(Item::Field(field));
                rest = r;
                continue 'outer;
            }
        }
        match c {
            b'f' => items.push(Item::Frac),
            b'y' | b'M' | b'd' | b'D' | b'H' | b'm' | b's' => return None,
            c if c.is_ascii() => items.push(Item::Lit(c)),
            _ => return None,
        }
        rest = rest.get(1..)?;
    }
    if items.iter().any(|i| matches!(i, Item::Field(_))) {
        Some(items)
    } else {
        None
    }
}

fn parse_template(t: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = t;
    while let Some(ch) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("{{") {
            lit.push('{');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("}}") {
            lit.push('}');
            rest = r;
        } else if ch == '{' {
            let close = rest.find('}')?;
            let inner = rest.get(1..close)?;
            rest = rest.get(close + 1..)?;
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            if inner == "*" {
                pieces.push(Piece::Wild);
                continue;
            }
            let (fmt, role) = match inner.split_once('|') {
                None => (inner, Role::Start),
                Some((f, "end")) => (f, Role::End),
                Some((f, "skip")) => (f, Role::Skip),
                Some(_) => return None,
            };
            pieces.push(Piece::Time {
                items: parse_fmt(fmt)?,
                role,
            });
        } else if ch == '}' {
            return None;
        } else {
            lit.push(ch);
            rest = rest.get(ch.len_utf8()..)?;
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Some(pieces)
}

/// How many parsed templates each thread keeps ([`parsed`]).
const CACHED_TEMPLATES: usize = 8;

type Parsed = Option<Rc<[Piece]>>;

thread_local! {
    /// The templates this thread parsed last, most recent first.
    static PARSED: RefCell<Vec<(Box<str>, Parsed)>> = const { RefCell::new(Vec::new()) };
}

/// [`parse_template`] through a small per-thread cache: a store renders and reads back the
/// names of a batch's granules with the templates of the batch's few collections, so each
/// is parsed once per batch rather than once or twice per granule. Bounded: at most
/// [`CACHED_TEMPLATES`] templates of at most [`MAX_LEN`] bytes per thread.
fn parsed(t: &str) -> Parsed {
    if t.len() > MAX_LEN {
        return None;
    }
    PARSED.with(|cell| {
        let Ok(mut cache) = cell.try_borrow_mut() else {
            return parse_template(t).map(Rc::from);
        };
        if let Some(i) = cache.iter().position(|(k, _)| &**k == t) {
            if i > 0 {
                let hit = cache.remove(i);
                cache.insert(0, hit);
            }
            return cache.first().and_then(|(_, p)| p.clone());
        }
        let p: Parsed = parse_template(t).map(Rc::from);
        cache.truncate(CACHED_TEMPLATES - 1);
        cache.insert(0, (t.into(), p.clone()));
        p
    })
}

/// Read one placeholder at `pos`; returns the position after it and the hit.
fn read_placeholder(
    b: &[u8],
    pos: usize,
    items: &[Item],
    role: Role,
    segment: usize,
) -> Option<(usize, Hit)> {
    let mut f = Fields::default();
    let mut p = pos;
    for item in items {
        match *item {
            Item::Field(field) => {
                let w = field.width();
                f.set(field, crate::time::num(b, p, w)?);
                p += w;
            }
            Item::Frac => {
                let c = *b.get(p)?;
                if !c.is_ascii_digit() {
                    return None;
                }
                f.push_frac(u32::from(c - b'0'))?;
                p += 1;
            }
            Item::Lit(c) => {
                if *b.get(p)? != c {
                    return None;
                }
                p += 1;
            }
        }
    }
    let (value, precision) = f.build()?;
    Some((
        p,
        Hit {
            role,
            value,
            precision,
            segment,
        },
    ))
}

struct Matcher<'a> {
    raw: &'a str,
    pieces: &'a [Piece],
    steps: usize,
    hits: Vec<Hit>,
}

impl Matcher<'_> {
    fn segment(&self, pos: usize) -> usize {
        self.raw
            .as_bytes()
            .get(..pos)
            .map_or(0, |s| s.iter().filter(|&&c| c == b'/').count())
    }

    fn go(&mut self, idx: usize, pos: usize) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return false;
        }
        let Some(piece) = self.pieces.get(idx) else {
            return pos == self.raw.len();
        };
        match piece {
            Piece::Lit(l) => match self.raw.get(pos..) {
                Some(r) if r.starts_with(l.as_str()) => self.go(idx + 1, pos + l.len()),
                _ => false,
            },
            Piece::Time { items, role } => {
                let seg = self.segment(pos);
                let Some((next, hit)) =
                    read_placeholder(self.raw.as_bytes(), pos, items, *role, seg)
                else {
                    return false;
                };
                self.hits.push(hit);
                if self.go(idx + 1, next) {
                    return true;
                }
                self.hits.pop();
                false
            }
            Piece::Wild => {
                let mut end = pos;
                for ch in self.raw.get(pos..).unwrap_or("").chars() {
                    end += ch.len_utf8();
                    if self.go(idx + 1, end) {
                        return true;
                    }
                    if self.steps > MAX_STEPS {
                        return false;
                    }
                }
                false
            }
        }
    }
}

/// Read a granule's time back from its name using a template from [`crate::Derived`].
///
/// Returns `(start, end)` chosen by the same rules as [`crate::Deriver::derive`], or `None`
/// when the name does not fit the template, a field is not a valid time, the template is
/// malformed or longer than 4096 bytes. Never returns "now".
pub fn read_time(template: &str, raw: &str) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    if template.len() > MAX_LEN || raw.len() > MAX_LEN {
        return None;
    }
    let pieces = parsed(template)?;
    let mut m = Matcher {
        raw,
        pieces: &pieces,
        steps: 0,
        hits: Vec::new(),
    };
    if !m.go(0, 0) {
        return None;
    }
    let (start, end) = select(&m.hits);
    Some((start?, end))
}

/// Write one time placeholder's picture for `t`. `None` when a field does not fit its width.
fn push_time(out: &mut String, items: &[Item], t: NaiveDateTime) -> Option<()> {
    use std::fmt::Write as _;
    let mut frac = 0u32;
    for item in items {
        match *item {
            Item::Field(field) => {
                let (v, w) = match field {
                    Field::Year => (u32::try_from(t.year()).ok()?, 4),
                    Field::Month => (t.month(), 2),
                    Field::Day => (t.day(), 2),
                    Field::Doy => (t.ordinal(), 3),
                    Field::Hour => (t.hour(), 2),
                    Field::Minute => (t.minute(), 2),
                    Field::Second => (t.second(), 2),
                };
                if v >= 10u32.pow(w) {
                    return None;
                }
                let _ = write!(out, "{v:0w$}", w = w as usize);
            }
            Item::Frac => {
                frac += 1;
                if frac > 9 {
                    return None;
                }
                let digit = (t.nanosecond() / 10u32.pow(9 - frac)) % 10;
                out.push(char::from(b'0' + u8::try_from(digit).ok()?));
            }
            Item::Lit(c) => out.push(char::from(c)),
        }
    }
    Some(())
}

/// The instant an end placeholder shows: [`crate::time::period_end`] made a day, month or
/// year end exclusive (the start of the next period), so step back one period.
fn end_shown(items: &[Item], end: NaiveDateTime) -> Option<NaiveDateTime> {
    let has = |f: Field| items.contains(&Item::Field(f));
    if has(Field::Hour) || has(Field::Minute) || has(Field::Second) || items.contains(&Item::Frac) {
        Some(end)
    } else if has(Field::Day) || has(Field::Doy) {
        end.checked_sub_days(Days::new(1))
    } else if has(Field::Month) {
        end.checked_sub_months(Months::new(1))
    } else {
        end.checked_sub_months(Months::new(12))
    }
}

/// Re-create a name from its template (see [`crate::Derived::template`]) and a granule's
/// time: the inverse of [`crate::Deriver::derive`]. Start placeholders show `start`, end
/// placeholders `end` (day, month and year ends are exclusive, as `derive` reports them).
///
/// `None` when the name is not renderable: the template has a wildcard (`{*}`) or a
/// skipped time (`{…|skip}`), has an end placeholder and `end` is `None`, a year does not fit
/// four digits, or the template is malformed or longer than 4096 bytes. A result is not
/// necessarily the name the template came from (a dated folder may show another day than
/// the file name); [`renders_back`] checks that.
///
/// ```
/// use threddex_ids::{Deriver, render};
/// let raw = "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids";
/// let d = Deriver::new().derive(raw, "edu.ucar.unidata");
/// let name = render(d.template.as_deref().unwrap(), d.start.unwrap(), d.end);
/// assert_eq!(name.as_deref(), Some(raw));
/// ```
pub fn render(template: &str, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Option<String> {
    if template.len() > MAX_LEN {
        return None;
    }
    let pieces = parsed(template)?;
    let mut out = String::with_capacity(template.len() + 8);
    let start = start.naive_utc();
    for piece in pieces.iter() {
        match piece {
            Piece::Lit(l) => out.push_str(l),
            Piece::Wild => return None,
            Piece::Time { items, role } => {
                let t = match role {
                    Role::Start => start,
                    Role::End => end_shown(items, end?.naive_utc())?,
                    Role::Skip => return None,
                };
                push_time(&mut out, items, t)?;
            }
        }
    }
    Some(out)
}

/// Whether `raw` is exactly what [`render`] makes of `template` and `(start, end)`, and
/// reading the start back from `raw` ([`read_time`]) gives `start` again: then `raw` need
/// not be stored (render it back), and `start` is a function of `raw` (a store can find the
/// granule by its name through its time).
pub fn renders_back(
    template: &str,
    raw: &str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> bool {
    render(template, start, end).is_some_and(|r| r == raw)
        && read_time(template, raw).is_some_and(|(s, _)| s == start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Deriver;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The per-thread cache of parsed templates never answers for another template: names
    /// of more collections than it holds, in turn and over and over, render as their own.
    #[test]
    fn cached_templates_answer_for_their_own_template() {
        let d = Deriver::new();
        let names: Vec<String> = (0..3 * CACHED_TEMPLATES)
            .map(|i| format!("p{i}/s{}/Level3_{i}_20190830_1713.nids", i % 3))
            .collect();
        let derived: Vec<_> = names.iter().map(|n| d.derive(n, "a")).collect();
        for round in 0..4 {
            for (i, (name, x)) in names.iter().zip(&derived).enumerate() {
                let tpl = x.template.as_deref().unwrap();
                // Round 2 asks each template several times in a row (cache hits), the others
                // cycle through more templates than the cache holds (misses).
                for _ in 0..if round == 2 { 3 } else { 1 } {
                    assert_eq!(
                        render(tpl, x.start.unwrap(), x.end).as_deref(),
                        Some(name.as_str()),
                        "template {i} round {round}"
                    );
                    assert_eq!(read_time(tpl, name).map(|t| t.0), x.start, "{i}");
                }
            }
        }
        assert_eq!(render("{yyyy", t("2019-08-30T00:00:00Z"), None), None);
        assert_eq!(render("{yyyy", t("2019-08-30T00:00:00Z"), None), None);
        PARSED.with(|c| assert!(c.borrow().len() <= CACHED_TEMPLATES));
    }

    #[test]
    fn renders_real_names_back() {
        let d = Deriver::new();
        for raw in [
            "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids",
            "grib/NCEP/GFS/Global_0p25deg/GFS_Global_0p25deg_20240108_0600.grib2",
            "satellite/goes16/OR_ABI-L1b-RadC-M6C13_G16_s20192430003570_e20192430006343_c20192430006393.nc",
            "sst/2019/08/30/sst_2019-08-30T17:13:05Z.nc",
            "modis/A2019243.L3m_DAY_SST.nc",
            "cmip/tas_Amon_185001-200512.nc",
            "frac/x_20190830T171305.25.nc",
            "braces/{a}_20190830.nc",
        ] {
            let x = d.derive(raw, "");
            let tpl = x.template.clone().unwrap();
            let r = render(&tpl, x.start.unwrap(), x.end);
            if tpl.contains("|skip") {
                assert_eq!(r, None, "{tpl}");
                continue;
            }
            assert_eq!(r.as_deref(), Some(raw), "{tpl}");
            assert!(renders_back(&tpl, raw, x.start.unwrap(), x.end), "{tpl}");
        }
    }

    #[test]
    fn reports_not_renderable() {
        let tpl = "a/{yyyyMMdd}/b_{yyyyMMdd_HHmm}.nc";
        let s = t("2019-08-30T17:13:00Z");
        assert_eq!(
            render(tpl, s, None).as_deref(),
            Some("a/20190830/b_20190830_1713.nc")
        );
        // A folder of another day than the file: the template renders another name.
        assert!(!renders_back(tpl, "a/20190831/b_20190830_1713.nc", s, None));
        // A start finer than the name: the name renders, but the time does not read back.
        let coarse = "a/b_{yyyyMMdd}.nc";
        assert!(!renders_back(coarse, "a/b_20190830.nc", s, None));
        assert!(renders_back(
            coarse,
            "a/b_20190830.nc",
            t("2019-08-30T00:00:00Z"),
            None
        ));
        // Wildcards, skipped times, missing ends, malformed templates, years past 9999.
        assert_eq!(render("a_{*}_{yyyyMMdd}", s, None), None);
        assert_eq!(render("a_{yyyyMMdd|skip}_{yyyyMMdd}", s, None), None);
        assert_eq!(render("a_{yyyyMMdd}-{yyyyMMdd|end}", s, None), None);
        assert_eq!(render("a_{yyyyMMdd", s, None), None);
        assert_eq!(render("a}", s, None), None);
        let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        assert_eq!(render("{yyyy}", far, None), None);
        // Exclusive day/month ends step back one period.
        assert_eq!(
            render(
                "x_{yyyyMMdd}-{yyyyMMdd|end}",
                s,
                Some(t("2019-09-02T00:00:00Z"))
            )
            .as_deref(),
            Some("x_20190830-20190901")
        );
        assert_eq!(
            render(
                "x_{yyyyMM}-{yyyyMM|end}",
                s,
                Some(t("2020-01-01T00:00:00Z"))
            )
            .as_deref(),
            Some("x_201908-201912")
        );
    }
}
