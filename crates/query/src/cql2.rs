//! OGC CQL2 (text and JSON encodings) → [`RecordFilter`], for STAC item searches.
//!
//! Both encodings read into one form: the text is first turned into the JSON encoding
//! ([`text_to_json`]), then the JSON into the tree ([`parse_json`]), so the two cannot
//! disagree.
//!
//! Supported: `and` / `or` / `not`; comparisons (`= <> < <= > >=`); `like` (`%`, `_`, escape
//! `\`); `between`; `in`; `isNull`; `s_intersects` of `geometry` with a `bbox`, a `Point`, a
//! `Polygon` or a `MultiPolygon`; `t_intersects` of `datetime` with a timestamp, a date or an
//! interval (`..` for an open end). Queryables: `id`, `collection`, `title`, `datetime`,
//! `start_datetime`, `end_datetime`, `geometry` (a `properties.` prefix is ignored).
//! `collection` is a test on collections (compiled into SQL); the others test each granule
//! ([`threddex_store::ItemTest`]). Bounded: at most [`MAX_NODES`] nodes, [`MAX_DEPTH`] levels,
//! [`MAX_VERTICES`] polygon vertices, [`MAX_TEXT_BYTES`] of text.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use threddex_store::{
    BBox, CompareOp, ItemTest, ItemText, ItemTime, LikePattern, Polygon, Queryable, RecordFilter,
    TextProperty, Timestamp,
};

use crate::syntax::{Operands, Predicate, Tok, Tokens, comparison, predicate, quoted};
use crate::{MAX_DEPTH, MAX_NODES, QueryError, make_bbox, parse_time};

/// Most vertices of all polygons of one filter.
pub const MAX_VERTICES: usize = 10_000;

/// Longest CQL2 text, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

fn err(msg: impl Into<String>) -> QueryError {
    QueryError::invalid(msg)
}

/// What a property name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prop {
    Collection,
    Text(ItemText),
    Time(ItemTime),
    Geometry,
}

fn prop(name: &str) -> Result<Prop, QueryError> {
    let n = name.strip_prefix("properties.").unwrap_or(name);
    Ok(match n {
        "id" => Prop::Text(ItemText::Id),
        "title" => Prop::Text(ItemText::Title),
        "collection" => Prop::Collection,
        "datetime" => Prop::Time(ItemTime::Datetime),
        "start_datetime" => Prop::Time(ItemTime::Start),
        "end_datetime" => Prop::Time(ItemTime::End),
        "geometry" => Prop::Geometry,
        _ => return Err(err(format!("unknown queryable {name:?}"))),
    })
}

/// The queryables of items, as `/queryables` lists them (name, JSON Schema).
pub fn queryables() -> Value {
    json!({
        "id": {"description": "Item ID (the granule ID)", "type": "string"},
        "collection": {"description": "Collection ID", "type": "string"},
        "title": {"description": "Item title (the granule's file name)", "type": "string"},
        "datetime": {"description": "The granule's start", "type": "string", "format": "date-time"},
        "start_datetime": {"description": "The granule's start (granules with an end)", "type": "string", "format": "date-time"},
        "end_datetime": {"description": "The granule's end", "type": "string", "format": "date-time"},
        "geometry": {"description": "The granule's footprint (its collection's geospatial coverage)", "$ref": "https://geojson.org/schema/Geometry.json"}
    })
}

struct Reader {
    nodes: usize,
    vertices: usize,
}

fn property_of(v: &Value) -> Result<&str, QueryError> {
    v.get("property")
        .and_then(Value::as_str)
        .ok_or_else(|| err("the first argument must be a property ({\"property\": …})"))
}

fn text_of(v: &Value) -> Result<&str, QueryError> {
    v.as_str()
        .ok_or_else(|| err(format!("expected a string, not {v}")))
}

/// A time literal: `{"timestamp": …}`, `{"date": …}` (its first instant) or a string.
fn time_of(v: &Value) -> Result<Timestamp, QueryError> {
    let s = v
        .get("timestamp")
        .or_else(|| v.get("date"))
        .unwrap_or(v)
        .as_str()
        .ok_or_else(|| err(format!("expected a time, not {v}")))?;
    parse_time(s).ok_or_else(|| err(format!("{s:?} is not an RFC 3339 time or date")))
}

