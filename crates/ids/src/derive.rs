//! Collection identity: remove the tokens, collapse the separators left dangling, prefix the
//! naming authority.

use crate::IdError;
use crate::scan::{Token, is_sep, scan};
use crate::template::build_template;
use crate::time::{Hit, select};
use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};

/// Longest extra rule accepted (bytes of pattern source).
const MAX_RULE_LEN: usize = 1024;
/// Most extra cleaning passes (each strictly shrinks the id; real ids need at most one).
const MAX_PASSES: usize = 16;
/// Compiled size limit of one extra rule.
const RULE_SIZE_LIMIT: usize = 1 << 20;

/// The result of [`Deriver::derive`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Derived {
    /// `authority:path` with timestamps, dated folders and extra-rule tokens removed; the raw
    /// id unchanged (prefixed) when nothing was recognised.
    pub collection_id: String,
    /// Start of the granule (UTC), if a timestamp was recognised.
    pub start: Option<DateTime<Utc>>,
    /// End of the granule (UTC), if the name carries one (a range, GOES `e`). For day, month
    /// and year precision this is the exclusive end (start of the next day/month/year); for
    /// hour precision or finer it is the instant written.
    pub end: Option<DateTime<Utc>>,
    /// The raw id (without authority prefix) with each timestamp replaced by a placeholder,
    /// for [`crate::read_time`]. `None` when no start time was recognised.
    pub template: Option<String>,
}

/// Derives collection ids and granule times from dataset ids.
///
/// Holds the (stateless) default grammar plus per-source extra rules. Cheap to share between
/// threads (`Send + Sync`); [`Deriver::derive`] does not allocate beyond its result and a few
/// small vectors.
#[derive(Debug, Clone, Default)]
pub struct Deriver {
    rules: Vec<Regex>,
}

impl Deriver {
    /// A deriver with the default grammar and no extra rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// A deriver with per-source extra rules: regular expressions (Rust `regex` syntax) of
    /// tokens that vary between granules but do not identify a series, e.g. a moving mesoscale
    /// sector's `\d+\.\dN_\d+\.\dW`. Matched text is removed from the collection id (dangling
    /// separators collapse as for timestamps) and becomes a `{*}` wildcard in the template.
    /// Empty matches are ignored; where rules overlap the earlier rule wins, and a rule match
    /// wins over an overlapping timestamp.
    pub fn with_extra_rules(rules: &[String]) -> Result<Self, IdError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            if rule.len() > MAX_RULE_LEN {
                return Err(IdError::BadRule {
                    rule: rule.chars().take(64).collect(),
                    message: format!("rule longer than {MAX_RULE_LEN} bytes"),
                });
            }
            let re = RegexBuilder::new(rule)
                .size_limit(RULE_SIZE_LIMIT)
                .build()
                .map_err(|e| IdError::BadRule {
                    rule: rule.clone(),
                    message: e.to_string(),
                })?;
            compiled.push(re);
        }
        Ok(Self { rules: compiled })
    }

    /// The extra rules' patterns, in order (part of what a derivation depends on).
    pub fn rule_patterns(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(Regex::as_str)
    }

    /// Derive `(collection_id, start, end, template)` from a dataset's ID (else its urlPath,
    /// else its name; the caller picks). An id that already starts with `authority:` is taken
    /// without that prefix, so deriving from a collection id gives it back. With an empty
    /// `authority` no prefix is added.
    pub fn derive(&self, raw: &str, authority: &str) -> Derived {
        let raw = strip_authority(raw, authority);
        let mut tokens: Vec<Token> = Vec::new();
        let mut wild: Vec<(usize, usize)> = Vec::new();
        self.find(raw, &mut tokens, &mut wild);
        if tokens.is_empty() && wild.is_empty() {
            return Derived {
                collection_id: prefixed(authority, raw),
                start: None,
                end: None,
                template: None,
            };
        }
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(tokens.len() + wild.len());
        merge_spans(&tokens, &wild, &mut spans);
        // The collection id is built in place after its prefix.
        let base = if authority.is_empty() {
            0
        } else {
            authority.len() + 1
        };
        let mut id = String::with_capacity(base + raw.len());
        if base > 0 {
            id.push_str(authority);
            id.push(':');
        }
        clean_into(&mut id, base, raw, &spans);
        if id.len() == base {
            id.push_str(raw);
        }
        // Removing a token can change the context of its neighbours (e.g. a bare year that was
        // part of a decimal number); repeat on the result until nothing more is found, so
        // deriving from a collection id always gives it back. Each pass strictly shrinks.
        {
            let mut t2: Vec<Token> = Vec::new();
            let mut w2: Vec<(usize, usize)> = Vec::new();
            let mut s2: Vec<(usize, usize)> = Vec::new();
            for _ in 0..MAX_PASSES {
                let path = id.get(base..).unwrap_or("");
                t2.clear();
                w2.clear();
                self.find(path, &mut t2, &mut w2);
                if t2.is_empty() && w2.is_empty() {
                    break;
                }
                merge_spans(&t2, &w2, &mut s2);
                let mut next = String::with_capacity(id.len());
                next.push_str(id.get(..base).unwrap_or(""));
                clean_into(&mut next, base, path, &s2);
                if next.len() == base || next.len() >= id.len() {
                    break;
                }
                id = next;
            }
        }

        let mut hits: Vec<Hit> = Vec::with_capacity(tokens.len() + 1);
        let b = raw.as_bytes();
        let (mut seg, mut pos) = (0usize, 0usize);
        for p in tokens.iter().flat_map(|t| t.parts.iter().flatten()) {
            if let Some(s) = b.get(pos..p.start) {
                seg += s.iter().filter(|&&c| c == b'/').count();
            }
            pos = pos.max(p.start);
            hits.push(Hit {
                role: p.role,
                value: p.value,
                precision: p.precision,
                segment: seg,
            });
        }
        let (start, end) = select(&hits);
        let template = start.map(|_| build_template(raw, &tokens, &wild));
        Derived {
            collection_id: id,
            start,
            end,
            template,
        }
    }
}

