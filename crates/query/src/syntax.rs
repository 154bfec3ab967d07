//! The text syntax that CQL (CSW constraints, [`crate::text`]) and CQL2 text
//! ([`crate::cql2`]) share: quoted strings, comparison operators, a cursor over tokens, and the
//! predicates that follow a left operand (`= <> < <= > >=`, `[NOT] LIKE`, `[NOT] BETWEEN … AND
//! …`, `[NOT] IN (…)`, `IS [NOT] NULL`). Each language keeps its own words and operands and
//! builds its own result from a [`Predicate`].

use crate::QueryError;

/// A token of either language (CQL reads numbers and dates as words).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: keyword, property name, function (CQL: also numbers and dates).
    Word(String),
    /// A double-quoted identifier (CQL2).
    Ident(String),
    /// A single-quoted string.
    Str(String),
    /// A number (CQL2).
    Num(f64),
    /// A comparison operator.
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn err(msg: impl Into<String>) -> QueryError {
    QueryError::invalid(msg)
}

/// The text quoted by `q` starting at `chars[*i]` (the opening quote); a doubled quote stands
/// for one. Moves `i` past the closing quote.
pub(crate) fn quoted(chars: &[char], i: &mut usize, q: char) -> Result<String, QueryError> {
    let mut v = String::new();
    *i += 1;
    loop {
        match chars.get(*i) {
            None => return Err(err("unterminated quote")),
            Some(&ch) if ch == q && chars.get(*i + 1) == Some(&q) => {
                v.push(q);
                *i += 2;
            }
            Some(&ch) if ch == q => {
                *i += 1;
                return Ok(v);
            }
            Some(&ch) => {
                v.push(ch);
                *i += 1;
            }
        }
    }
}

/// The comparison operator starting at `chars[*i]` (one of `< > = !`); `!=` reads as `<>`.
/// Moves `i` past it.
pub(crate) fn comparison(chars: &[char], i: &mut usize) -> Result<Tok, QueryError> {
    let c = chars.get(*i).copied();
    let next = chars.get(*i + 1).copied();
    let (op, n) = match (c, next) {
        (Some('<'), Some('=')) => ("<=", 2),
        (Some('>'), Some('=')) => (">=", 2),
        (Some('<'), Some('>')) | (Some('!'), Some('=')) => ("<>", 2),
        (Some('<'), _) => ("<", 1),
        (Some('>'), _) => (">", 1),
        (Some('='), _) => ("=", 1),
        _ => return Err(err("unexpected '!'")),
    };
    *i += n;
    Ok(Tok::Op(op))
}

/// A cursor over the tokens of one filter.
pub(crate) struct Tokens {
    pub toks: Vec<Tok>,
    pub pos: usize,
}

impl Tokens {
    pub fn new(toks: Vec<Tok>) -> Self {
        Self { toks, pos: 0 }
    }

    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    pub fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// Whether the next token is the keyword `kw` (any case).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    /// Take the keyword `kw` when it comes next.
    pub fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    pub fn expect(&mut self, t: &Tok) -> Result<(), QueryError> {
        match self.next() {
            Some(ref got) if got == t => Ok(()),
            got => Err(err(format!("expected {t:?}, found {got:?}"))),
        }
    }

    /// Whether every token was read (else the error names the first one left).
    pub fn finish(&self) -> Result<(), QueryError> {
        match self.toks.get(self.pos) {
            None => Ok(()),
            Some(t) => Err(err(format!("unexpected {t:?}"))),
        }
    }
}

/// A predicate on a left operand, with operands of the language's own kind.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Predicate<T> {
    /// `= <> < <= > >=` and the right operand.
    Compare(&'static str, T),
    /// `LIKE` (or a language's other word for it) and the pattern.
    Like(T),
    /// `BETWEEN lo AND hi`.
    Between(T, T),
    /// `IN (a, b, …)`.
    In(Vec<T>),
    /// `IS NULL`.
    IsNull,
}

/// A parser that reads operands of its language from its tokens.
pub(crate) trait Operands {
    type Operand;

    fn tokens(&mut self) -> &mut Tokens;

    fn operand(&mut self) -> Result<Self::Operand, QueryError>;
}