/// The closed interval a temporal literal covers: a timestamp (one instant), a date (the
/// whole day) or an interval (`..` or null for an open end).
fn interval_of(v: &Value) -> Result<(Option<Timestamp>, Option<Timestamp>), QueryError> {
    if let Some(i) = v.get("interval") {
        let bounds = i
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| err("an interval has two bounds"))?;
        let bound = |b: &Value| -> Result<Option<Timestamp>, QueryError> {
            match b {
                Value::Null => Ok(None),
                Value::String(s) if s == ".." => Ok(None),
                other => time_of(other).map(Some),
            }
        };
        let (start, end) = (bound(&bounds[0])?, bound(&bounds[1])?);
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(err("an interval's start is after its end"));
        }
        return Ok((start, end));
    }
    if let Some(d) = v.get("date").and_then(Value::as_str) {
        let day = NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| err(format!("{d:?} is not a date")))?;
        let start = day
            .and_hms_opt(0, 0, 0)
            .map(|t| Utc.from_utc_datetime(&t))
            .ok_or_else(|| err("bad date"))?;
        return Ok((
            Some(start),
            Some(start + TimeDelta::days(1) - TimeDelta::microseconds(1)),
        ));
    }
    let t = time_of(v)?;
    Ok((Some(t), Some(t)))
}

fn op_of(op: &str) -> Option<CompareOp> {
    Some(match op {
        "=" => CompareOp::Eq,
        "<>" | "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        ">=" => CompareOp::Ge,
        _ => return None,
    })
}

impl Reader {
    fn ring(&mut self, v: &Value) -> Result<Vec<[f64; 2]>, QueryError> {
        let pts = v
            .as_array()
            .ok_or_else(|| err("a ring is an array of positions"))?;
        self.vertices += pts.len();
        if self.vertices > MAX_VERTICES {
            return Err(err(format!("at most {MAX_VERTICES} vertices")));
        }
        pts.iter()
            .map(|p| {
                let c = p.as_array().filter(|c| c.len() >= 2);
                let xy = c.and_then(|c| Some([c[0].as_f64()?, c[1].as_f64()?]));
                match xy {
                    Some([x, y])
                        if (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y) =>
                    {
                        Ok([x, y])
                    }
                    _ => Err(err(format!("bad position {p}"))),
                }
            })
            .collect()
    }

