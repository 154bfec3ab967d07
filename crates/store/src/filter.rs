//! Record queries (catalogue search, e.g. CSW): a small filter AST over a closed set of
//! queryables, which every backend translates into SQL with bound parameters.
//!
//! The protocol layer (OGC Filter, CQL) builds a [`RecordFilter`]; values are already typed
//! (texts, times), LIKE patterns are normalised into [`LikePattern`] (so the protocol's
//! wildcard, single-character and escape characters never reach SQL).

use serde::{Deserialize, Serialize};

use crate::{BBox, Collection, Timestamp};

/// What a filter can test: the catalogue queryables mapped onto collection columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Queryable {
    /// Every text of the record: ID, title, abstract and keywords (`csw:AnyText`).
    AnyText,
    /// The collection ID (`dc:identifier`).
    Identifier,
    /// The title (`dc:title`).
    Title,
    /// The abstract (`dct:abstract`).
    Abstract,
    /// Any one keyword or variable name (`dc:subject`).
    Subject,
    /// When the collection row last changed (`dct:modified`).
    Modified,
    /// The record type (`dc:type`): always `series` for a collection.
    Type,
    /// Start of the time extent (`apiso:TempExtent_begin`).
    TempBegin,
    /// End of the time extent (`apiso:TempExtent_end`).
    TempEnd,
    /// The geographic extent (`ows:BoundingBox`); only [`RecordFilter::BBox`] tests it.
    BoundingBox,
}

impl Queryable {
    /// Whether the property holds a time (its literals are [`Literal::Time`]).
    pub fn is_time(self) -> bool {
        matches!(self, Self::Modified | Self::TempBegin | Self::TempEnd)
    }

    /// Whether the property holds text.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Self::AnyText
                | Self::Identifier
                | Self::Title
                | Self::Abstract
                | Self::Subject
                | Self::Type
        )
    }
}

/// The record type every collection has (`dc:type`, ISO `hierarchyLevel`).
pub const COLLECTION_RECORD_TYPE: &str = "series";

/// A typed literal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    /// Text (compared as text).
    Text(String),
    /// A time (compared as a time).
    Time(Timestamp),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// One piece of a LIKE pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LikePart {
    /// Characters matched literally.
    Text(String),
    /// Any run of characters (SQL `%`).
    Any,
    /// Exactly one character (SQL `_`).
    One,
}

/// A LIKE pattern, independent of any wildcard syntax.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LikePattern {
    /// The pieces, in order.
    pub parts: Vec<LikePart>,
}

