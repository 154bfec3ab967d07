//! STAC-GeoParquet export: one Parquet file per collection, following the stac-geoparquet
//! specification (radiantearth/stac-geoparquet-spec) on GeoParquet 1.1.
//!
//! * one row per item (granule), the item exactly as [`threddex_stac::item`] gives it, so
//!   the file holds the items the STAC API serves;
//! * `properties` lifted to top-level columns, datetimes as UTC timestamps;
//! * `geometry` as WKB ([`wkb`]), null for items without a footprint; `bbox` as the struct
//!   `{xmin, ymin, xmax, ymax}` declared as the geometry's bbox covering;
//! * file metadata `geo` (GeoParquet 1.1: encoding, the geometry types written, covering;
//!   the CRS is the default OGC:CRS84) and `stac-geoparquet` (version 1.1.0 and the
//!   collection's JSON under `collections`).
//!
//! Memory is bounded whatever the collection's size: granules are read from the store by
//! keyset pages of [`Options::batch_rows`], each page becomes one record batch, and a writer
//! thread encodes batches into row groups of at most [`Options::row_group_rows`] rows (and
//! [`Options::row_group_bytes`]), at most two batches queued between them. A file is written
//! under a temporary name and renamed when complete, so a failed export leaves no file that
//! looks whole.

#![forbid(unsafe_code)]

pub mod columns;
pub mod wkb;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};
use threddex_store::{Collection, Granule, GranuleIndex, GranuleQuery, StoreError};

pub use columns::{Columns, ColumnsError, DATETIME_PROPERTIES};

/// The stac-geoparquet metadata version written (`collections` in the file metadata).
pub const STAC_GEOPARQUET_VERSION: &str = "1.1.0";
/// The GeoParquet version of the `geo` metadata (bbox covering).
pub const GEOPARQUET_VERSION: &str = "1.1.0";
/// File metadata key of the stac-geoparquet metadata.
pub const STAC_GEOPARQUET_KEY: &str = "stac-geoparquet";
/// Media type of a stac-geoparquet file.
pub const MEDIA_TYPE: &str = "application/vnd.apache.parquet";

/// Sizes of the export's units of work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Granules read from the store per page, and rows per record batch.
    pub batch_rows: u32,
    /// Most rows in one Parquet row group.
    pub row_group_rows: usize,
    /// Most (estimated, encoded) bytes in one Parquet row group.
    pub row_group_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_rows: 4096,
            row_group_rows: 65_536,
            row_group_bytes: 64 << 20,
        }
    }
}

/// What could stop an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading granules failed.
    #[error("reading the granules of {collection}")]
    Store {
        /// The collection.
        collection: String,
        /// The store's error.
        source: StoreError,
    },
    /// An item does not fit the file's schema, or is not a valid item.
    #[error("collection {collection}")]
    Item {
        /// The collection.
        collection: String,
        /// What is wrong.
        source: ColumnsError,
    },
    /// Encoding Parquet failed.
    #[error("writing {}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet error.
        source: parquet::errors::ParquetError,
    },
    /// A file could not be created, written or renamed.
    #[error("writing {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Options that cannot work.
    #[error("{0}")]
    Options(String),
    /// The writer thread ended without finishing the file (after another error).
    #[error("export of {} stopped before the end", path.display())]
    Aborted {
        /// The file.
        path: PathBuf,
    },
}

/// What the export of one collection wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The collection.
    pub collection_id: String,
    /// The file written.
    pub path: PathBuf,
    /// Items (rows) written.
    pub items: u64,
    /// Store pages read (each at most [`Options::batch_rows`] granules).
    pub pages: u64,
    /// Rows of the largest record batch written.
    pub largest_batch: usize,
    /// Row groups in the file.
    pub row_groups: usize,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Geometry types of the items (empty when no item has a footprint).
    pub geometry_types: Vec<String>,
}

/// A granule of `collection` with every optional field set: the encoder's item for it has
/// every field an item of this collection can have, so the schema holds them all.
pub fn template_granule(collection: &Collection) -> Granule {
    let start = collection.start.unwrap_or_default();
    Granule {
        collection_id: collection.info.id.clone(),
        granule_id: "template".into(),
        name: "template".into(),
        start: Some(start),
        end: Some(start + chrono::Duration::hours(1)),
        url_path: Some("template".into()),
        size: Some(1),
        modified: Some(start),
        catalog_url: collection.info.catalog_url.clone(),
    }
}

/// The `geo` file metadata (GeoParquet 1.1) for a file with these geometry types.
pub fn geo_metadata(geometry_types: &[String], bbox_dims: usize) -> Value {
    let mut covering = json!({
        "xmin": ["bbox", "xmin"],
        "ymin": ["bbox", "ymin"],
        "xmax": ["bbox", "xmax"],
        "ymax": ["bbox", "ymax"],
    });
    if bbox_dims == 6 {
        covering["zmin"] = json!(["bbox", "zmin"]);
        covering["zmax"] = json!(["bbox", "zmax"]);
    }
    json!({
        "version": GEOPARQUET_VERSION,
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": geometry_types,
                "covering": {"bbox": covering},
            }
        }
    })
}

/// The `stac-geoparquet` file metadata for a file of one collection.
pub fn stac_metadata(collection_id: &str, collection: &Value) -> Value {
    json!({
        "version": STAC_GEOPARQUET_VERSION,
        "collections": {collection_id: collection},
    })
}

