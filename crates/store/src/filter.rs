//! Collection queries: a small typed filter tree over a closed set of properties, which one
//! compiler ([`crate::sql`]) turns into SQL with bound parameters for every backend.
//!
//! Front-ends (OGC Filter, CQL text, the free text of `/collections?q=`, the JSON collection
//! search) build a [`RecordFilter`]; values are already typed (texts, times), LIKE patterns are
//! normalised into [`LikePattern`] (so a protocol's wildcard, single-character and escape
//! characters never reach SQL).

use serde::{Deserialize, Serialize};

use crate::{BBox, Collection, StoreError, Timestamp};

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

/// A property holding text: compared, LIKE-matched and ordered as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TextProperty {
    /// The collection ID.
    Identifier,
    /// The title.
    Title,
    /// The abstract.
    Abstract,
    /// Any one keyword or variable name (a test holds when it holds for one of them).
    Subject,
    /// The record type (always [`COLLECTION_RECORD_TYPE`]).
    Type,
}

/// A property holding a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeProperty {
    /// When the collection row last changed.
    Modified,
    /// Start of the time extent.
    TempBegin,
    /// End of the time extent.
    TempEnd,
}

/// A property records can be ordered by: one value per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortProperty {
    /// The collection ID.
    Identifier,
    /// The title.
    Title,
    /// The abstract.
    Abstract,
    /// The record type.
    Type,
    /// When the collection row last changed.
    Modified,
    /// Start of the time extent.
    TempBegin,
    /// End of the time extent.
    TempEnd,
}

/// What kind of value a [`Queryable`] holds, with its typed property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryableKind {
    /// Every text of the record, only LIKE-matched.
    AnyText,
    /// A text property.
    Text(TextProperty),
    /// A time property.
    Time(TimeProperty),
    /// The geographic extent, only tested with a box.
    BoundingBox,
}

impl Queryable {
    /// The kind of value the property holds.
    pub fn kind(self) -> QueryableKind {
        match self {
            Self::AnyText => QueryableKind::AnyText,
            Self::Identifier => QueryableKind::Text(TextProperty::Identifier),
            Self::Title => QueryableKind::Text(TextProperty::Title),
            Self::Abstract => QueryableKind::Text(TextProperty::Abstract),
            Self::Subject => QueryableKind::Text(TextProperty::Subject),
            Self::Type => QueryableKind::Text(TextProperty::Type),
            Self::Modified => QueryableKind::Time(TimeProperty::Modified),
            Self::TempBegin => QueryableKind::Time(TimeProperty::TempBegin),
            Self::TempEnd => QueryableKind::Time(TimeProperty::TempEnd),
            Self::BoundingBox => QueryableKind::BoundingBox,
        }
    }

    /// The property as a sort key, when records can be ordered by it.
    pub fn sort_property(self) -> Option<SortProperty> {
        Some(match self {
            Self::Identifier => SortProperty::Identifier,
            Self::Title => SortProperty::Title,
            Self::Abstract => SortProperty::Abstract,
            Self::Type => SortProperty::Type,
            Self::Modified => SortProperty::Modified,
            Self::TempBegin => SortProperty::TempBegin,
            Self::TempEnd => SortProperty::TempEnd,
            Self::AnyText | Self::Subject | Self::BoundingBox => return None,
        })
    }
}

impl From<TimeProperty> for SortProperty {
    fn from(p: TimeProperty) -> Self {
        match p {
            TimeProperty::Modified => Self::Modified,
            TimeProperty::TempBegin => Self::TempBegin,
            TimeProperty::TempEnd => Self::TempEnd,
        }
    }
}

/// One term of a free-text search (see [`crate::FreeText`]): its `words` (lower-cased runs
/// of letters and digits) occur one after another in the title, abstract or keywords, the
/// last one as the start of a word; or its `text` (lower-cased, as typed) occurs within the
/// collection ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Words {
    /// The words, in order (empty: the term only tests the ID).
    pub words: Vec<String>,
    /// The term as typed, lower-cased (never empty).
    pub text: String,
}

/// A record filter: the typed tree every backend compiles into SQL (one compiler,
/// [`crate::sql`]). The types make ill-formed tests unrepresentable (a time compared with
/// text, a LIKE on a box); the checked constructors ([`RecordFilter::compare`],
/// [`RecordFilter::like`], [`RecordFilter::between`]) build it from untyped [`Queryable`]s.
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
    /// `prop op value` on text, case-insensitively unless `match_case`.
    CompareText {
        /// The property.
        prop: TextProperty,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: String,
        /// Case-sensitive comparison.
        match_case: bool,
    },
    /// `prop op value` on a time (records without the time do not match).
    CompareTime {
        /// The property.
        prop: TimeProperty,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: Timestamp,
    },
    /// `prop LIKE pattern`.
    Like {
        /// The property.
        prop: TextProperty,
        /// The pattern.
        pattern: LikePattern,
        /// Case-sensitive match.
        match_case: bool,
    },
    /// The any text (ID, title, abstract, keywords) matches the pattern, case-insensitively.
    AnyText(LikePattern),
    /// `lower <= prop <= upper` on text.
    BetweenText {
        /// The property.
        prop: TextProperty,
        /// Lower bound (inclusive).
        lower: String,
        /// Upper bound (inclusive).
        upper: String,
    },
    /// `lower <= prop <= upper` on a time.
    BetweenTime {
        /// The property.
        prop: TimeProperty,
        /// Lower bound (inclusive).
        lower: Timestamp,
        /// Upper bound (inclusive).
        upper: Timestamp,
    },
    /// The geographic extent intersects this box (antimeridian aware; records without an
    /// extent do not match).
    BBox(BBox),
    /// The property has no value.
    IsNull(Queryable),
    /// A free-text term (see [`Words`]).
    Words(Words),
    /// Collections of this source.
    Source(i64),
    /// Collections whose time extent overlaps `[start, end)` (a missing bound: unbounded;
    /// with a bound, collections without a time extent do not match).
    Overlaps {
        /// Start (inclusive).
        start: Option<Timestamp>,
        /// End (exclusive).
        end: Option<Timestamp>,
    },
    /// A test on one granule rather than its collection (the items of a STAC search):
    /// evaluated on each granule ([`RecordFilter::matches_item`]); SQL on collections refuses
    /// it (see [`crate::ItemPushdown`] for what SQL does of such a filter).
    Item(crate::ItemTest),
}

