//! Export from a real (SQLite) store, read the files back with the `parquet` crate's Arrow
//! reader, and compare every row with the item the STAC encoder gives for its granule.

use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value, json};
use threddex_stac_geoparquet::{ExportError, Options, export_collection, wkb};
use threddex_store::prelude::*;
use threddex_store::testsuite::{collection, fetched, granule, new_source, t};
use threddex_store::{
    AccessService, BBox, Batch, Collection, Granule, GranuleIndex, GranuleQuery, Store, StoreError,
    TimelineBucket, TimelineQuery,
};
use threddex_store_sqlite::SqliteStore;

const CATALOG: &str = "http://127.0.0.1:9/thredds/catalog/data/catalog.xml";
const ROOT: &str = "http://example.test/tx/stac";

fn services() -> Vec<AccessService> {
    let s = |name: &str, kind: &str, path: &str| AccessService {
        name: name.into(),
        service_type: kind.into(),
        base: format!("http://127.0.0.1:9/thredds/{path}/"),
        suffix: String::new(),
    };
    vec![
        s("HTTPServer", "HTTPServer", "fileServer"),
        s("odap", "OpenDAP", "dodsC"),
    ]
}

/// A store with four collections: `boxed` (a footprint; granules with and without end,
/// size and start), `nobox` (no declared coverage), `pacific` (a box across the
/// antimeridian) and `late` (fields that only later granules have).
async fn store() -> SqliteStore {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("store");
    let src = store
        .add_source(&new_source("s", "http://127.0.0.1:9/thredds/catalog.xml"))
        .await
        .expect("source");
    let mut boxed = collection("t:boxed", src.id, CATALOG);
    boxed.services = services();
    let mut nobox = collection("t:nobox", src.id, CATALOG);
    nobox.services = services();
    nobox.bbox = None;
    let mut pacific = collection("t:pacific", src.id, CATALOG);
    pacific.services = services();
    pacific.bbox = Some(BBox {
        west: 170.0,
        south: -10.0,
        east: -170.0,
        north: 10.0,
    });
    let mut granules = Vec::new();
    for i in 0..30i64 {
        let mut g = granule(
            "t:boxed",
            &format!("boxed/f_{i:03}.nc"),
            CATALOG,
            Some(t(i * 600)),
        );
        if i % 3 == 0 {
            g.end = Some(t(i * 600 + 300));
        }
        if i % 4 == 0 {
            g.size = None;
        }
        if i == 29 {
            g.start = None;
        }
        granules.push(g);
    }
    for i in 0..3i64 {
        granules.push(granule(
            "t:nobox",
            &format!("nobox/f_{i}.grib2"),
            CATALOG,
            Some(t(i * 3600)),
        ));
    }
    for i in 0..2i64 {
        granules.push(granule(
            "t:pacific",
            &format!("pacific/f_{i}.nc"),
            CATALOG,
            Some(t(i)),
        ));
    }
    // `late`: the first granules have neither end nor size, the last ones both.
    let mut late = collection("t:late", src.id, CATALOG);
    late.services = services();
    for i in 0..6i64 {
        let mut g = granule(
            "t:late",
            &format!("late/f_{i}.nc"),
            CATALOG,
            Some(t(i * 60)),
        );
        if i < 4 {
            g.size = None;
        } else {
            g.end = Some(t(i * 60 + 30));
        }
        granules.push(g);
    }
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(CATALOG, src.id, None, 0)],
            collections: vec![boxed, nobox, pacific, late],
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    store
        .refresh_collection_stats(&[
            "t:boxed".into(),
            "t:nobox".into(),
            "t:pacific".into(),
            "t:late".into(),
        ])
        .await
        .expect("stats");
    store
}

async fn get(store: &dyn Store, id: &str) -> Collection {
    store
        .collection(id)
        .await
        .expect("read")
        .expect("collection")
}