enum Msg {
    Batch(arrow_array::RecordBatch),
    Finish(Vec<KeyValue>),
}

/// Exports the items of `collection` into the Parquet file `path`, with `collection_json`
/// (its STAC Collection, [`threddex_stac::collection`]) in the file metadata. Granules are
/// read from `granules` in keyset pages; items link under the STAC root `stac_root`.
pub async fn export_collection(
    granules: &dyn GranuleIndex,
    stac_root: &str,
    collection: &Collection,
    collection_json: &Value,
    path: &Path,
    options: &Options,
) -> Result<FileReport, ExportError> {
    if options.batch_rows == 0 || options.row_group_rows == 0 || options.row_group_bytes == 0 {
        return Err(ExportError::Options(
            "batch and row-group sizes must be positive".into(),
        ));
    }
    let id = collection.info.id.clone();
    let item_err = |source| ExportError::Item {
        collection: id.clone(),
        source,
    };
    let page = |after: Option<(Option<chrono::DateTime<chrono::Utc>>, String)>| GranuleQuery {
        collection_id: id.clone(),
        start: None,
        end: None,
        after,
        limit: options.batch_rows,
    };
    let read = |q: GranuleQuery| async move {
        granules
            .list_granules(&q)
            .await
            .map_err(|source| ExportError::Store {
                collection: collection.info.id.clone(),
                source,
            })
    };

    let mut rows = read(page(None)).await?;
    let mut pages = 1u64;
    let ctx = threddex_stac::ItemContext::of(stac_root, collection);
    let encode = |g: &Granule| threddex_stac::item(g, &ctx);
    let template = encode(&template_granule(collection));
    let mut first: Vec<Value> = rows.iter().map(encode).collect();
    let mut columns =
        Columns::infer(std::iter::once(&template).chain(first.iter())).map_err(item_err)?;

    let tmp = part_path(path);
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(2);
    let writer = {
        let schema = columns.schema().clone();
        let tmp = tmp.clone();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_max_row_group_bytes(Some(options.row_group_bytes))
            .set_created_by(format!("threddex {}", env!("CARGO_PKG_VERSION")))
            .build();
        tokio::task::spawn_blocking(move || write_file(&tmp, schema, props, rx))
    };

    let mut items = 0u64;
    let mut largest = 0usize;
    let produced: Result<(), ExportError> = async {
        loop {
            let n = rows.len();
            if n > 0 {
                let values = if first.is_empty() {
                    rows.iter().map(encode).collect()
                } else {
                    std::mem::take(&mut first)
                };
                let batch = columns.batch(values).map_err(item_err)?;
                items += n as u64;
                largest = largest.max(n);
                if tx.send(Msg::Batch(batch)).await.is_err() {
                    // The writer stopped: its error is reported below.
                    return Ok(());
                }
            }
            // Until an empty page: a backend may answer fewer rows than asked before the end.
            let Some(last) = rows.last() else { break };
            let after = (last.start, last.granule_id.clone());
            rows = read(page(Some(after))).await?;
            pages += 1;
        }
        let geo = geo_metadata(&columns.geometry_types(), columns.bbox_dims());
        let stac = stac_metadata(&id, collection_json);
        let _ = tx
            .send(Msg::Finish(vec![
                KeyValue::new("geo".into(), geo.to_string()),
                KeyValue::new(STAC_GEOPARQUET_KEY.into(), stac.to_string()),
            ]))
            .await;
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer.await.map_err(|e| ExportError::Io {
        path: tmp.clone(),
        source: std::io::Error::other(e),
    })?;
    let outcome = produced.and(written).and_then(|row_groups| {
        std::fs::rename(&tmp, path).map_err(|source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(row_groups)
    });
    let row_groups = match outcome {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(FileReport {
        collection_id: id.clone(),
        path: path.to_path_buf(),
        items,
        pages,
        largest_batch: largest,
        row_groups,
        bytes,
        geometry_types: columns.geometry_types(),
    })
}

/// Where a file is written before it is complete.
fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// The writer thread: batches in, a Parquet file out; the number of row groups.
fn write_file(
    path: &Path,
    schema: arrow_schema::SchemaRef,
    props: WriterProperties,
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
) -> Result<usize, ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let pq = |source| ExportError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    // No embedded Arrow schema: readers then take the schema from the Parquet types and see
    // the `geo` and `stac-geoparquet` metadata, written at the end (when the geometry types
    // are known), as the schema's metadata (pyarrow ignores footer metadata otherwise).
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let mut w = ArrowWriter::try_new_with_options(out, schema, options).map_err(pq)?;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Batch(b) => w.write(&b).map_err(pq)?,
            Msg::Finish(kvs) => {
                for kv in kvs {
                    w.append_key_value_metadata(kv);
                }
                w.flush().map_err(pq)?;
                let row_groups = w.flushed_row_groups().len();
                let mut out = w.into_inner().map_err(pq)?;
                out.flush().map_err(io)?;
                out.get_ref().sync_all().map_err(io)?;
                return Ok(row_groups);
            }
        }
    }
    // The producer stopped early (its error is the one reported).
    Err(ExportError::Aborted {
        path: path.to_path_buf(),
    })
}
