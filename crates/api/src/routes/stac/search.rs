//! The parameters of an item search (`/stac/search` GET and POST, `/stac/collections/{id}/items`)
//! read into one [`StacSearch`], then into the search core's [`ItemRequest`].

use serde::Deserialize;
use serde_json::{Value, json};
use threddex_query::cql2;
use threddex_search::cursor::{ItemPosition, decode_item};
use threddex_search::{ItemOrder, ItemRequest, MAX_ID_BYTES};
use threddex_store::{CompareOp, ItemTest, ItemText, RecordFilter, Timestamp};

use crate::error::ApiError;
use crate::params::{Params, parse_bbox, parse_time};

/// Page size when none is asked.
pub(crate) const DEFAULT_LIMIT: u32 = 10;
/// Largest page (larger asks are clamped).
pub(crate) const MAX_LIMIT: u32 = 10_000;
/// Most collections or IDs one search names.
pub(crate) const MAX_LISTED: usize = 1_000;
/// Longest free text.
const MAX_TEXT_CHARS: usize = 500;

/// The query parameters of `GET /stac/search`.
pub(crate) const SEARCH_PARAMS: &[&str] = &[
    "collections",
    "ids",
    "bbox",
    "intersects",
    "datetime",
    "limit",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "fields",
    "q",
    "token",
    "updated_since",
];

/// The query parameters of `GET /stac/collections/{id}/items`.
pub(crate) const ITEMS_PARAMS: &[&str] = &[
    "bbox",
    "datetime",
    "limit",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "fields",
    "q",
    "token",
    "updated_since",
];

/// Which fields of an item to keep (the fields extension).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// A parsed item search.
#[derive(Clone, Debug)]
pub(crate) struct StacSearch {
    pub request: ItemRequest,
    pub fields: Fields,
}

/// The body of `POST /stac/search`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchBody {
    collections: Option<Vec<String>>,
    ids: Option<Vec<String>>,
    bbox: Option<Vec<f64>>,
    intersects: Option<Value>,
    datetime: Option<String>,
    limit: Option<f64>,
    filter: Option<Value>,
    #[serde(rename = "filter-lang")]
    filter_lang: Option<String>,
    #[serde(rename = "filter-crs")]
    filter_crs: Option<String>,
    sortby: Option<Value>,
    fields: Option<Value>,
    q: Option<Value>,
    token: Option<String>,
    updated_since: Option<String>,
}

fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad(parameter, message)
}

fn listed(parameter: &str, values: Vec<String>) -> Result<Vec<String>, ApiError> {
    let values: Vec<String> = values
        .into_iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if values.len() > MAX_LISTED {
        return Err(bad(parameter, format!("at most {MAX_LISTED} values")));
    }
    if values
        .iter()
        .any(|v| v.len() > MAX_ID_BYTES || v.chars().any(char::is_control))
    {
        return Err(bad(
            parameter,
            format!("a value is longer than {MAX_ID_BYTES} bytes or holds control characters"),
        ));
    }
    Ok(values)
}

fn comma_list(s: &str) -> Vec<String> {
    s.split(',').map(str::to_owned).collect()
}

/// A STAC `datetime`: an instant, or an interval `start/end` with `..` (or nothing) for an
/// open end. Closed at both ends.
pub(crate) fn datetime(s: &str) -> Result<(Option<Timestamp>, Option<Timestamp>), ApiError> {
    let bound = |v: &str| -> Result<Option<Timestamp>, ApiError> {
        let v = v.trim();
        if v.is_empty() || v == ".." {
            return Ok(None);
        }
        parse_time(v).map(Some).map_err(|m| bad("datetime", m))
    };
    match s.split_once('/') {
        None => {
            let t = bound(s)?.ok_or_else(|| bad("datetime", "an instant or an interval"))?;
            Ok((Some(t), Some(t)))
        }
        Some((a, b)) => {
            let (start, end) = (bound(a)?, bound(b)?);
            if let (Some(s), Some(e)) = (start, end)
                && s > e
            {
                return Err(bad("datetime", "the interval's start is after its end"));
            }
            if start.is_none() && end.is_none() {
                return Err(bad("datetime", "an interval needs at least one bound"));
            }
            Ok((start, end))
        }
    }
}