async fn all(store: &dyn Store, id: &str) -> Vec<Granule> {
    store
        .list_granules(&GranuleQuery {
            collection_id: id.into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .expect("granules")
}

/// One cell as JSON: timestamps as the encoder writes them, WKB as GeoJSON, nulls inside
/// structs dropped (JSON items leave absent fields out).
fn cell(col: &ArrayRef, i: usize) -> Value {
    if col.is_null(i) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Utf8 => json!(col.as_string::<i32>().value(i)),
        DataType::Int64 => json!(col.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => json!(col.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => json!(col.as_boolean().value(i)),
        DataType::Binary => wkb::to_geojson(col.as_binary::<i32>().value(i)).expect("WKB"),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let us = col.as_primitive::<TimestampMicrosecondType>().value(i);
            json!(threddex_stac::time(
                chrono::DateTime::from_timestamp_micros(us).expect("time")
            ))
        }
        DataType::List(_) => {
            let v = col.as_list::<i32>().value(i);
            Value::Array((0..v.len()).map(|j| cell(&v, j)).collect())
        }
        DataType::Struct(fields) => {
            let s = col.as_struct();
            let mut m = Map::new();
            for (f, c) in fields.iter().zip(s.columns()) {
                let v = cell(c, i);
                if !v.is_null() {
                    m.insert(f.name().clone(), v);
                }
            }
            Value::Object(m)
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// Rows back into STAC items, as a stac-geoparquet reader does: non-item columns into
/// `properties`, the bbox struct into an array.
fn items(batches: &[RecordBatch]) -> Vec<Value> {
    const TOP: [&str; 9] = [
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
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let mut item = Map::new();
            let mut props = Map::new();
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                let v = cell(c, i);
                let name = f.name().as_str();
                match name {
                    "bbox" => {
                        if let Value::Object(m) = v {
                            let xs = ["xmin", "ymin", "xmax", "ymax"].map(|k| m[k].clone());
                            item.insert("bbox".into(), Value::Array(xs.to_vec()));
                        }
                    }
                    "geometry" => {
                        item.insert("geometry".into(), v);
                    }
                    _ if TOP.contains(&name) => {
                        if !v.is_null() {
                            item.insert(name.into(), v);
                        }
                    }
                    // `datetime` is required: null when unknown.
                    "datetime" => {
                        props.insert(name.into(), v);
                    }
                    _ => {
                        if !v.is_null() {
                            props.insert(name.into(), v);
                        }
                    }
                }
            }
            item.insert("properties".into(), Value::Object(props));
            out.push(Value::Object(item));
        }
    }
    out
}

struct Read {
    batches: Vec<RecordBatch>,
    metadata: std::collections::HashMap<String, Value>,
    row_group_rows: Vec<i64>,
}

fn read(path: &Path) -> Read {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open"))
        .expect("a Parquet file");
    let meta = builder.metadata().clone();
    let metadata = meta
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .map(|kv| {
            let v = kv.value.as_deref().unwrap_or("null");
            (kv.key.clone(), serde_json::from_str(v).expect("JSON"))
        })
        .collect();
    let row_group_rows = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    let batches = builder
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches");
    Read {
        batches,
        metadata,
        row_group_rows,
    }
}

fn encoder_items(c: &Collection, granules: &[Granule]) -> Vec<Value> {
    let ctx = threddex_stac::ItemContext::of(ROOT, c);
    granules
        .iter()
        .map(|g| threddex_stac::item(g, &ctx))
        .collect()
}

#[tokio::test]
async fn files_read_back_into_the_items_the_encoder_gives() {
    let store = store().await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (id, types) in [
        ("t:boxed", vec!["Polygon"]),
        ("t:nobox", vec![]),
        ("t:pacific", vec!["MultiPolygon"]),
    ] {
        let c = get(&store, id).await;
        let collection_json = json!({"type": "Collection", "id": id, "marker": 42});
        let path = dir.path().join(format!("{}.parquet", id.replace(':', "_")));
        let report = export_collection(
            &store,
            ROOT,
            &c,
            &collection_json,
            &path,
            &Options::default(),
        )
        .await
        .expect("export");
        let granules = all(&store, id).await;
        assert_eq!(report.items, granules.len() as u64, "{id}");
        assert_eq!(report.geometry_types, types, "{id}");
        assert!(!threddex_stac_geoparquet_part(&path).exists());

        let back = read(&path);
        // The items, in the store's order, exactly as the encoder gives them.
        assert_eq!(items(&back.batches), encoder_items(&c, &granules), "{id}");

        // Column types of the specification.
        let schema = back.batches[0].schema();
        let ty = |n: &str| schema.field_with_name(n).expect(n).data_type().clone();
        assert_eq!(ty("geometry"), DataType::Binary);
        assert!(
            matches!(ty("datetime"), DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if &*tz == "UTC" || &*tz == "+00:00")
        );
        assert!(
            matches!(ty("bbox"), DataType::Struct(f) if f.iter().map(|f| f.name().as_str()).eq(["xmin", "ymin", "xmax", "ymax"]))
        );
        assert!(matches!(ty("links"), DataType::List(_)));
        assert!(
            matches!(ty("assets"), DataType::Struct(f) if f.find("data").is_some() && f.find("opendap").is_some())
        );

        // File metadata: GeoParquet 1.1 with the bbox covering, and the collection.
        let geo = &back.metadata["geo"];
        assert_eq!(geo["version"], "1.1.0");
        assert_eq!(geo["primary_column"], "geometry");
        let g = &geo["columns"]["geometry"];
        assert_eq!(g["encoding"], "WKB");
        assert_eq!(g["geometry_types"], json!(types));
        assert_eq!(g["covering"]["bbox"]["xmin"], json!(["bbox", "xmin"]));
        assert_eq!(g["covering"]["bbox"]["ymax"], json!(["bbox", "ymax"]));
        let stac = &back.metadata["stac-geoparquet"];
        assert_eq!(stac["version"], "1.1.0");
        assert_eq!(stac["collections"][id], collection_json);
        assert!(!back.metadata.contains_key("ARROW:schema"));
    }
}

fn threddex_stac_geoparquet_part(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    s.into()
}

/// A store that counts the pages asked of it, and fails the page `fail_at` when set.
struct Counting<'a> {
    inner: &'a dyn Store,
    limits: Mutex<Vec<u32>>,
    fail_at: Option<usize>,
}

#[async_trait::async_trait]
impl GranuleIndex for Counting<'_> {
    async fn list_granules(&self, query: &GranuleQuery) -> Result<Vec<Granule>, StoreError> {
        let n = {
            let mut l = self.limits.lock().expect("lock");
            l.push(query.limit);
            l.len()
        };
        if self.fail_at == Some(n) {
            return Err(StoreError::Invalid("disk on fire".into()));
        }
        self.inner.list_granules(query).await
    }

    async fn list_granules_desc(&self, query: &GranuleQuery) -> Result<Vec<Granule>, StoreError> {
        self.inner.list_granules_desc(query).await
    }

    async fn granule_timeline(
        &self,
        query: &TimelineQuery,
    ) -> Result<Vec<TimelineBucket>, StoreError> {
        self.inner.granule_timeline(query).await
    }
}

#[tokio::test]
async fn granules_are_read_in_pages_and_written_in_bounded_batches() {
    let store = store().await;
    let c = get(&store, "t:boxed").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("boxed.parquet");
    let counting = Counting {
        inner: &store,
        limits: Mutex::new(Vec::new()),
        fail_at: None,
    };
    let options = Options {
        batch_rows: 7,
        row_group_rows: 10,
        ..Options::default()
    };
    let report = export_collection(&counting, ROOT, &c, &json!({}), &path, &options)
        .await
        .expect("export");
    // 30 granules: pages of 7, 7, 7, 7, 2, then the empty page that ends the listing; never
    // one query for everything.
    let limits = counting.limits.lock().expect("lock").clone();
    assert_eq!(limits, vec![7; 6]);
    assert_eq!(report.pages, 6);
    assert_eq!(report.items, 30);
    assert_eq!(report.largest_batch, 7);
    let back = read(&path);
    assert_eq!(back.row_group_rows, vec![10, 10, 10]);
    assert_eq!(report.row_groups, 3);
    // Paging loses and repeats nothing.
    assert_eq!(
        items(&back.batches),
        encoder_items(&c, &all(&store, "t:boxed").await)
    );
}

#[tokio::test]
async fn a_failed_export_leaves_no_file() {
    let store = store().await;
    let c = get(&store, "t:boxed").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("boxed.parquet");
    let failing = Counting {
        inner: &store,
        limits: Mutex::new(Vec::new()),
        fail_at: Some(3),
    };
    let options = Options {
        batch_rows: 7,
        ..Options::default()
    };
    let err = export_collection(&failing, ROOT, &c, &json!({}), &path, &options)
        .await
        .expect_err("the third page fails");
    assert!(matches!(err, ExportError::Store { .. }), "{err}");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("invalid: disk on fire"));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "neither the file nor its partial copy remains"
    );

    let missing = dir.path().join("no/such/dir/boxed.parquet");
    let err = export_collection(&store, ROOT, &c, &json!({}), &missing, &options)
        .await
        .expect_err("no directory");
    assert!(matches!(err, ExportError::Io { .. }), "{err}");

    let err = export_collection(
        &store,
        ROOT,
        &c,
        &json!({}),
        &path,
        &Options {
            batch_rows: 0,
            ..Options::default()
        },
    )
    .await
    .expect_err("zero rows per batch");
    assert!(matches!(err, ExportError::Options(_)), "{err}");
}

#[tokio::test]
async fn fields_only_later_pages_have_get_columns_from_the_template_item() {
    let store = store().await;
    let c = get(&store, "t:late").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("late.parquet");
    // The first page (2 granules) has no `end_datetime`, no `file:size` and no extension.
    let options = Options {
        batch_rows: 2,
        ..Options::default()
    };
    let report = export_collection(&store, ROOT, &c, &json!({}), &path, &options)
        .await
        .expect("export");
    assert_eq!(report.items, 6);
    let back = read(&path);
    let schema = back.batches[0].schema();
    assert!(schema.field_with_name("end_datetime").is_ok());
    let granules = all(&store, "t:late").await;
    let items_back = items(&back.batches);
    assert_eq!(items_back, encoder_items(&c, &granules));
    assert_eq!(items_back[5]["assets"]["data"]["file:size"], json!(1000));
    assert_eq!(items_back[0]["stac_extensions"], json!([]));
}
