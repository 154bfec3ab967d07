//! The free-text syntax of collection searches (`/collections?q=`), parsed once into the
//! filter tree so that every backend answers it the same way.
//!
//! * Terms are separated by white space; a collection must match every term.
//! * `a OR b` (any case): either term; `OR` binds tighter than the implicit AND, so
//!   `sst OR salinity daily` is `(sst OR salinity) AND daily`. An `OR` that does not stand
//!   between two terms is ignored.
//! * `-term` excludes collections matching the term. Exclusions alone (`-radar`) select every
//!   collection that does not match; a `-` followed by white space or nothing is ignored.
//! * `"a quoted phrase"`: its words one after another. An unclosed quote runs to the end of
//!   the text; `-"a phrase"` excludes the phrase.
//! * A term's words are its runs of letters and digits, compared case-insensitively
//!   (`N0Q`, `GOES-16` is the phrase `goes 16`, `sea_ice` the phrase `sea ice`); the last word
//!   of a term matches the start of a word (`temp` finds `temperature`), the others whole words.
//! * A term also matches when it occurs, as typed (punctuation included), within the
//!   collection ID, case-insensitively. A term without letters or digits (`_`, `!!`) tests
//!   only the ID.
//! * At most [`MAX_TERMS`] terms count; the rest of the text is ignored.

use crate::{RecordFilter, Words};

/// Most terms of one free-text search.
pub const MAX_TERMS: usize = 32;

/// One term as written.
#[derive(Debug)]
struct Term {
    exclude: bool,
    text: String,
}

#[derive(Debug)]
enum Tok {
    Term(Term),
    Or,
}

fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let exclude = c == '-';
        if exclude {
            chars.next();
            if chars.peek().is_none_or(|c| c.is_whitespace()) {
                continue;
            }
        }
        let mut term = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                term.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                term.push(c);
                chars.next();
            }
        }
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        if !quoted && !exclude && term.eq_ignore_ascii_case("or") {
            out.push(Tok::Or);
        } else {
            out.push(Tok::Term(Term {
                exclude,
                text: term.to_owned(),
            }));
        }
    }
    out
}

/// The test one term stands for.
fn term_filter(term: Term) -> RecordFilter {
    let text = term.text.to_lowercase();
    let words = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let test = RecordFilter::Words(Words { words, text });
    if term.exclude {
        RecordFilter::Not(Box::new(test))
    } else {
        test
    }
}

fn one_or(mut v: Vec<RecordFilter>, many: fn(Vec<RecordFilter>) -> RecordFilter) -> RecordFilter {
    if v.len() == 1 {
        v.pop().unwrap_or(RecordFilter::All)
    } else {
        many(v)
    }
}

impl RecordFilter {
    /// The filter a free-text search stands for (see the [module](self) for the syntax);
    /// [`RecordFilter::All`] for text without terms.
    pub fn free_text(text: &str) -> RecordFilter {
        let mut clauses: Vec<Vec<RecordFilter>> = Vec::new();
        let mut or = false;
        let mut terms = 0;
        for tok in tokens(text) {
            match tok {
                Tok::Or => or = !clauses.is_empty(),
                Tok::Term(term) => {
                    terms += 1;
                    if terms > MAX_TERMS {
                        break;
                    }
                    let f = term_filter(term);
                    match clauses.last_mut() {
                        Some(clause) if or => clause.push(f),
                        _ => clauses.push(vec![f]),
                    }
                    or = false;
                }
            }
        }
        let clauses: Vec<RecordFilter> = clauses
            .into_iter()
            .map(|c| one_or(c, RecordFilter::Or))
            .collect();
        match clauses.len() {
            0 => RecordFilter::All,
            _ => one_or(clauses, RecordFilter::And),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str, words: &[&str]) -> RecordFilter {
        RecordFilter::Words(Words {
            words: words.iter().map(|s| (*s).to_owned()).collect(),
            text: text.into(),
        })
    }

    fn not(f: RecordFilter) -> RecordFilter {
        RecordFilter::Not(Box::new(f))
    }

    #[test]
    fn syntax() {
        let p = RecordFilter::free_text;
        assert_eq!(p(""), RecordFilter::All);
        assert_eq!(p("  \t"), RecordFilter::All);
        assert_eq!(p("N0Q"), w("n0q", &["n0q"]));
        assert_eq!(
            p("N0Q -FTG"),
            RecordFilter::And(vec![w("n0q", &["n0q"]), not(w("ftg", &["ftg"]))])
        );
        assert_eq!(
            p("FTG or LWX"),
            RecordFilter::Or(vec![w("ftg", &["ftg"]), w("lwx", &["lwx"])])
        );
        assert_eq!(
            p("a OR b c"),
            RecordFilter::And(vec![
                RecordFilter::Or(vec![w("a", &["a"]), w("b", &["b"])]),
                w("c", &["c"])
            ])
        );
        assert_eq!(
            p("\"Upper  Ocean\" -\"sea ice\""),
            RecordFilter::And(vec![
                w("upper  ocean", &["upper", "ocean"]),
                not(w("sea ice", &["sea", "ice"]))
            ])
        );
        assert_eq!(p("GOES-16"), w("goes-16", &["goes", "16"]));
        assert_eq!(p("-x"), not(w("x", &["x"])));
        // Ignored: a lone `-`, an OR not between terms, empty quotes.
        assert_eq!(p("- x -"), w("x", &["x"]));
        assert_eq!(p("OR x or"), w("x", &["x"]));
        assert_eq!(p("or"), RecordFilter::All);
        assert_eq!(p("\"\" \""), RecordFilter::All);
        // Quoted or excluded `or` is a term.
        assert_eq!(p("\"or\""), w("or", &["or"]));
        assert_eq!(p("-or"), not(w("or", &["or"])));
        // Unclosed quote: to the end. Punctuation only: an ID test.
        assert_eq!(p("\"a b"), w("a b", &["a", "b"]));
        assert_eq!(p("_"), w("_", &[]));
        assert_eq!(p("%' OR"), w("%'", &[]));
        // Bounded.
        let many = vec!["x"; 40].join(" ");
        let RecordFilter::And(v) = p(&many) else {
            panic!("an And")
        };
        assert_eq!(v.len(), MAX_TERMS);
    }
}