/// `sortby`: keys that are a prefix of one of the three orders served, all in one direction:
/// the order and whether it is descending.
fn order(keys: &[(String, bool)]) -> Result<(ItemOrder, bool), ApiError> {
    let names: Vec<&str> = keys
        .iter()
        .map(|(k, _)| k.strip_prefix("properties.").unwrap_or(k))
        .collect();
    let descending = keys.first().is_some_and(|(_, d)| *d);
    if keys.iter().any(|(_, d)| *d != descending) {
        return Err(bad(
            "sortby",
            "all sort keys go one way: all ascending or all descending",
        ));
    }
    let orders: [(ItemOrder, &[&str]); 3] = [
        (ItemOrder::Datetime, &["datetime", "collection", "id"]),
        (ItemOrder::Collection, &["collection", "datetime", "id"]),
        (ItemOrder::Id, &["id", "collection"]),
    ];
    for (order, sequence) in orders {
        if !names.is_empty()
            && names.len() <= sequence.len()
            && names.iter().zip(sequence).all(|(n, k)| n == k)
        {
            return Ok((order, descending));
        }
    }
    Err(bad(
        "sortby",
        "sortable: datetime (then collection, id), collection (then datetime, id) or id (then \
         collection), each ascending or descending (-)",
    ))
}

fn sort_text(s: &str) -> Vec<(String, bool)> {
    s.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| match k.strip_prefix('-') {
            Some(rest) => (rest.to_owned(), true),
            None => (k.strip_prefix('+').unwrap_or(k).to_owned(), false),
        })
        .collect()
}

fn fields_text(s: &str) -> Fields {
    let mut f = Fields::default();
    for k in s.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        match k.strip_prefix('-') {
            Some(rest) => f.exclude.push(rest.to_owned()),
            None => f.include.push(k.strip_prefix('+').unwrap_or(k).to_owned()),
        }
    }
    f
}

/// Everything a search asks, before it becomes a request.
#[derive(Default)]
struct Parts {
    collections: Option<Vec<String>>,
    ids: Option<Vec<String>>,
    bbox: Option<threddex_store::BBox>,
    intersects: Option<Value>,
    datetime: Option<(Option<Timestamp>, Option<Timestamp>)>,
    limit: u32,
    filter: Option<RecordFilter>,
    sort: Vec<(String, bool)>,
    fields: Fields,
    q: Option<String>,
    token: Option<ItemPosition>,
    updated_since: Option<Timestamp>,
}

fn token(raw: &str) -> Result<ItemPosition, ApiError> {
    decode_item(raw).map_err(|e| bad("token", e.to_string()))
}

fn free_text(q: &str) -> Result<String, ApiError> {
    let q = q.trim();
    if q.chars().count() > MAX_TEXT_CHARS {
        return Err(bad(
            "q",
            format!("text too long (max {MAX_TEXT_CHARS} characters)"),
        ));
    }
    Ok(q.to_owned())
}

fn clamp_limit(n: f64) -> Result<u32, ApiError> {
    if !n.is_finite() || n < 1.0 || n.fract() != 0.0 {
        return Err(bad("limit", "a whole number of at least 1"));
    }
    // Larger asks are served the largest page.
    Ok(if n > f64::from(MAX_LIMIT) {
        MAX_LIMIT
    } else {
        n as u32
    })
}

fn parse_filter(value: &Value, lang: Option<&str>) -> Result<RecordFilter, ApiError> {
    let parsed = match (value, lang) {
        (Value::String(t), None | Some("cql2-text")) => cql2::parse_text(t),
        (Value::String(t), Some("cql2-json")) => serde_json::from_str::<Value>(t)
            .map_err(|e| threddex_query::QueryError::invalid(format!("not JSON: {e}")))
            .and_then(|v| cql2::parse_json(&v)),
        (v, None | Some("cql2-json")) if v.is_object() || v.is_boolean() => cql2::parse_json(v),
        (_, Some(l)) if l != "cql2-text" && l != "cql2-json" => {
            return Err(bad("filter-lang", "cql2-text or cql2-json"));
        }
        _ => return Err(bad("filter", "a CQL2 text or JSON filter")),
    };
    parsed.map_err(|e| bad("filter", e.to_string()))
}

/// `filter-lang` names one of the two encodings, with or without a filter beside it.
fn check_filter_lang(lang: Option<&str>) -> Result<(), ApiError> {
    match lang {
        None | Some("cql2-text" | "cql2-json") => Ok(()),
        Some(_) => Err(bad("filter-lang", "cql2-text or cql2-json")),
    }
}