    fn polygon(&mut self, v: &Value) -> Result<Polygon, QueryError> {
        let rings = v
            .as_array()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| err("a polygon has at least one ring"))?;
        let rings = rings
            .iter()
            .map(|r| self.ring(r))
            .collect::<Result<Vec<_>, _>>()?;
        if rings.iter().any(|r| r.len() < 3) {
            return Err(err("a ring has at least three positions"));
        }
        Ok(Polygon { rings })
    }

    /// `s_intersects(geometry, g)`.
    fn spatial(&mut self, g: &Value) -> Result<RecordFilter, QueryError> {
        if let Some(b) = g.get("bbox") {
            let n: Vec<f64> = b
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let (w, s, e, nn) = match n.as_slice() {
                [w, s, e, n] | [w, s, _, e, n, _] => (*w, *s, *e, *n),
                _ => return Err(err("a bbox has 4 (or 6) numbers")),
            };
            return Ok(RecordFilter::BBox(make_bbox(w, s, e, nn)?));
        }
        let coords = g.get("coordinates");
        match (g.get("type").and_then(Value::as_str), coords) {
            (Some("Point"), Some(c)) => {
                let [x, y] = self.ring(&json!([c]))?.first().copied().unwrap_or_default();
                Ok(RecordFilter::BBox(BBox {
                    west: x,
                    south: y,
                    east: x,
                    north: y,
                }))
            }
            (Some("Polygon"), Some(c)) => {
                Ok(RecordFilter::Item(ItemTest::Polygon(self.polygon(c)?)))
            }
            (Some("MultiPolygon"), Some(c)) => {
                let polys = c
                    .as_array()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| err("a MultiPolygon has polygons"))?;
                let mut out = polys
                    .iter()
                    .map(|p| Ok(RecordFilter::Item(ItemTest::Polygon(self.polygon(p)?))))
                    .collect::<Result<Vec<_>, QueryError>>()?;
                Ok(if out.len() == 1 {
                    out.pop().unwrap_or(RecordFilter::All)
                } else {
                    RecordFilter::Or(out)
                })
            }
            (Some(t), _) => Err(err(format!(
                "s_intersects takes a bbox, Point, Polygon or MultiPolygon, not {t}"
            ))),
            (None, _) => Err(err("s_intersects needs a geometry")),
        }
    }

    fn compare(&self, name: &str, op: CompareOp, lit: &Value) -> Result<RecordFilter, QueryError> {
        Ok(match prop(name)? {
            Prop::Collection => RecordFilter::compare(
                Queryable::Identifier,
                op,
                threddex_store::Literal::Text(text_of(lit)?.to_owned()),
                true,
            )?,
            Prop::Text(prop) => RecordFilter::Item(ItemTest::CompareText {
                prop,
                op,
                value: text_of(lit)?.to_owned(),
            }),
            Prop::Time(prop) => RecordFilter::Item(ItemTest::CompareTime {
                prop,
                op,
                value: time_of(lit)?,
            }),
            Prop::Geometry => return Err(err("geometry is only tested with s_intersects")),
        })
    }

    fn read(&mut self, v: &Value, depth: usize) -> Result<RecordFilter, QueryError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(err(format!("a filter has at most {MAX_NODES} nodes")));
        }
        if depth > MAX_DEPTH {
            return Err(err(format!("a filter nests at most {MAX_DEPTH} levels")));
        }
        if let Value::Bool(b) = v {
            return Ok(if *b {
                RecordFilter::All
            } else {
                RecordFilter::Or(Vec::new())
            });
        }
        let op = v
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("expected an operation ({{\"op\": …}}), not {v}")))?;
        let args: &[Value] = v
            .get("args")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .ok_or_else(|| err(format!("{op} needs args")))?;
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(err(format!("{op} takes {n} arguments")))
            }
        };
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "and" | "or" => {
                if args.is_empty() {
                    return Err(err(format!("{op} needs arguments")));
                }
                let mut v = args
                    .iter()
                    .map(|a| self.read(a, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                // One argument: the argument itself, as the text encoding writes it.
                if v.len() == 1 {
                    return Ok(v.pop().unwrap_or(RecordFilter::All));
                }
                Ok(if lower == "and" {
                    RecordFilter::And(v)
                } else {
                    RecordFilter::Or(v)
                })
            }
            "not" => {
                arity(1)?;
                Ok(RecordFilter::Not(Box::new(self.read(&args[0], depth + 1)?)))
            }
            "like" => {
                arity(2)?;
                let (name, casei) = match args[0].get("op").and_then(Value::as_str) {
                    Some(o) if o.eq_ignore_ascii_case("casei") => (
                        property_of(
                            args[0]
                                .get("args")
                                .and_then(|a| a.get(0))
                                .unwrap_or(&Value::Null),
                        )?,
                        true,
                    ),
                    _ => (property_of(&args[0])?, false),
                };
                let pat = match args[1].get("op").and_then(Value::as_str) {
                    Some(o) if o.eq_ignore_ascii_case("casei") => text_of(
                        args[1]
                            .get("args")
                            .and_then(|a| a.get(0))
                            .unwrap_or(&Value::Null),
                    )?,
                    _ => text_of(&args[1])?,
                };
                let pattern = LikePattern::parse(pat, '%', '_', Some('\\'));
                Ok(match prop(name)? {
                    Prop::Collection => RecordFilter::Like {
                        prop: TextProperty::Identifier,
                        pattern,
                        match_case: !casei,
                    },
                    Prop::Text(prop) => RecordFilter::Item(ItemTest::Like {
                        prop,
                        pattern,
                        match_case: !casei,
                    }),
                    _ => return Err(err(format!("like needs a text property, not {name}"))),
                })
            }
            "between" => {
                arity(3)?;
                let name = property_of(&args[0])?;
                match prop(name)? {
                    Prop::Time(prop) => Ok(RecordFilter::Item(ItemTest::BetweenTime {
                        prop,
                        lower: time_of(&args[1])?,
                        upper: time_of(&args[2])?,
                    })),
                    _ => Ok(RecordFilter::And(vec![
                        self.compare(name, CompareOp::Ge, &args[1])?,
                        self.compare(name, CompareOp::Le, &args[2])?,
                    ])),
                }
            }
            "in" => {
                arity(2)?;
                let name = property_of(&args[0])?;
                let list = args[1]
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| err("in takes a non-empty list"))?;
                self.nodes += list.len();
                if self.nodes > MAX_NODES {
                    return Err(err(format!("a filter has at most {MAX_NODES} nodes")));
                }
                Ok(RecordFilter::Or(
                    list.iter()
                        .map(|l| self.compare(name, CompareOp::Eq, l))
                        .collect::<Result<Vec<_>, _>>()?,
                ))
            }
            "isnull" => {
                arity(1)?;
                let name = property_of(&args[0])?;
                Ok(match prop(name)? {
                    // Every item has an ID, a title and a collection.
                    Prop::Collection | Prop::Text(_) => RecordFilter::Or(Vec::new()),
                    Prop::Time(prop) => {
                        RecordFilter::Not(Box::new(RecordFilter::Item(ItemTest::BetweenTime {
                            prop,
                            lower: Timestamp::MIN_UTC,
                            upper: Timestamp::MAX_UTC,
                        })))
                    }
                    Prop::Geometry => RecordFilter::Not(Box::new(RecordFilter::BBox(BBox {
                        west: -180.0,
                        south: -90.0,
                        east: 180.0,
                        north: 90.0,
                    }))),
                })
            }
            "s_intersects" => {
                arity(2)?;
                if prop(property_of(&args[0])?)? != Prop::Geometry {
                    return Err(err("s_intersects tests the geometry"));
                }
                self.spatial(&args[1])
            }
            "t_intersects" => {
                arity(2)?;
                if !matches!(prop(property_of(&args[0])?)?, Prop::Time(_)) {
                    return Err(err("t_intersects tests datetime"));
                }
                let (start, end) = interval_of(&args[1])?;
                Ok(RecordFilter::Item(ItemTest::Intersects { start, end }))
            }
            _ => match op_of(op) {
                Some(cmp) => {
                    arity(2)?;
                    self.compare(property_of(&args[0])?, cmp, &args[1])
                }
                None => Err(err(format!("unsupported operation {op:?}"))),
            },
        }
    }
}