fn invalid(msg: String) -> StoreError {
    StoreError::Invalid(msg)
}

impl RecordFilter {
    /// `prop op value`, typed by the property: text properties take text, time properties
    /// times. [`StoreError::Invalid`] for any other pairing (AnyText and the box included).
    pub fn compare(
        prop: Queryable,
        op: CompareOp,
        value: Literal,
        match_case: bool,
    ) -> Result<Self, StoreError> {
        match (prop.kind(), value) {
            (QueryableKind::Text(prop), Literal::Text(value)) => Ok(Self::CompareText {
                prop,
                op,
                value,
                match_case,
            }),
            (QueryableKind::Time(prop), Literal::Time(value)) => {
                Ok(Self::CompareTime { prop, op, value })
            }
            (_, value) => Err(invalid(format!(
                "{prop:?} cannot be compared with {value:?}"
            ))),
        }
    }

    /// `prop LIKE pattern` on a text property or the any text (always case-insensitive).
    /// [`StoreError::Invalid`] for a time property or the box.
    pub fn like(
        prop: Queryable,
        pattern: LikePattern,
        match_case: bool,
    ) -> Result<Self, StoreError> {
        match prop.kind() {
            QueryableKind::AnyText => Ok(Self::AnyText(pattern)),
            QueryableKind::Text(prop) => Ok(Self::Like {
                prop,
                pattern,
                match_case,
            }),
            _ => Err(invalid(format!("{prop:?} is not a text property"))),
        }
    }

    /// `lower <= prop <= upper`, typed by the property like [`RecordFilter::compare`].
    pub fn between(prop: Queryable, lower: Literal, upper: Literal) -> Result<Self, StoreError> {
        match (prop.kind(), lower, upper) {
            (QueryableKind::Text(prop), Literal::Text(lower), Literal::Text(upper)) => {
                Ok(Self::BetweenText { prop, lower, upper })
            }
            (QueryableKind::Time(prop), Literal::Time(lower), Literal::Time(upper)) => {
                Ok(Self::BetweenTime { prop, lower, upper })
            }
            (_, lower, upper) => Err(invalid(format!(
                "{prop:?} cannot be between {lower:?} and {upper:?}"
            ))),
        }
    }

    /// Records whose any text contains every word of `pattern` (see [`LikePattern::words`]),
    /// case-insensitively: what a catalogue keyword search without wildcards means. No words:
    /// every record; one word: that test alone; several: their `And`.
    pub fn contains_all_words(pattern: &LikePattern) -> RecordFilter {
        let mut tests: Vec<RecordFilter> = pattern
            .words()
            .into_iter()
            .map(RecordFilter::AnyText)
            .collect();
        match tests.len() {
            0 => RecordFilter::All,
            1 => tests.pop().unwrap_or(RecordFilter::All),
            _ => RecordFilter::And(tests),
        }
    }
}

impl crate::CollectionQuery {
    /// The free text as a filter ([`RecordFilter::free_text`]; every record without text).
    pub fn text_filter(&self) -> RecordFilter {
        self.text
            .as_deref()
            .map_or(RecordFilter::All, RecordFilter::free_text)
    }

    /// The whole query as a filter: free text, box, source, time overlap and the keyset
    /// position (IDs after `after_id`). The order (by ID) and the limit stay with the caller.
    pub fn filter(&self) -> RecordFilter {
        let mut all = Vec::new();
        match self.text_filter() {
            RecordFilter::All => {}
            text => all.push(text),
        }
        if let Some(b) = self.bbox {
            all.push(RecordFilter::BBox(b));
        }
        if let Some(source) = self.source_id {
            all.push(RecordFilter::Source(source));
        }
        if self.start.is_some() || self.end.is_some() {
            all.push(RecordFilter::Overlaps {
                start: self.start,
                end: self.end,
            });
        }
        if let Some(after) = &self.after_id {
            all.push(RecordFilter::CompareText {
                prop: TextProperty::Identifier,
                op: CompareOp::Gt,
                value: after.clone(),
                match_case: true,
            });
        }
        match all.len() {
            0 => RecordFilter::All,
            1 => all.pop().unwrap_or(RecordFilter::All),
            _ => RecordFilter::And(all),
        }
    }
}

/// One sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// The property.
    pub prop: SortProperty,
    /// Descending order.
    pub descending: bool,
}

impl SortKey {
    /// A key on a queryable; [`StoreError::Invalid`] for one records cannot be ordered by
    /// (AnyText, the keywords, the box).
    pub fn new(prop: Queryable, descending: bool) -> Result<Self, StoreError> {
        let prop = prop
            .sort_property()
            .ok_or_else(|| invalid(format!("cannot sort on {prop:?}")))?;
        Ok(Self { prop, descending })
    }
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
            RecordFilter::contains_all_words(&like(" ")),
            RecordFilter::All
        );
        assert_eq!(
            RecordFilter::contains_all_words(&like("sst")),
            RecordFilter::AnyText(LikePattern::contains("sst"))
        );
        let RecordFilter::And(v) = RecordFilter::contains_all_words(&like("a b c")) else {
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