fn check_crs(crs: Option<&str>) -> Result<(), ApiError> {
    match crs {
        None | Some("http://www.opengis.net/def/crs/OGC/1.3/CRS84") => Ok(()),
        Some(_) => Err(bad(
            "filter-crs",
            "only http://www.opengis.net/def/crs/OGC/1.3/CRS84 is supported",
        )),
    }
}

impl Parts {
    fn from_params(params: &Params, allowed: &[&str]) -> Result<Self, ApiError> {
        params.allow_only(allowed)?;
        check_crs(params.get("filter-crs"))?;
        check_filter_lang(params.get("filter-lang"))?;
        Ok(Self {
            collections: params
                .get("collections")
                .map(|c| listed("collections", comma_list(c)))
                .transpose()?,
            ids: params
                .get("ids")
                .map(|c| listed("ids", comma_list(c)))
                .transpose()?,
            bbox: params.get("bbox").map(bbox_text).transpose()?,
            intersects: params
                .get("intersects")
                .map(|g| {
                    serde_json::from_str::<Value>(g)
                        .map_err(|_| bad("intersects", "a GeoJSON geometry"))
                })
                .transpose()?,
            datetime: params.get("datetime").map(datetime).transpose()?,
            limit: params
                .get("limit")
                .map(|l| {
                    l.trim()
                        .parse::<f64>()
                        .map_err(|_| bad("limit", "a whole number of at least 1"))
                        .and_then(clamp_limit)
                })
                .transpose()?
                .unwrap_or(DEFAULT_LIMIT),
            filter: params
                .get("filter")
                .map(|f| {
                    let lang = params.get("filter-lang");
                    if lang == Some("cql2-json") {
                        let v: Value =
                            serde_json::from_str(f).map_err(|_| bad("filter", "not CQL2 JSON"))?;
                        parse_filter(&v, lang)
                    } else {
                        parse_filter(&Value::String(f.to_owned()), lang)
                    }
                })
                .transpose()?,
            sort: params.get("sortby").map(sort_text).unwrap_or_default(),
            fields: params.get("fields").map(fields_text).unwrap_or_default(),
            q: params.get("q").map(free_text).transpose()?,
            token: params.get("token").map(token).transpose()?,
            updated_since: params.time("updated_since")?,
        })
    }