/// A CQL2 JSON filter as a tree.
pub fn parse_json(v: &Value) -> Result<RecordFilter, QueryError> {
    Reader {
        nodes: 0,
        vertices: 0,
    }
    .read(v, 0)
}

/// A CQL2 text filter as a tree (through its JSON encoding).
pub fn parse_text(s: &str) -> Result<RecordFilter, QueryError> {
    parse_json(&text_to_json(s)?)
}

// ---------------------------------------------------------------------------------------------
// The text encoding.

fn tokenize(s: &str) -> Result<Vec<Tok>, QueryError> {
    if s.len() > MAX_TEXT_BYTES {
        return Err(err(format!("a filter has at most {MAX_TEXT_BYTES} bytes")));
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' => {
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            '\'' => out.push(Tok::Str(quoted(&chars, &mut i, '\'')?)),
            '"' => out.push(Tok::Ident(quoted(&chars, &mut i, '"')?)),
            '<' | '>' | '=' | '!' => out.push(comparison(&chars, &mut i)?),
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|ch| {
                    ch.is_ascii_digit()
                        || ".eE".contains(*ch)
                        || ((*ch == '-' || *ch == '+')
                            && matches!(chars.get(i - 1), Some('e' | 'E')))
                }) {
                    i += 1;
                }
                let text: String = chars.get(start..i).unwrap_or_default().iter().collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| err(format!("{text:?} is not a number")))?;
                out.push(Tok::Num(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|ch| ch.is_alphanumeric() || "_.:".contains(*ch))
                {
                    i += 1;
                }
                out.push(Tok::Word(
                    chars.get(start..i).unwrap_or_default().iter().collect(),
                ));
            }
            other => return Err(err(format!("unexpected character {other:?}"))),
        }
        if out.len() > 8 * MAX_NODES + MAX_VERTICES * 4 {
            return Err(err("filter too long"));
        }
    }
    Ok(out)
}

