//! CQL text → [`RecordFilter`]: `AND` / `OR` / `NOT` and parentheses, comparisons
//! (`= <> < <= > >=`), `[NOT] LIKE` / `ILIKE` (`%` and `_`, escape `\\`), `[NOT] BETWEEN … AND …`,
//! `IS [NOT] NULL` and `BBOX(prop, minx, miny, maxx, maxy[, crs])`; strings in single quotes
//! (`''` for a quote). Bounded in size ([`MAX_NODES`]) and depth ([`MAX_DEPTH`]).

use threddex_store::{CompareOp, LikePattern, Queryable, RecordFilter};

use crate::syntax::{Operands, Predicate, Tok, Tokens, comparison, predicate, quoted};
use crate::{
    MAX_DEPTH, MAX_NODES, QueryError, compare, extra_tests, like, literal, make_bbox, prop_or_err,
};

fn cql_err(msg: impl Into<String>) -> QueryError {
    QueryError::invalid(msg)
}

fn tokenize(s: &str) -> Result<Vec<Tok>, QueryError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if out.len() > 4 * MAX_NODES {
            return Err(cql_err("CQL text too long"));
        }
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => out.push(Tok::Str(quoted(&chars, &mut i, '\'')?)),
            '<' | '>' | '=' | '!' => out.push(comparison(&chars, &mut i)?),
            c if c.is_alphanumeric() || "_:.-+".contains(c) => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|ch| ch.is_alphanumeric() || "_:.-+".contains(*ch))
                {
                    i += 1;
                }
                out.push(Tok::Word(
                    chars.get(start..i).unwrap_or_default().iter().collect(),
                ));
            }
            other => return Err(cql_err(format!("unexpected character {other:?} in CQL"))),
        }
    }
    Ok(out)
}

struct Cql {
    t: Tokens,
    nodes: usize,
}

impl Operands for Cql {
    type Operand = String;

    fn tokens(&mut self) -> &mut Tokens {
        &mut self.t
    }

    fn operand(&mut self) -> Result<String, QueryError> {
        self.value()
    }
}

impl Cql {
    fn peek(&self) -> Option<&Tok> {
        self.t.peek()
    }

    fn next(&mut self) -> Option<Tok> {
        self.t.next()
    }

    fn keyword(&self, kw: &str) -> bool {
        self.t.is_kw(kw)
    }

    fn expect(&mut self, t: &Tok) -> Result<(), QueryError> {
        self.t.expect(t)
    }

    fn count(&mut self) -> Result<(), QueryError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(cql_err("CQL filter too large"));
        }
        Ok(())
    }

    fn or(&mut self, depth: usize) -> Result<RecordFilter, QueryError> {
        if depth > MAX_DEPTH {
            return Err(cql_err("CQL filter nested too deeply"));
        }
        let mut parts = vec![self.and(depth)?];
        while self.keyword("OR") {
            self.t.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(RecordFilter::All)
        } else {
            RecordFilter::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<RecordFilter, QueryError> {
        let mut parts = vec![self.not(depth)?];
        while self.keyword("AND") {
            self.t.pos += 1;
            parts.push(self.not(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(RecordFilter::All)
        } else {
            RecordFilter::And(parts)
        })
    }

    fn not(&mut self, depth: usize) -> Result<RecordFilter, QueryError> {
        self.count()?;
        if self.keyword("NOT") {
            self.t.pos += 1;
            if depth > MAX_DEPTH {
                return Err(cql_err("CQL filter nested too deeply"));
            }
            return Ok(RecordFilter::Not(Box::new(self.not(depth + 1)?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            return self.primary(depth);
        }
        // A keyword search is one test per word: they count towards the size limit.
        let test = self.primary(depth)?;
        for _ in 0..extra_tests(&test) {
            self.count()?;
        }
        Ok(test)
    }

    fn value(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Tok::Str(s) | Tok::Word(s)) => Ok(s),
            got => Err(cql_err(format!("expected a value in CQL, found {got:?}"))),
        }
    }

    fn number(&mut self) -> Result<f64, QueryError> {
        let v = self.value()?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| cql_err(format!("{v:?} is not a number")))
    }

    fn primary(&mut self, depth: usize) -> Result<RecordFilter, QueryError> {
        if self.peek() == Some(&Tok::LParen) {
            self.t.pos += 1;
            let f = self.or(depth + 1)?;
            self.expect(&Tok::RParen)?;
            return Ok(f);
        }
        if self.keyword("BBOX") {
            self.t.pos += 1;
            self.expect(&Tok::LParen)?;
            let prop = self.value()?;
            if prop_or_err(&prop)? != Queryable::BoundingBox {
                return Err(cql_err("BBOX applies to ows:BoundingBox"));
            }
            let mut n = [0.0; 4];
            for v in &mut n {
                self.expect(&Tok::Comma)?;
                *v = self.number()?;
            }
            if self.peek() == Some(&Tok::Comma) {
                self.t.pos += 1;
                let _crs = self.value()?;
            }
            self.expect(&Tok::RParen)?;
            let [w, s, e, nn] = n;
            return Ok(RecordFilter::BBox(make_bbox(w, s, e, nn)?));
        }
        let name = match self.next() {
            Some(Tok::Word(w)) => w,
            got => {
                return Err(cql_err(format!(
                    "expected a property name in CQL, found {got:?}"
                )));
            }
        };
        let prop = prop_or_err(&name)?;
        let (negated, pred) = predicate(self, &["LIKE", "ILIKE"])?;
        let test = match pred {
            Predicate::Compare(op, v) => {
                let op = match op {
                    "=" => CompareOp::Eq,
                    "<>" => CompareOp::Ne,
                    "<" => CompareOp::Lt,
                    "<=" => CompareOp::Le,
                    ">" => CompareOp::Gt,
                    _ => CompareOp::Ge,
                };
                return compare(prop, op, &v, true);
            }
            Predicate::Like(v) => {
                let pattern = LikePattern::parse(&v, '%', '_', Some('\\'));
                like(prop, pattern, false)?
            }
            Predicate::Between(lo, hi) => {
                if prop == Queryable::AnyText {
                    return Err(cql_err("csw:AnyText has no order"));
                }
                RecordFilter::between(prop, literal(prop, &lo)?, literal(prop, &hi)?)?
            }
            Predicate::IsNull => RecordFilter::IsNull(prop),
            Predicate::In(_) => {
                return Err(cql_err(format!(
                    "IN is not supported in CQL (after {name})"
                )));
            }
        };
        Ok(if negated {
            RecordFilter::Not(Box::new(test))
        } else {
            test
        })
    }
}

/// Parses CQL text (`dc:title LIKE '%sea%' AND BBOX(ows:BoundingBox, -10, -5, 10, 5)`).
pub fn parse(text: &str) -> Result<RecordFilter, QueryError> {
    if text.len() > 64 * 1024 {
        return Err(cql_err("CQL text too long"));
    }
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Ok(RecordFilter::All);
    }
    let mut p = Cql {
        t: Tokens::new(toks),
        nodes: 0,
    };
    let f = p.or(0)?;
    p.t.finish()?;
    Ok(f)
}