impl LikePattern {
    /// Parses a pattern written with the given wildcard, single-character and escape
    /// characters (OGC `PropertyIsLike` attributes). An escape before any character makes it
    /// literal; a trailing escape is literal.
    pub fn parse(pattern: &str, wild: char, single: char, escape: Option<char>) -> Self {
        let mut out = Self::default();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                out.push_char(chars.next().unwrap_or(c));
            } else if c == wild {
                out.push(LikePart::Any);
            } else if c == single {
                out.push(LikePart::One);
            } else {
                out.push_char(c);
            }
        }
        out
    }

    /// A pattern matching values that contain `text`.
    pub fn contains(text: &str) -> Self {
        let mut p = Self::default();
        p.push(LikePart::Any);
        for c in text.chars() {
            p.push_char(c);
        }
        p.push(LikePart::Any);
        p
    }

    /// Whether the pattern has a multi-character wildcard (`%`).
    pub fn has_any(&self) -> bool {
        self.parts.contains(&LikePart::Any)
    }

    /// The words of a pattern without multi-character wildcards, each as a pattern matching
    /// values that contain it: the literal text is split at whitespace; single-character
    /// wildcards stay part of their word (`s_a  temp` → `%s_a%`, `%temp%`). No words: empty.
    pub fn words(&self) -> Vec<LikePattern> {
        fn finish(word: &mut Vec<LikePart>, words: &mut Vec<LikePattern>) {
            if word.is_empty() {
                return;
            }
            let mut p = LikePattern::default();
            p.push(LikePart::Any);
            for part in word.drain(..) {
                p.push(part);
            }
            p.push(LikePart::Any);
            words.push(p);
        }
        let mut words = Vec::new();
        let mut word: Vec<LikePart> = Vec::new();
        for part in &self.parts {
            let LikePart::Text(t) = part else {
                word.push(part.clone());
                continue;
            };
            for c in t.chars() {
                if c.is_whitespace() {
                    finish(&mut word, &mut words);
                } else if let Some(LikePart::Text(s)) = word.last_mut() {
                    s.push(c);
                } else {
                    word.push(LikePart::Text(c.to_string()));
                }
            }
        }
        finish(&mut word, &mut words);
        words
    }

    fn push_char(&mut self, c: char) {
        if let Some(LikePart::Text(s)) = self.parts.last_mut() {
            s.push(c);
        } else {
            self.parts.push(LikePart::Text(c.to_string()));
        }
    }

    fn push(&mut self, part: LikePart) {
        // Consecutive `%` are one.
        if part == LikePart::Any && self.parts.last() == Some(&LikePart::Any) {
            return;
        }
        self.parts.push(part);
    }

    /// Whether a literal piece contains a SQL LIKE wildcard (`%` or `_`), so the pattern needs
    /// an ESCAPE clause in SQL.
    pub fn has_sql_wildcard_literals(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, LikePart::Text(s) if s.contains(['%', '_'])))
    }

    /// The SQL LIKE form: `%` and `_` as wildcards, literal `%`, `_` and `escape` preceded by
    /// `escape` (use with `ESCAPE '<escape>'`). Without an escape character, literals are
    /// copied as they are (only correct when [`Self::has_sql_wildcard_literals`] is false).
    pub fn to_sql_like(&self, escape: Option<char>) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                LikePart::Any => s.push('%'),
                LikePart::One => s.push('_'),
                LikePart::Text(t) => {
                    for c in t.chars() {
                        if let Some(e) = escape
                            && (c == '%' || c == '_' || c == e)
                        {
                            s.push(e);
                        }
                        s.push(c);
                    }
                }
            }
        }
        s
    }

    /// The SQLite GLOB form (case-sensitive): `*`, `?`, and literal `*`, `?`, `[` written as
    /// one-character classes.
    pub fn to_glob(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                LikePart::Any => s.push('*'),
                LikePart::One => s.push('?'),
                LikePart::Text(t) => {
                    for c in t.chars() {
                        match c {
                            '*' => s.push_str("[*]"),
                            '?' => s.push_str("[?]"),
                            '[' => s.push_str("[[]"),
                            _ => s.push(c),
                        }
                    }
                }
            }
        }
        s
    }

    /// Whether `value` matches (for tests and in-memory filtering).
    pub fn matches(&self, value: &str, match_case: bool) -> bool {
        let fold = |s: &str| {
            if match_case {
                s.to_owned()
            } else {
                s.to_lowercase()
            }
        };
        let v: Vec<char> = fold(value).chars().collect();
        let mut toks: Vec<Option<char>> = Vec::new(); // None: one char; Some('\0')-free
        let mut anys: Vec<bool> = Vec::new();
        for p in &self.parts {
            match p {
                LikePart::Any => {
                    toks.push(None);
                    anys.push(true);
                }
                LikePart::One => {
                    toks.push(None);
                    anys.push(false);
                }
                LikePart::Text(t) => {
                    for c in fold(t).chars() {
                        toks.push(Some(c));
                        anys.push(false);
                    }
                }
            }
        }
        // Classic wildcard matching with backtracking on the last `%`.
        let (mut i, mut j) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while i < v.len() {
            let tok = toks.get(j).copied();
            let any = anys.get(j).copied().unwrap_or(false);
            if j < toks.len() && any {
                star = Some((j, i));
                j += 1;
            } else if j < toks.len()
                && (tok.flatten().is_none() || tok.flatten() == v.get(i).copied())
            {
                i += 1;
                j += 1;
            } else if let Some((sj, si)) = star {
                j = sj + 1;
                i = si + 1;
                star = Some((sj, si + 1));
            } else {
                return false;
            }
        }
        while j < toks.len() && anys.get(j).copied().unwrap_or(false) {
            j += 1;
        }
        j == toks.len()
    }
}

/// A record filter: the AST every backend translates into SQL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RecordFilter {
    /// Every record.
    All,
    /// All of these (empty: every record).
    And(Vec<RecordFilter>),
    /// Any of these (empty: no record).
    Or(Vec<RecordFilter>),
    /// Not this one.
    Not(Box<RecordFilter>),
    /// `prop op value`. Text comparisons honour `match_case` (false: case-insensitive).
    Compare {
        /// The property.
        prop: Queryable,
        /// The operator.
        op: CompareOp,
        /// The value (a time for time properties, else text).
        value: Literal,
        /// Case-sensitive text comparison.
        match_case: bool,
    },
    /// `prop LIKE pattern`.
    Like {
        /// The property (a text property).
        prop: Queryable,
        /// The pattern.
        pattern: LikePattern,
        /// Case-sensitive match (`csw:AnyText` is always matched case-insensitively).
        match_case: bool,
    },
    /// `lower <= prop <= upper`.
    Between {
        /// The property.
        prop: Queryable,
        /// Lower bound (inclusive).
        lower: Literal,
        /// Upper bound (inclusive).
        upper: Literal,
    },
    /// The geographic extent intersects this box (antimeridian aware; records without an
    /// extent do not match).
    BBox(BBox),
    /// The property has no value.
    IsNull(Queryable),
}