struct Text {
    t: Tokens,
    depth: usize,
}

impl Operands for Text {
    type Operand = Value;

    fn tokens(&mut self) -> &mut Tokens {
        &mut self.t
    }

    fn operand(&mut self) -> Result<Value, QueryError> {
        Text::operand(self)
    }
}

impl Text {
    fn peek(&self) -> Option<&Tok> {
        self.t.peek()
    }

    fn next(&mut self) -> Option<Tok> {
        self.t.next()
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        self.t.eat_kw(kw)
    }

    fn expect(&mut self, t: Tok) -> Result<(), QueryError> {
        self.t.expect(&t)
    }

    fn deeper(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH * 2 {
            return Err(err(format!("a filter nests at most {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Value, QueryError> {
        self.deeper()?;
        let mut args = vec![self.and()?];
        while self.eat_kw("OR") {
            args.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if args.len() == 1 {
            args.pop().unwrap_or(Value::Null)
        } else {
            json!({"op": "or", "args": args})
        })
    }

    fn and(&mut self) -> Result<Value, QueryError> {
        let mut args = vec![self.not()?];
        while self.eat_kw("AND") {
            args.push(self.not()?);
        }
        Ok(if args.len() == 1 {
            args.pop().unwrap_or(Value::Null)
        } else {
            json!({"op": "and", "args": args})
        })
    }

    fn not(&mut self) -> Result<Value, QueryError> {
        if self.eat_kw("NOT") {
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(json!({"op": "not", "args": [inner]}));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Value, QueryError> {
        if self.peek() == Some(&Tok::LParen) {
            self.t.pos += 1;
            let inner = self.or()?;
            self.expect(Tok::RParen)?;
            return Ok(inner);
        }
        if self.eat_kw("TRUE") {
            return Ok(Value::Bool(true));
        }
        if self.eat_kw("FALSE") {
            return Ok(Value::Bool(false));
        }
        for f in ["S_INTERSECTS", "T_INTERSECTS"] {
            if self.eat_kw(f) {
                self.expect(Tok::LParen)?;
                let p = self.operand()?;
                self.expect(Tok::Comma)?;
                let lit = self.operand()?;
                self.expect(Tok::RParen)?;
                return Ok(json!({"op": f.to_ascii_lowercase(), "args": [p, lit]}));
            }
        }
        let left = self.operand()?;
        let (negated, pred) = predicate(self, &["LIKE"])?;
        let pred = match pred {
            Predicate::Compare(op, right) => json!({"op": op, "args": [left, right]}),
            Predicate::Like(pat) => json!({"op": "like", "args": [left, pat]}),
            Predicate::Between(lo, hi) => json!({"op": "between", "args": [left, lo, hi]}),
            Predicate::In(list) => json!({"op": "in", "args": [left, list]}),
            Predicate::IsNull => json!({"op": "isNull", "args": [left]}),
        };
        Ok(if negated {
            json!({"op": "not", "args": [pred]})
        } else {
            pred
        })
    }

    fn numbers(&mut self, n: usize) -> Result<Vec<f64>, QueryError> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if i > 0 {
                self.expect(Tok::Comma)?;
            }
            match self.next() {
                Some(Tok::Num(x)) => out.push(x),
                got => return Err(err(format!("expected a number, found {got:?}"))),
            }
        }
        Ok(out)
    }

    /// `x y, x y, …` up to the closing parenthesis.
    fn positions(&mut self) -> Result<Value, QueryError> {
        let mut pts = Vec::new();
        loop {
            match (self.next(), self.next()) {
                (Some(Tok::Num(x)), Some(Tok::Num(y))) => pts.push(json!([x, y])),
                got => return Err(err(format!("expected a position, found {got:?}"))),
            }
            if pts.len() > MAX_VERTICES {
                return Err(err(format!("at most {MAX_VERTICES} vertices")));
            }
            if self.peek() == Some(&Tok::Comma) {
                self.t.pos += 1;
            } else {
                return Ok(Value::Array(pts));
            }
        }
    }

    fn polygon_rings(&mut self) -> Result<Value, QueryError> {
        self.expect(Tok::LParen)?;
        let mut rings = Vec::new();
        loop {
            self.expect(Tok::LParen)?;
            rings.push(self.positions()?);
            self.expect(Tok::RParen)?;
            if self.peek() == Some(&Tok::Comma) {
                self.t.pos += 1;
            } else {
                break;
            }
        }
        self.expect(Tok::RParen)?;
        Ok(Value::Array(rings))
    }

    fn string_arg(&mut self) -> Result<String, QueryError> {
        self.expect(Tok::LParen)?;
        let s = match self.next() {
            Some(Tok::Str(s)) => s,
            got => return Err(err(format!("expected a quoted text, found {got:?}"))),
        };
        self.expect(Tok::RParen)?;
        Ok(s)
    }

    fn operand(&mut self) -> Result<Value, QueryError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => Ok(json!(n)),
            Some(Tok::Ident(name)) => Ok(json!({"property": name})),
            Some(Tok::Word(w)) => {
                let upper = w.to_ascii_uppercase();
                match upper.as_str() {
                    "TIMESTAMP" => Ok(json!({"timestamp": self.string_arg()?})),
                    "DATE" => Ok(json!({"date": self.string_arg()?})),
                    "INTERVAL" => {
                        self.expect(Tok::LParen)?;
                        let mut b = Vec::new();
                        for i in 0..2 {
                            if i > 0 {
                                self.expect(Tok::Comma)?;
                            }
                            match self.next() {
                                Some(Tok::Str(s)) => b.push(Value::String(s)),
                                got => {
                                    return Err(err(format!(
                                        "expected an interval bound, found {got:?}"
                                    )));
                                }
                            }
                        }
                        self.expect(Tok::RParen)?;
                        Ok(json!({"interval": b}))
                    }
                    "BBOX" => {
                        self.expect(Tok::LParen)?;
                        let n = self.numbers(4)?;
                        self.expect(Tok::RParen)?;
                        Ok(json!({"bbox": n}))
                    }
                    "POINT" => {
                        self.expect(Tok::LParen)?;
                        let p = self.positions()?;
                        self.expect(Tok::RParen)?;
                        let first = p.get(0).cloned().unwrap_or(Value::Null);
                        Ok(json!({"type": "Point", "coordinates": first}))
                    }
                    "POLYGON" => {
                        Ok(json!({"type": "Polygon", "coordinates": self.polygon_rings()?}))
                    }
                    "MULTIPOLYGON" => {
                        self.expect(Tok::LParen)?;
                        let mut polys = vec![self.polygon_rings()?];
                        while self.peek() == Some(&Tok::Comma) {
                            self.t.pos += 1;
                            polys.push(self.polygon_rings()?);
                        }
                        self.expect(Tok::RParen)?;
                        Ok(json!({"type": "MultiPolygon", "coordinates": polys}))
                    }
                    "CASEI" => {
                        self.expect(Tok::LParen)?;
                        let inner = self.operand()?;
                        self.expect(Tok::RParen)?;
                        Ok(json!({"op": "casei", "args": [inner]}))
                    }
                    _ => Ok(json!({"property": w})),
                }
            }
            got => Err(err(format!(
                "expected a property or a literal, found {got:?}"
            ))),
        }
    }
}

/// A CQL2 text filter in the JSON encoding.
pub fn text_to_json(s: &str) -> Result<Value, QueryError> {
    let mut p = Text {
        t: Tokens::new(tokenize(s)?),
        depth: 0,
    };
    if p.t.toks.is_empty() {
        return Err(err("empty filter"));
    }
    let v = p.or()?;
    p.t.finish()?;
    Ok(v)
}

#[cfg(test)]
#[path = "cql2_tests.rs"]
mod tests;