/// The predicate after a left operand, and whether it is negated (`NOT LIKE`, `NOT BETWEEN`,
/// `NOT IN`, `IS NOT NULL`). `like` lists the words that mean `LIKE`.
pub(crate) fn predicate<P: Operands>(
    p: &mut P,
    like: &[&str],
) -> Result<(bool, Predicate<P::Operand>), QueryError> {
    let negated = p.tokens().eat_kw("NOT");
    if like.iter().any(|w| p.tokens().eat_kw(w)) {
        return Ok((negated, Predicate::Like(p.operand()?)));
    }
    if p.tokens().eat_kw("BETWEEN") {
        let lo = p.operand()?;
        if !p.tokens().eat_kw("AND") {
            return Err(err("BETWEEN needs AND (BETWEEN … AND …)"));
        }
        return Ok((negated, Predicate::Between(lo, p.operand()?)));
    }
    if p.tokens().eat_kw("IN") {
        p.tokens().expect(&Tok::LParen)?;
        let mut list = vec![p.operand()?];
        while p.tokens().peek() == Some(&Tok::Comma) {
            p.tokens().pos += 1;
            list.push(p.operand()?);
        }
        p.tokens().expect(&Tok::RParen)?;
        return Ok((negated, Predicate::In(list)));
    }
    if negated {
        return Err(err("NOT must be followed by LIKE, BETWEEN or IN here"));
    }
    if p.tokens().eat_kw("IS") {
        let not = p.tokens().eat_kw("NOT");
        if !p.tokens().eat_kw("NULL") {
            return Err(err("expected NULL after IS (IS [NOT] NULL)"));
        }
        return Ok((not, Predicate::IsNull));
    }
    match p.tokens().next() {
        Some(Tok::Op(op)) => Ok((false, Predicate::Compare(op, p.operand()?))),
        got => Err(err(format!("expected a comparison, found {got:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Words(Tokens);

    impl Operands for Words {
        type Operand = Tok;

        fn tokens(&mut self) -> &mut Tokens {
            &mut self.0
        }

        fn operand(&mut self) -> Result<Tok, QueryError> {
            self.0.next().ok_or_else(|| err("missing operand"))
        }
    }

    fn words(s: &str) -> Words {
        Words(Tokens::new(
            s.split(' ')
                .map(|w| match w {
                    "(" => Tok::LParen,
                    ")" => Tok::RParen,
                    "," => Tok::Comma,
                    "=" => Tok::Op("="),
                    w => Tok::Word(w.into()),
                })
                .collect(),
        ))
    }

    #[test]
    fn predicates_read_the_same_in_both_languages() {
        let w = |s: &str| Tok::Word(s.into());
        let read =
            |s: &str, like: &[&str]| predicate(&mut words(s), like).map_err(|e| e.to_string());
        assert_eq!(
            read("= a", &["LIKE"]),
            Ok((false, Predicate::Compare("=", w("a"))))
        );
        assert_eq!(
            read("not like p", &["LIKE"]),
            Ok((true, Predicate::Like(w("p"))))
        );
        assert_eq!(
            read("ILIKE p", &["LIKE", "ILIKE"]),
            Ok((false, Predicate::Like(w("p"))))
        );
        assert!(read("ILIKE p", &["LIKE"]).is_err());
        assert_eq!(
            read("BETWEEN a AND b", &["LIKE"]),
            Ok((false, Predicate::Between(w("a"), w("b"))))
        );
        assert_eq!(
            read("NOT IN ( a , b )", &["LIKE"]),
            Ok((true, Predicate::In(vec![w("a"), w("b")])))
        );
        assert_eq!(
            read("IS NOT NULL", &["LIKE"]),
            Ok((true, Predicate::IsNull))
        );
        assert_eq!(read("IS NULL", &["LIKE"]), Ok((false, Predicate::IsNull)));
        assert!(
            read("BETWEEN a OR b", &["LIKE"])
                .unwrap_err()
                .contains("AND")
        );
        assert!(read("NOT = a", &["LIKE"]).unwrap_err().contains("NOT must"));
        assert!(read("IS a", &["LIKE"]).unwrap_err().contains("NULL"));
        assert!(read("a", &["LIKE"]).unwrap_err().contains("comparison"));
    }

    #[test]
    fn quotes_and_operators() {
        let chars: Vec<char> = "'it''s' rest".chars().collect();
        let mut i = 0;
        assert_eq!(quoted(&chars, &mut i, '\'').unwrap(), "it's");
        assert_eq!(i, 7);
        let mut i = 0;
        assert!(quoted(&['\'', 'a'], &mut i, '\'').is_err());
        for (s, op) in [
            ("<=", "<="),
            ("<>", "<>"),
            ("!=", "<>"),
            ("<", "<"),
            ("= 1", "="),
        ] {
            let chars: Vec<char> = s.chars().collect();
            let mut i = 0;
            assert_eq!(comparison(&chars, &mut i).unwrap(), Tok::Op(op), "{s}");
        }
        let mut i = 0;
        assert!(comparison(&['!', 'x'], &mut i).is_err());
    }
}