impl RecordFilter {
    /// Records whose `prop` contains every word of `pattern` (see [`LikePattern::words`]),
    /// case-insensitively: what a catalogue keyword search without wildcards means. No words:
    /// every record; one word: that test alone; several: their `And`.
    pub fn contains_all_words(prop: Queryable, pattern: &LikePattern) -> RecordFilter {
        let mut tests: Vec<RecordFilter> = pattern
            .words()
            .into_iter()
            .map(|pattern| RecordFilter::Like {
                prop,
                pattern,
                match_case: false,
            })
            .collect();
        match tests.len() {
            0 => RecordFilter::All,
            1 => tests.pop().unwrap_or(RecordFilter::All),
            _ => RecordFilter::And(tests),
        }
    }
}

/// One sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// The property (not [`Queryable::AnyText`] nor [`Queryable::BoundingBox`]).
    pub prop: Queryable,
    /// Descending order.
    pub descending: bool,
}

/// A page of a record search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordPage {
    /// How many collections match in all.
    pub matched: u64,
    /// The collections of the page, in order.
    pub collections: Vec<Collection>,
}

/// Nesting deeper than this is refused by backends (the protocol layer caps it earlier).
pub const MAX_FILTER_DEPTH: usize = 64;

impl RecordFilter {
    /// Nesting depth (1 for a leaf).
    pub fn depth(&self) -> usize {
        match self {
            Self::And(v) | Self::Or(v) => 1 + v.iter().map(Self::depth).max().unwrap_or(0),
            Self::Not(f) => 1 + f.depth(),
            _ => 1,
        }
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        match self {
            Self::And(v) | Self::Or(v) => 1 + v.iter().map(Self::size).sum::<usize>(),
            Self::Not(f) => 1 + f.size(),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_normalise_and_escape() {
        let p = LikePattern::parse("*sea!*sur?ace*", '*', '?', Some('!'));
        assert_eq!(
            p.parts,
            vec![
                LikePart::Any,
                LikePart::Text("sea*sur".into()),
                LikePart::One,
                LikePart::Text("ace".into()),
                LikePart::Any
            ]
        );
        assert_eq!(p.to_sql_like(Some('\\')), "%sea*sur_ace%");
        assert_eq!(p.to_glob(), "*sea[*]sur?ace*");
        let q = LikePattern::parse("50\\%_x", '%', '_', Some('\\'));
        assert!(q.has_sql_wildcard_literals());
        assert_eq!(q.to_sql_like(Some('\\')), "50\\%_x");
        assert!(!p.has_sql_wildcard_literals());
        assert_eq!(
            LikePattern::parse("a%%%b", '%', '_', None).to_sql_like(None),
            "a%b"
        );
    }

    #[test]
    fn like_matching_in_memory() {
        let p = LikePattern::parse("%sea%temp_", '%', '_', None);
        assert!(p.matches("Sea surface temps", false));
        assert!(!p.matches("Sea surface temps", true));
        assert!(!p.matches("sea temp", false));
        assert!(LikePattern::contains("x").matches("axb", true));
        assert!(!LikePattern::contains("x").matches("ab", true));
        assert!(LikePattern::parse("", '%', '_', None).matches("", true));
    }

    #[test]
    fn words_of_a_pattern() {
        let like = |s: &str| LikePattern::parse(s, '%', '_', Some('\\'));
        let sql = |p: &LikePattern| {
            p.words()
                .iter()
                .map(|w| w.to_sql_like(Some('\\')))
                .collect::<Vec<_>>()
        };
        assert_eq!(sql(&like("Sea  temperature")), ["%Sea%", "%temperature%"]);
        assert_eq!(sql(&like(" s_a\tx ")), ["%s_a%", "%x%"]);
        assert_eq!(sql(&like("50\\% gust")), ["%50\\%%", "%gust%"]);
        assert_eq!(sql(&like("\u{3000}ünï\ncødé")), ["%ünï%", "%cødé%"]);
        assert!(like("  \t").words().is_empty());
        assert!(like("").words().is_empty());
        assert!(like("a%b").has_any() && !like("a_b").has_any());
        assert_eq!(
            RecordFilter::contains_all_words(Queryable::AnyText, &like(" ")),
            RecordFilter::All
        );
        assert_eq!(
            RecordFilter::contains_all_words(Queryable::AnyText, &like("sst")),
            RecordFilter::Like {
                prop: Queryable::AnyText,
                pattern: LikePattern::contains("sst"),
                match_case: false
            }
        );
        let RecordFilter::And(v) =
            RecordFilter::contains_all_words(Queryable::AnyText, &like("a b c"))
        else {
            panic!("three words are an And");
        };
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn depth_and_size() {
        let f = RecordFilter::And(vec![
            RecordFilter::Not(Box::new(RecordFilter::All)),
            RecordFilter::All,
        ]);
        assert_eq!(f.depth(), 3);
        assert_eq!(f.size(), 4);
    }
}