    fn from_body(body: SearchBody) -> Result<Self, ApiError> {
        check_crs(body.filter_crs.as_deref())?;
        check_filter_lang(body.filter_lang.as_deref())?;
        let bbox = match body.bbox.as_deref() {
            None => None,
            Some([w, s, e, n] | [w, s, _, e, n, _]) => {
                Some(parse_bbox(&format!("{w},{s},{e},{n}")).map_err(|m| bad("bbox", m))?)
            }
            Some(_) => return Err(bad("bbox", "4 or 6 numbers")),
        };
        let sort = match &body.sortby {
            None => Vec::new(),
            Some(Value::String(s)) => sort_text(s),
            Some(Value::Array(keys)) => keys
                .iter()
                .map(|k| {
                    let field = k
                        .get("field")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("sortby", "each key has a field"))?;
                    let desc = match k.get("direction").and_then(Value::as_str) {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(_) => return Err(bad("sortby", "direction is asc or desc")),
                    };
                    Ok((field.to_owned(), desc))
                })
                .collect::<Result<_, ApiError>>()?,
            Some(_) => return Err(bad("sortby", "a list of {field, direction}")),
        };
        let fields = match &body.fields {
            None => Fields::default(),
            Some(Value::String(s)) => fields_text(s),
            Some(v @ Value::Object(_)) => {
                let list = |k: &str| -> Result<Vec<String>, ApiError> {
                    match v.get(k) {
                        None | Some(Value::Null) => Ok(Vec::new()),
                        Some(Value::Array(a)) => a
                            .iter()
                            .map(|s| {
                                s.as_str()
                                    .map(str::to_owned)
                                    .ok_or_else(|| bad("fields", "field names are strings"))
                            })
                            .collect(),
                        Some(_) => Err(bad("fields", "include and exclude are lists")),
                    }
                };
                Fields {
                    include: list("include")?,
                    exclude: list("exclude")?,
                }
            }
            Some(_) => return Err(bad("fields", "{include, exclude}")),
        };
        let q = match &body.q {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(free_text(s)?),
            Some(Value::Array(words)) => Some(free_text(
                &words
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" OR "),
            )?),
            Some(_) => return Err(bad("q", "a text")),
        };
        Ok(Self {
            collections: body
                .collections
                .map(|c| listed("collections", c))
                .transpose()?,
            ids: body.ids.map(|c| listed("ids", c)).transpose()?,
            bbox,
            intersects: body.intersects,
            datetime: body.datetime.as_deref().map(datetime).transpose()?,
            limit: body
                .limit
                .map(clamp_limit)
                .transpose()?
                .unwrap_or(DEFAULT_LIMIT),
            filter: body
                .filter
                .as_ref()
                .map(|f| parse_filter(f, body.filter_lang.as_deref()))
                .transpose()?,
            sort,
            fields,
            q,
            token: body.token.as_deref().map(token).transpose()?,
            updated_since: body
                .updated_since
                .as_deref()
                .map(|t| parse_time(t).map_err(|m| bad("updated_since", m)))
                .transpose()?,
        })
    }

    fn into_search(self, only: Option<&str>) -> Result<StacSearch, ApiError> {
        if self.bbox.is_some() && self.intersects.is_some() {
            return Err(bad("intersects", "give bbox or intersects, not both"));
        }
        let mut tests = Vec::new();
        if let Some(b) = self.bbox {
            tests.push(RecordFilter::BBox(b));
        }
        if let Some(g) = &self.intersects {
            let f = cql2::parse_json(&json!({
                "op": "s_intersects",
                "args": [{"property": "geometry"}, g]
            }))
            .map_err(|e| bad("intersects", e.to_string()))?;
            tests.push(f);
        }
        if let Some((start, end)) = self.datetime {
            tests.push(RecordFilter::Item(ItemTest::Intersects { start, end }));
        }
        if let Some(ids) = &self.ids {
            tests.push(RecordFilter::Or(
                ids.iter()
                    .map(|id| {
                        RecordFilter::Item(ItemTest::CompareText {
                            prop: ItemText::Id,
                            op: CompareOp::Eq,
                            value: id.clone(),
                        })
                    })
                    .collect(),
            ));
        }
        if let Some(f) = self.filter {
            tests.push(f);
        }
        let collections = match only {
            Some(c) => Some(vec![c.to_owned()]),
            None => self.collections,
        };
        let collection_filter = self
            .q
            .as_deref()
            .filter(|q| !q.is_empty())
            .map_or(RecordFilter::All, RecordFilter::free_text);
        let (order, descending) = if self.sort.is_empty() {
            (ItemOrder::Collection, false)
        } else {
            order(&self.sort)?
        };
        Ok(StacSearch {
            request: ItemRequest {
                collections,
                filter: match tests.len() {
                    0 => RecordFilter::All,
                    1 => tests.pop().unwrap_or(RecordFilter::All),
                    _ => RecordFilter::And(tests),
                },
                collection_filter,
                limit: self.limit,
                after: self.token,
                order,
                descending,
                updated_since: self.updated_since,
            },
            fields: self.fields,
        })
    }
}

fn bbox_text(s: &str) -> Result<threddex_store::BBox, ApiError> {
    let n: Vec<&str> = s.split(',').collect();
    let four = match n.as_slice() {
        [w, s, e, nn] | [w, s, _, e, nn, _] => format!("{w},{s},{e},{nn}"),
        _ => return Err(bad("bbox", "4 or 6 comma-separated numbers")),
    };
    parse_bbox(&four).map_err(|m| bad("bbox", m))
}

/// A GET search (`only`: the collection of `/collections/{id}/items`).
pub(crate) fn from_params(params: &Params, only: Option<&str>) -> Result<StacSearch, ApiError> {
    let allowed = if only.is_some() {
        ITEMS_PARAMS
    } else {
        SEARCH_PARAMS
    };
    Parts::from_params(params, allowed)?.into_search(only)
}

/// A POST search.
pub(crate) fn from_body(body: SearchBody) -> Result<StacSearch, ApiError> {
    Parts::from_body(body)?.into_search(None)
}