impl Deriver {
    /// Timestamp tokens and extra-rule matches of `s` (a rule match wins over an overlapping
    /// timestamp; among rules the earlier wins).
    fn find(&self, s: &str, tokens: &mut Vec<Token>, wild: &mut Vec<(usize, usize)>) {
        scan(s, tokens);
        if self.rules.is_empty() {
            return;
        }
        for re in &self.rules {
            for m in re.find_iter(s) {
                let span = (m.start(), m.end());
                if span.0 < span.1 && !wild.iter().any(|w| overlaps(*w, span)) {
                    wild.push(span);
                }
            }
        }
        wild.sort_unstable();
        tokens.retain(|t| !wild.iter().any(|w| overlaps(*w, (t.start, t.end))));
    }
}

/// All removal spans, sorted by start.
fn merge_spans(tokens: &[Token], wild: &[(usize, usize)], out: &mut Vec<(usize, usize)>) {
    out.clear();
    out.extend(tokens.iter().map(|t| (t.start, t.end)));
    out.extend(wild.iter().copied());
    if !wild.is_empty() {
        out.sort_unstable();
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn strip_authority<'a>(raw: &'a str, authority: &str) -> &'a str {
    if authority.is_empty() {
        return raw;
    }
    raw.strip_prefix(authority)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or(raw)
}

fn prefixed(authority: &str, path: &str) -> String {
    if authority.is_empty() {
        return path.to_owned();
    }
    let mut s = String::with_capacity(authority.len() + 1 + path.len());
    s.push_str(authority);
    s.push(':');
    s.push_str(path);
    s
}

/// Remove `spans` (sorted, non-overlapping byte ranges on ASCII/char boundaries) from `raw`
/// and collapse the separators each removal leaves dangling:
/// - separator on both sides: keep one (the right one if it is `.`, else the left one);
/// - at the start of a path segment: drop the separator after (`/20190830_x` → `/x`);
/// - a segment left empty disappears with one `/` (`a/20190830/b` → `a/b`);
/// - a separator before the end of a segment goes (`a_20190830/b` → `a/b`).
///
/// Separators that were not next to a removal are kept (`a__b` stays unless a token sat
/// between the two `_`).
///
/// The result is appended to `out`, whose first `base` bytes (the authority prefix) are not
/// part of the path.
pub(crate) fn clean_into(out: &mut String, base: usize, raw: &str, spans: &[(usize, usize)]) {
    let b = raw.as_bytes();
    let mut cursor = 0usize;
    for &(s, e) in spans {
        let s = s.max(cursor);
        if e <= s {
            continue;
        }
        if let Some(piece) = raw.get(cursor..s) {
            out.push_str(piece);
        }
        cursor = e;
        let l = if out.len() > base {
            out.as_bytes().last().copied()
        } else {
            None
        };
        let r = b.get(cursor).copied();
        let seg_start = l.is_none_or(|c| c == b'/');
        match (l, r) {
            (Some(lc), Some(rc)) if is_sep(lc) && is_sep(rc) => {
                if rc == b'.' {
                    out.pop();
                } else {
                    cursor += 1;
                }
            }
            (Some(lc), Some(b'/') | None) if is_sep(lc) => {
                out.pop();
            }
            (_, Some(rc)) if seg_start && (is_sep(rc) || rc == b'/') => cursor += 1,
            (Some(b'/'), None) => {
                out.pop();
            }
            _ => {}
        }
    }
    if let Some(rest) = raw.get(cursor..) {
        out.push_str(rest);
    }
}
