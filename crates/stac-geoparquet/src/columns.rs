//! STAC items (JSON) to Arrow record batches in the stac-geoparquet layout.
//!
//! The schema is fixed before the first row is written (Parquet has one schema per file): it
//! is inferred from template items — the encoder's item for a granule with every optional
//! field set, plus the first page of real items — and every later item must fit it. An item
//! that does not (a field the templates did not have, a number where a string was) is an
//! error naming the item and the field, never a silently dropped value.
//!
//! Layout (the stac-geoparquet specification): one row per item; `properties` lifted to
//! top-level columns; datetimes as UTC timestamps (microseconds); `geometry` as WKB;
//! `bbox` as a struct `{xmin, ymin, xmax, ymax}` (plus `zmin`/`zmax` for 3D boxes), the
//! GeoParquet 1.1 covering; `links` as a list of structs; `assets` as a struct of asset
//! structs. JSON objects become structs and arrays lists, recursively.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value};

use crate::wkb;

/// Properties that hold datetimes: stored as timestamps, not strings (STAC common metadata
/// and the timestamps extension).
pub const DATETIME_PROPERTIES: [&str; 8] = [
    "datetime",
    "start_datetime",
    "end_datetime",
    "created",
    "updated",
    "expires",
    "published",
    "unpublished",
];

/// Top-level item fields, in the column order they are written; properties follow.
const TOP_LEVEL: [&str; 9] = [
    "type",
    "stac_version",
    "stac_extensions",
    "id",
    "geometry",
    "bbox",
    "collection",
    "links",
    "assets",
];

/// An item that does not fit the file's schema, or is not a valid item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ColumnsError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, ColumnsError> {
    Err(ColumnsError(msg.into()))
}

/// The JSON shape of a value, merged over many values.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Time,
    List(Box<Shape>),
    Struct(Vec<(String, Shape)>),
}