/// Keep the fields asked for (dotted paths; `type`, `stac_version`, `id` and `links` always).
pub(crate) fn apply_fields(item: Value, fields: &Fields) -> Value {
    if fields.include.is_empty() && fields.exclude.is_empty() {
        return item;
    }
    let mut out = if fields.include.is_empty() {
        item.clone()
    } else {
        let mut kept = json!({});
        for k in ["type", "stac_version", "id", "links"]
            .into_iter()
            .map(str::to_owned)
            .chain(fields.include.iter().cloned())
        {
            copy_path(&item, &mut kept, &k);
        }
        kept
    };
    for k in &fields.exclude {
        if ["type", "stac_version", "id", "links"].contains(&k.as_str()) {
            continue;
        }
        remove_path(&mut out, k);
    }
    out
}

fn copy_path(from: &Value, to: &mut Value, path: &str) {
    let mut src = from;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts {
        match src.get(p) {
            Some(v) => src = v,
            None => return,
        }
    }
    let mut dst = to;
    for (i, p) in parts.iter().enumerate() {
        let Some(obj) = dst.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            obj.insert((*p).to_owned(), src.clone());
            return;
        }
        dst = obj.entry((*p).to_owned()).or_insert_with(|| json!({}));
    }
}

fn remove_path(v: &mut Value, path: &str) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for (i, p) in parts.iter().enumerate() {
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            obj.remove(*p);
            return;
        }
        match obj.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        let t = |s: &str| parse_time(s).ok();
        assert_eq!(
            datetime("2024-01-01T00:00:00Z").unwrap(),
            (t("2024-01-01T00:00:00Z"), t("2024-01-01T00:00:00Z"))
        );
        assert_eq!(
            datetime("../2024-01-02T00:00:00Z").unwrap(),
            (None, t("2024-01-02T00:00:00Z"))
        );
        assert_eq!(
            datetime("2024-01-01T00:00:00Z/").unwrap(),
            (t("2024-01-01T00:00:00Z"), None)
        );
        assert!(datetime("../..").is_err());
        assert!(datetime("2024-01-02T00:00:00Z/2024-01-01T00:00:00Z").is_err());
        assert!(datetime("yesterday").is_err());
    }

    #[test]
    fn sort_orders() {
        let asc = |o| Ok::<_, ()>((o, false));
        let desc = |o| Ok::<_, ()>((o, true));
        let o = |s: &str| order(&sort_text(s)).map_err(|_| ());
        assert_eq!(o("+datetime"), asc(ItemOrder::Datetime));
        assert_eq!(
            o("properties.datetime,collection"),
            asc(ItemOrder::Datetime)
        );
        assert_eq!(o("collection"), asc(ItemOrder::Collection));
        assert_eq!(o("-datetime"), desc(ItemOrder::Datetime));
        assert_eq!(
            o("-properties.datetime,-collection,-id"),
            desc(ItemOrder::Datetime)
        );
        assert_eq!(o("-collection,-datetime"), desc(ItemOrder::Collection));
        assert_eq!(o("id"), asc(ItemOrder::Id));
        assert_eq!(o("-id,-collection"), desc(ItemOrder::Id));
        assert!(o("-datetime,collection").is_err(), "mixed directions");
        assert!(o("id,datetime").is_err());
        assert!(o("title").is_err());
        assert!(o("").is_err());
    }

    #[test]
    fn limits_clamp() {
        assert_eq!(clamp_limit(20_000.0).unwrap(), MAX_LIMIT);
        assert_eq!(clamp_limit(7.0).unwrap(), 7);
        assert!(clamp_limit(0.0).is_err());
        assert!(clamp_limit(1.5).is_err());
        assert!(clamp_limit(f64::NAN).is_err());
    }

    #[test]
    fn fields_keep_and_drop() {
        let item = json!({"type": "Feature", "stac_version": "1.0.0", "id": "a", "links": [],
            "assets": {"data": {}}, "properties": {"datetime": "x", "title": "t"}});
        let kept = apply_fields(
            item.clone(),
            &Fields {
                include: vec!["properties.title".into()],
                exclude: vec![],
            },
        );
        assert_eq!(
            kept,
            json!({"type": "Feature", "stac_version": "1.0.0", "id": "a", "links": [],
                "properties": {"title": "t"}})
        );
        let dropped = apply_fields(
            item,
            &Fields {
                include: vec![],
                exclude: vec!["assets".into(), "properties.title".into(), "id".into()],
            },
        );
        assert!(dropped.get("assets").is_none());
        assert_eq!(dropped["properties"], json!({"datetime": "x"}));
        assert_eq!(dropped["id"], "a");
    }
}