impl Shape {
    fn of(v: &Value) -> Result<Shape, String> {
        Ok(match v {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Bool,
            Value::Number(n) if n.is_i64() => Shape::Int,
            Value::Number(_) => Shape::Float,
            Value::String(_) => Shape::Str,
            Value::Array(a) => {
                let mut s = Shape::Null;
                for e in a {
                    s = s.merge(Shape::of(e)?)?;
                }
                Shape::List(Box::new(s))
            }
            Value::Object(m) => Shape::Struct(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), Shape::of(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    fn merge(self, other: Shape) -> Result<Shape, String> {
        Ok(match (self, other) {
            (Shape::Null, s) | (s, Shape::Null) => s,
            (Shape::Int, Shape::Float) | (Shape::Float, Shape::Int) => Shape::Float,
            (Shape::Time, Shape::Str) | (Shape::Str, Shape::Time) => Shape::Time,
            (Shape::List(a), Shape::List(b)) => Shape::List(Box::new(a.merge(*b)?)),
            (Shape::Struct(mut a), Shape::Struct(b)) => {
                for (k, s) in b {
                    match a.iter_mut().find(|(n, _)| *n == k) {
                        Some((_, t)) => {
                            let old = std::mem::replace(t, Shape::Null);
                            *t = old.merge(s).map_err(|e| format!("{k}: {e}"))?;
                        }
                        None => a.push((k, s)),
                    }
                }
                Shape::Struct(a)
            }
            (a, b) if a == b => a,
            (a, b) => return Err(format!("{a:?} in one item, {b:?} in another")),
        })
    }

    /// The Arrow type; `None` for what Parquet cannot hold (a struct without fields, at any
    /// depth), whose column is then left out.
    fn data_type(&self) -> Option<DataType> {
        Some(match self {
            // A column that is null in every template item: text.
            Shape::Null | Shape::Str => DataType::Utf8,
            Shape::Bool => DataType::Boolean,
            Shape::Int => DataType::Int64,
            Shape::Float => DataType::Float64,
            Shape::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Shape::List(e) => DataType::List(Arc::new(Field::new("item", e.data_type()?, true))),
            Shape::Struct(fields) => {
                let fields: Vec<Field> = fields
                    .iter()
                    .filter_map(|(k, s)| Some(Field::new(k, s.data_type()?, true)))
                    .collect();
                if fields.is_empty() {
                    return None;
                }
                DataType::Struct(Fields::from(fields))
            }
        })
    }
}

/// The columns of one file: its Arrow schema and how items become rows.
#[derive(Debug, Clone)]
pub struct Columns {
    schema: SchemaRef,
    /// Width of the bbox struct: 4 or 6.
    bbox_dims: usize,
    /// Geometry types seen so far (for the `geo` metadata).
    geometry_types: BTreeSet<String>,
}

/// An item split into its columns: geometry and bbox apart, everything else in one flat map
/// (top-level fields and lifted properties).
struct Row {
    geometry: Option<Value>,
    bbox: Option<Value>,
    fields: Map<String, Value>,
}

fn item_id(item: &Value) -> String {
    item.get("id")
        .and_then(Value::as_str)
        .unwrap_or("(no id)")
        .to_owned()
}

fn flatten(item: Value) -> Result<Row, ColumnsError> {
    let id = item_id(&item);
    let Value::Object(mut top) = item else {
        return fail("an item must be a JSON object");
    };
    let geometry = top.remove("geometry").filter(|g| !g.is_null());
    let bbox = top.remove("bbox").filter(|b| !b.is_null());
    match top.remove("properties") {
        Some(Value::Object(props)) => {
            for (k, v) in props {
                if top.contains_key(&k) || k == "geometry" || k == "bbox" || k == "properties" {
                    return fail(format!(
                        "item {id}: property {k:?} collides with a top-level field"
                    ));
                }
                top.insert(k, v);
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => return fail(format!("item {id}: `properties` must be an object")),
    }
    Ok(Row {
        geometry,
        bbox,
        fields: top,
    })
}

impl Columns {
    /// The schema that holds every one of `templates` (at least one item).
    pub fn infer<'a>(templates: impl IntoIterator<Item = &'a Value>) -> Result<Self, ColumnsError> {
        let mut shape = Shape::Struct(Vec::new());
        let mut bbox_dims = 4;
        let mut any = false;
        for item in templates {
            any = true;
            let row = flatten(item.clone())?;
            if let Some(b) = row.bbox.as_ref().and_then(Value::as_array) {
                bbox_dims = bbox_dims.max(b.len());
            }
            let mut s = Shape::of(&Value::Object(row.fields))
                .map_err(|e| ColumnsError(format!("item {}: {e}", item_id(item))))?;
            if let Shape::Struct(fields) = &mut s {
                for (k, f) in fields.iter_mut() {
                    if DATETIME_PROPERTIES.contains(&k.as_str()) && matches!(f, Shape::Str) {
                        *f = Shape::Time;
                    }
                }
            }
            shape = shape
                .merge(s)
                .map_err(|e| ColumnsError(format!("items disagree on a field: {e}")))?;
        }
        if !any {
            return fail("no template item to take the schema from");
        }
        if bbox_dims != 4 && bbox_dims != 6 {
            return fail(format!("a bbox has {bbox_dims} values (4 or 6 expected)"));
        }
        let Shape::Struct(mut fields) = shape else {
            return fail("items must be objects");
        };
        for (k, f) in fields.iter_mut() {
            if DATETIME_PROPERTIES.contains(&k.as_str()) && matches!(f, Shape::Null) {
                *f = Shape::Time;
            }
        }
        // Known top-level fields first, in the specification's order, then the properties
        // (alphabetical: the JSON maps are sorted).
        let mut out: Vec<Field> = Vec::new();
        for name in TOP_LEVEL {
            match name {
                "geometry" => out.push(Field::new("geometry", DataType::Binary, true)),
                "bbox" => out.push(Field::new(
                    "bbox",
                    DataType::Struct(bbox_fields(bbox_dims)),
                    true,
                )),
                _ => {
                    if let Some(pos) = fields.iter().position(|(k, _)| k == name) {
                        let (k, s) = fields.remove(pos);
                        if let Some(dt) = s.data_type() {
                            out.push(Field::new(k, dt, true));
                        }
                    }
                }
            }
        }
        for (k, s) in fields {
            if let Some(dt) = s.data_type() {
                out.push(Field::new(k, dt, true));
            }
        }
        Ok(Self {
            schema: Arc::new(Schema::new(out)),
            bbox_dims,
            geometry_types: BTreeSet::new(),
        })
    }

    /// The Arrow schema of the file.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Width of the bbox struct: 4, or 6 for 3D boxes.
    pub fn bbox_dims(&self) -> usize {
        self.bbox_dims
    }

    /// The geometry types of the items converted so far, e.g. `["Polygon"]`.
    pub fn geometry_types(&self) -> Vec<String> {
        self.geometry_types.iter().cloned().collect()
    }

    /// One record batch of `items`.
    pub fn batch(&mut self, items: Vec<Value>) -> Result<RecordBatch, ColumnsError> {
        let ids: Vec<String> = items.iter().map(item_id).collect();
        let rows = items
            .into_iter()
            .map(flatten)
            .collect::<Result<Vec<_>, _>>()?;
        // Every field of every row must have a column.
        for (row, id) in rows.iter().zip(&ids) {
            for k in row.fields.keys() {
                if self.schema.field_with_name(k).is_err() {
                    return fail(format!(
                        "item {id}: field {k:?} is not in the file's schema (inferred from the \
                         encoder's template item)"
                    ));
                }
            }
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        let schema = self.schema.clone();
        for field in schema.fields().iter() {
            let col = match field.name().as_str() {
                "geometry" => self.geometry_column(&rows, &ids)?,
                "bbox" => self.bbox_column(&rows, &ids)?,
                name => {
                    let vals: Vec<Option<&Value>> =
                        rows.iter().map(|r| r.fields.get(name)).collect();
                    build(field.data_type(), &vals, name, &ids)?
                }
            };
            columns.push(col);
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| ColumnsError(format!("cannot assemble a record batch: {e}")))
    }

    fn geometry_column(&mut self, rows: &[Row], ids: &[String]) -> Result<ArrayRef, ColumnsError> {
        let mut b = BinaryBuilder::with_capacity(rows.len(), rows.len() * 100);
        for (row, id) in rows.iter().zip(ids) {
            match &row.geometry {
                None => b.append_null(),
                Some(g) => {
                    let (bytes, kind) = wkb::from_geojson(g)
                        .map_err(|e| ColumnsError(format!("item {id}: geometry: {e}")))?;
                    if !self.geometry_types.contains(&kind) {
                        self.geometry_types.insert(kind);
                    }
                    b.append_value(bytes);
                }
            }
        }
        Ok(Arc::new(b.finish()))
    }

    fn bbox_column(&self, rows: &[Row], ids: &[String]) -> Result<ArrayRef, ColumnsError> {
        let n = self.bbox_dims;
        let mut coords: Vec<Float64Builder> = (0..n)
            .map(|_| Float64Builder::with_capacity(rows.len()))
            .collect();
        let mut valid = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(ids) {
            match &row.bbox {
                None => {
                    valid.push(false);
                    coords.iter_mut().for_each(|c| c.append_null());
                }
                Some(b) => {
                    let vals: Option<Vec<f64>> = b
                        .as_array()
                        .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
                        .unwrap_or(None);
                    let Some(vals) = vals.filter(|v| v.len() == n) else {
                        return fail(format!("item {id}: bbox must be {n} numbers"));
                    };
                    // JSON order is [xmin, ymin, (zmin,) xmax, ymax, (zmax)]; the struct's is
                    // xmin, ymin, (zmin,) xmax, ymax, (zmax): the same.
                    valid.push(true);
                    for (c, v) in coords.iter_mut().zip(vals) {
                        c.append_value(v);
                    }
                }
            }
        }
        let children: Vec<ArrayRef> = coords
            .into_iter()
            .map(|mut c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        let s = StructArray::try_new(bbox_fields(n), children, Some(NullBuffer::from(valid)))
            .map_err(|e| ColumnsError(format!("bbox column: {e}")))?;
        Ok(Arc::new(s))
    }
}

fn bbox_fields(dims: usize) -> Fields {
    let names: &[&str] = if dims == 6 {
        &["xmin", "ymin", "zmin", "xmax", "ymax", "zmax"]
    } else {
        &["xmin", "ymin", "xmax", "ymax"]
    };
    Fields::from(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true))
            .collect::<Vec<_>>(),
    )
}

/// One column of `dt` from the values at `path` of each row (`None`: absent).
fn build(
    dt: &DataType,
    vals: &[Option<&Value>],
    path: &str,
    ids: &[String],
) -> Result<ArrayRef, ColumnsError> {
    fn present<'v>(v: &Option<&'v Value>) -> Option<&'v Value> {
        v.filter(|v| !v.is_null())
    }
    let mismatch = |i: usize, want: &str| {
        ColumnsError(format!(
            "item {}: {path} is not {want}",
            ids.get(i).map(String::as_str).unwrap_or("?")
        ))
    };
    Ok(match dt {
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(vals.len(), vals.len() * 16);
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.as_str().ok_or_else(|| mismatch(i, "a string"))?),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.as_bool().ok_or_else(|| mismatch(i, "a boolean"))?),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.as_i64().ok_or_else(|| mismatch(i, "an integer"))?),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.as_f64().ok_or_else(|| mismatch(i, "a number"))?),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => b.append_null(),
                    Some(v) => {
                        let t = v
                            .as_str()
                            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                            .ok_or_else(|| mismatch(i, "an RFC 3339 datetime"))?;
                        b.append_value(t.timestamp_micros());
                    }
                }
            }
            let a = b.finish();
            Arc::new(match tz {
                Some(tz) => a.with_timezone(tz.clone()),
                None => a,
            })
        }
        DataType::List(item) => {
            let mut offsets: Vec<i32> = Vec::with_capacity(vals.len() + 1);
            offsets.push(0);
            let mut valid = Vec::with_capacity(vals.len());
            let mut children: Vec<Option<&Value>> = Vec::new();
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => valid.push(false),
                    Some(v) => {
                        let a = v.as_array().ok_or_else(|| mismatch(i, "an array"))?;
                        children.extend(a.iter().map(Some));
                        valid.push(true);
                    }
                }
                let end = i32::try_from(children.len())
                    .map_err(|_| ColumnsError(format!("{path}: too many list values")))?;
                offsets.push(end);
            }
            // Child values do not map to one row each: name the item of a bad child by
            // position only through the path.
            let child_ids = vec![String::from("(list element)"); children.len()];
            let child = build(
                item.data_type(),
                &children,
                &format!("{path}[]"),
                &child_ids,
            )?;
            let a = ListArray::try_new(
                item.clone(),
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                child,
                Some(NullBuffer::from(valid)),
            )
            .map_err(|e| ColumnsError(format!("{path}: {e}")))?;
            Arc::new(a)
        }
        DataType::Struct(fields) => {
            let mut valid = Vec::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match present(v) {
                    None => valid.push(false),
                    Some(v) => {
                        let m = v.as_object().ok_or_else(|| mismatch(i, "an object"))?;
                        if let Some(k) = m.keys().find(|k| fields.find(k).is_none()) {
                            return Err(mismatch(
                                i,
                                &format!("an object without {k:?} (not in the schema)"),
                            ));
                        }
                        valid.push(true);
                    }
                }
            }
            let mut children = Vec::with_capacity(fields.len());
            for f in fields.iter() {
                let sub: Vec<Option<&Value>> = vals
                    .iter()
                    .map(|v| present(v).and_then(|o| o.get(f.name())))
                    .collect();
                children.push(build(
                    f.data_type(),
                    &sub,
                    &format!("{path}.{}", f.name()),
                    ids,
                )?);
            }
            let a = StructArray::try_new(fields.clone(), children, Some(NullBuffer::from(valid)))
                .map_err(|e| ColumnsError(format!("{path}: {e}")))?;
            Arc::new(a)
        }
        other => return fail(format!("{path}: no conversion to {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    use serde_json::json;

    fn item(id: &str, size: Option<i64>) -> Value {
        let mut props = json!({
            "datetime": "2019-08-30T17:13:00Z",
            "start_datetime": "2019-08-30T17:13:00Z",
            "end_datetime": "2019-08-30T17:18:00Z",
        });
        if let Some(s) = size {
            props["file:size"] = json!(s);
        }
        json!({
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/file/v2.1.0/schema.json"],
            "id": id,
            "collection": "c",
            "geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]},
            "bbox": [0.0, 0.0, 1.0, 1.0],
            "properties": props,
            "links": [{"rel": "self", "href": "http://x/items/a", "type": "application/geo+json"}],
            "assets": {
                "data": {"href": "http://x/a.nc", "type": "application/netcdf", "roles": ["data"]},
                "opendap": {"href": "http://x/dodsC/a.nc", "roles": ["data"]}
            }
        })
    }

    #[test]
    fn layout_follows_the_specification() {
        let mut cols = Columns::infer([&item("a", Some(5))]).expect("infer");
        let names: Vec<&str> = cols
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            [
                "type",
                "stac_version",
                "stac_extensions",
                "id",
                "geometry",
                "bbox",
                "collection",
                "links",
                "assets",
                "datetime",
                "end_datetime",
                "file:size",
                "start_datetime"
            ]
        );
        let dt = |n: &str| {
            cols.schema()
                .field_with_name(n)
                .expect(n)
                .data_type()
                .clone()
        };
        assert_eq!(
            dt("datetime"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(dt("geometry"), DataType::Binary);
        assert_eq!(dt("file:size"), DataType::Int64);
        assert!(
            matches!(dt("bbox"), DataType::Struct(f) if f.len() == 4 && f[0].name() == "xmin" && f[3].name() == "ymax")
        );
        assert!(matches!(dt("assets"), DataType::Struct(f) if f.len() == 2));
        assert!(matches!(dt("links"), DataType::List(_)));

        let batch = cols
            .batch(vec![item("a", Some(5)), item("b", None)])
            .expect("batch");
        assert_eq!(batch.num_rows(), 2);
        let t = batch
            .column_by_name("datetime")
            .expect("datetime")
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_567_185_180_000_000);
        let size = batch
            .column_by_name("file:size")
            .expect("size")
            .as_primitive::<Int64Type>();
        assert_eq!((size.value(0), size.is_null(1)), (5, true));
        let geom = batch
            .column_by_name("geometry")
            .expect("geometry")
            .as_binary::<i32>();
        assert_eq!(
            wkb::to_geojson(geom.value(1)).expect("wkb"),
            item("b", None)["geometry"]
        );
        assert_eq!(cols.geometry_types(), ["Polygon"]);
    }

    #[test]
    fn an_item_that_does_not_fit_is_an_error_naming_it() {
        let mut cols = Columns::infer([&item("a", None)]).expect("infer");
        let err = cols
            .batch(vec![item("b", Some(3))])
            .expect_err("file:size is not in the schema");
        assert!(
            err.0.contains("item b") && err.0.contains("file:size"),
            "{err}"
        );

        let mut odd = item("c", None);
        odd["assets"]["data"]["roles"] = json!("data");
        let err = cols.batch(vec![odd]).expect_err("roles must be a list");
        assert!(
            err.0.contains("item c") && err.0.contains("assets.data.roles"),
            "{err}"
        );

        let mut clash = item("d", None);
        clash["properties"]["id"] = json!("x");
        assert!(Columns::infer([&clash]).is_err());

        let mut bad_time = item("e", None);
        bad_time["properties"]["datetime"] = json!("yesterday");
        assert!(cols.batch(vec![bad_time]).is_err());
    }

    #[test]
    fn items_without_footprint_have_null_geometry_and_bbox() {
        let mut a = item("a", None);
        a["geometry"] = Value::Null;
        a.as_object_mut().expect("object").remove("bbox");
        let mut cols = Columns::infer([&a]).expect("infer");
        let batch = cols.batch(vec![a.clone(), item("b", None)]).expect("batch");
        let g = batch.column_by_name("geometry").expect("geometry");
        let b = batch.column_by_name("bbox").expect("bbox");
        assert!(g.is_null(0) && !g.is_null(1));
        assert!(b.is_null(0) && !b.is_null(1));
    }

    #[test]
    fn a_null_datetime_is_a_timestamp_column() {
        let mut a = item("a", None);
        a["properties"]["datetime"] = Value::Null;
        let cols = Columns::infer([&a]).expect("infer");
        assert_eq!(
            cols.schema()
                .field_with_name("datetime")
                .expect("datetime")
                .data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }
}
